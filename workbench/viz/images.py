"""Images for display: depth and labels as RGB, and small PNG thumbnails of episodes."""

from __future__ import annotations

import numpy as np

from workbench.data.dataset import Dataset

__all__ = ["colorize_depth", "colorize_labels", "episode_thumbnails", "png_data_uri", "LABEL_COLORS"]

LABEL_COLORS = np.array(
    [[40, 40, 40], [230, 85, 13], [49, 130, 189], [116, 196, 118], [158, 154, 200], [253, 174, 107]], dtype=np.uint8
)


def colorize_depth(depth: np.ndarray, *, near: float | None = None, far: float | None = None) -> np.ndarray:
    """``(H, W)`` depth (any unit; 0 = no reading) → ``(H, W, 3)`` uint8, near bright, far dark."""
    d = np.asarray(depth, dtype=np.float64)
    valid = d > 0
    if not valid.any():
        return np.zeros(d.shape + (3,), np.uint8)
    lo = near if near is not None else np.percentile(d[valid], 1)
    hi = far if far is not None else np.percentile(d[valid], 99)
    x = np.clip((d - lo) / max(hi - lo, 1e-9), 0, 1)
    x = 1 - x  # near is bright
    rgb = np.stack([255 * x**0.8, 255 * x**1.6, 255 * (0.3 + 0.7 * x) * x], axis=-1)
    rgb[~valid] = 0
    return rgb.astype(np.uint8)


def colorize_labels(labels: np.ndarray) -> np.ndarray:
    """``(H, W)`` small integer labels → ``(H, W, 3)`` uint8 with a fixed palette."""
    lab = np.asarray(labels).astype(np.int64)
    return LABEL_COLORS[lab % len(LABEL_COLORS)]


def png_data_uri(rgb: np.ndarray, size: int | None = None) -> str:
    """``(H, W, 3)`` uint8 → a ``data:image/png;base64,…`` URI, resized to ``size`` square when given."""
    import base64
    import io

    from PIL import Image

    img = Image.fromarray(np.asarray(rgb, dtype=np.uint8))
    if size is not None:
        img = img.resize((size, size))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def episode_thumbnails(ds: Dataset, camera: str | None = None, size: int = 48) -> dict[int, str]:
    """``{episode: data URI}`` of each episode's first frame of ``camera`` (else its first camera).

    An episode that cannot be read, or has no camera, has no thumbnail; the others still do."""
    out: dict[int, str] = {}
    for info in ds.infos:
        try:
            ep = ds.episode(info.index)
        except Exception:  # a bad episode has no thumbnail; the table still lists it
            continue
        cams = ep.cameras
        if not cams:
            continue
        cam = cams[camera] if camera in cams else next(iter(cams.values()))
        out[info.index] = png_data_uri(cam.rgb[0], size)
    return out
