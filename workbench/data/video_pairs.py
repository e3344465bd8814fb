"""A dataset used as video only: frame pairs ``(o_t, o_{t+H})`` with the actions ignored
(CLAP §III-C2, ``D_hum = {(o_t, o_{t+H})}``).

Any workbench dataset works — the hands sample, or metaworld episodes whose actions are withheld —
so the paper's setting (few labelled robot demonstrations, more unlabelled video) can be built from
the shipped samples. Frames are decoded once and held in memory, resized to the square size the
model sees. Pairs are drawn with torch's global generator, which the training loop seeds per step,
so a stopped and resumed run draws the same pairs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from workbench.types import DataError, Episode

__all__ = ["VideoPairs", "load_video_pairs"]


class VideoPairs:
    """Frames of some episodes of one camera, and random ``(t, t+gap)`` pairs from them.

    Args:
        episodes: the episodes (their actions are never read).
        camera: camera name; None takes each episode's first camera.
        image_size: square side the frames are resized to.
        source: what to name in errors (a dataset path).
    """

    def __init__(self, episodes: Sequence[Episode], camera: str | None, image_size: int, source: str = "episodes") -> None:
        self.frames: list[torch.Tensor] = []  # (T, 3, S, S) uint8 per episode
        self.texts: list[str] = []
        self.episodes: list[int] = []
        for ep in episodes:
            if not ep.cameras:
                raise DataError(f"{source}: episode {ep.index} has no camera to use as video")
            if camera is not None and camera not in ep.cameras:
                raise DataError(f"{source}: episode {ep.index} has no camera {camera!r} (it has {sorted(ep.cameras)})")
            cam = ep.cameras[camera] if camera is not None else next(iter(ep.cameras.values()))
            x = torch.from_numpy(np.array(cam.rgb.load(), copy=True)).permute(0, 3, 1, 2)  # (T, 3, H, W)
            if tuple(x.shape[-2:]) != (image_size, image_size):
                x = F.interpolate(x.float(), size=(image_size, image_size), mode="bilinear", align_corners=False)
                x = x.round().clamp(0, 255).to(torch.uint8)
            self.frames.append(x.contiguous())
            self.texts.append(ep.instruction or ep.task)
            self.episodes.append(ep.index)
        if not self.frames:
            raise DataError(f"{source}: no episodes to use as video")

    def __len__(self) -> int:
        return len(self.frames)

    def sample(self, n: int, gap: int) -> dict[str, object]:
        """``n`` random pairs: ``image``, ``future_image`` (n, 3, S, S) uint8, ``text``, ``episode``.
        The future frame is clamped to the episode's last frame."""
        ep = torch.randint(0, len(self.frames), (n,))
        u = torch.rand(n)
        images, futures, texts = [], [], []
        for e, r in zip(ep.tolist(), u.tolist()):
            frames = self.frames[e]
            t = int(r * len(frames))
            images.append(frames[t])
            futures.append(frames[min(t + gap, len(frames) - 1)])
            texts.append(self.texts[e])
        return {"image": torch.stack(images), "future_image": torch.stack(futures), "text": texts,
                "episode": torch.tensor([self.episodes[e] for e in ep.tolist()])}


def load_video_pairs(path: str | Path, camera: str | None, image_size: int, episodes: Sequence[int] | None = None) -> VideoPairs:
    """The dataset at ``path`` (any layout) as video only; ``episodes`` picks some of them."""
    from workbench.data import load_dataset
    from workbench.data.catalog import resolve_dataset_path

    ds = load_dataset(resolve_dataset_path(str(path)))
    idx = [i.index for i in ds.infos] if episodes is None else list(episodes)
    return VideoPairs([ds.episode(i) for i in idx], camera, image_size, source=str(path))
