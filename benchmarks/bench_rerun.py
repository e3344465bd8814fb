"""Rerun logging: wall time and ``.rrd`` size of one episode, JPEG images against raw pixels.

The episode is 100 steps with two 128 px cameras (RGB + uint16 depth) and two 21-joint hands, plus
an end-effector path and a predicted chunk, i.e. every stream :func:`log_episode` writes. Frames
come from ``data_samples/metaworld`` when it exists (tiled/cropped to the size), otherwise from a
render-like synthetic scene (smooth shading, a moving object, smooth depth). Goal: ≤ 1 s, ≤ 3 MB.

    python benchmarks/bench_rerun.py [--steps 100] [--size 128] [--repeat 3] [--frames auto|synthetic|noise]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from workbench.geometry import look_at, make_pose
from workbench.types import CameraStream, Episode, mano_skeleton
from workbench.viz.rerun import save_episode_rrd

SAMPLES = Path(__file__).resolve().parents[1] / "data_samples" / "metaworld"


def _synthetic_frames(T: int, size: int, phase: float) -> tuple[np.ndarray, np.ndarray]:
    """A lit table, a moving sphere-like blob and its depth: what a simulator render looks like."""
    y, x = np.mgrid[0:size, 0:size] / size
    rgb = np.empty((T, size, size, 3), np.uint8)
    depth = np.empty((T, size, size), np.uint16)
    table = 0.55 + 0.35 * y  # floor brightening towards the camera
    for t in range(T):
        cx, cy = 0.5 + 0.3 * np.cos(phase + t / 15), 0.5 + 0.2 * np.sin(phase + t / 11)
        r2 = (x - cx) ** 2 + (y - cy) ** 2
        blob = np.clip(1 - r2 / 0.015, 0, 1)
        shade = np.stack([table * 0.8 + 0.2 * blob, table * 0.7 + 0.1 * blob, table * 0.6 - 0.4 * blob], axis=-1)
        rgb[t] = (255 * np.clip(shade, 0, 1)).astype(np.uint8)
        depth[t] = (1200 - 400 * y - 120 * np.sqrt(blob)).astype(np.uint16)
    return rgb, depth


def _sample_frames(T: int, size: int) -> dict[str, tuple[np.ndarray, np.ndarray | None]] | None:
    if not SAMPLES.exists():
        return None
    from workbench.data import load_dataset

    ds = load_dataset(SAMPLES)
    out: dict[str, tuple[np.ndarray, np.ndarray | None]] = {}
    ep = ds[0]
    for name, cam in list(ep.cameras.items())[:2]:
        rgb = np.asarray(cam.rgb.load())
        reps = -(-T // len(rgb))
        rgb = np.concatenate([rgb] * reps)[:T]
        depth = None if cam.depth is None else np.concatenate([np.asarray(cam.depth.load())] * reps)[:T]
        rgb = _fit(rgb, size)
        depth = None if depth is None else _fit(depth, size)
        out[name] = (rgb, depth)
    return out


def _fit(frames: np.ndarray, size: int) -> np.ndarray:
    """Crop or tile frames to ``size`` × ``size`` (no resampling: the pixels stay real)."""
    h, w = frames.shape[1:3]
    reps = (1, -(-size // h), -(-size // w)) + (1,) * (frames.ndim - 3)
    return np.tile(frames, reps)[:, :size, :size]


def make_episode(T: int = 100, size: int = 128, frames_from: str = "auto") -> tuple[Episode, str]:
    rng = np.random.default_rng(0)
    frames = _sample_frames(T, size) if frames_from == "auto" else None
    source = "data_samples/metaworld" if frames else "synthetic render-like"
    if frames_from == "noise":  # the worst case for every codec: uniform noise
        frames = {
            n: (rng.integers(0, 256, (T, size, size, 3), dtype=np.uint8), rng.integers(0, 3000, (T, size, size), dtype=np.uint16))
            for n in ("scene", "wrist")
        }
        source = "uniform noise (worst case)"
    elif frames is None or any(d is None for _, d in frames.values()):
        frames = {n: _synthetic_frames(T, size, p) for n, p in (("scene", 0.0), ("wrist", 1.3))}
        source = "synthetic render-like"
    K = np.array([[size * 1.2, 0, size / 2], [0, size * 1.2, size / 2], [0, 0, 1]])
    cams = {}
    for c, (name, (rgb, depth)) in enumerate(frames.items()):
        if c == 0:  # fixed
            E = np.broadcast_to(look_at(np.array([1.2, 0.0, 0.9]), np.zeros(3)), (T, 4, 4)).copy()
        else:  # moving
            E = np.stack([look_at(np.array([0.6, 0.3 * np.sin(t / 20), 0.5]), np.zeros(3)) for t in range(T)])
        cams[name] = CameraStream(name, rgb=rgb, depth=depth, intrinsics=np.broadcast_to(K, (T, 3, 3)).copy(), extrinsics=E)
    s = np.linspace(0, 2 * np.pi, T)
    ee = np.stack([0.3 * np.cos(s), 0.3 * np.sin(s), 0.2 + 0.05 * s], axis=1)
    q = rng.normal(size=(T, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    kp_pos = ee[:, None] + 0.05 * rng.normal(size=(T, 42, 3))
    kp = make_pose(np.broadcast_to(np.eye(3), (T, 42, 3, 3)), kp_pos)
    ep = Episode(
        index=0,
        actions=rng.normal(size=(T, 7)).astype(np.float32),
        fps=10.0,
        cameras=cams,
        ee_pos=ee,
        ee_quat=q,
        gripper=rng.random(T),
        hand_keypoints=kp,
        skeleton=mano_skeleton(("left", "right")),
        instruction="push the puck to the goal",
        task="push",
        source="bench",
    )
    return ep, source


def bench(T: int, size: int, repeat: int, frames_from: str = "auto") -> list[tuple[str, float, float]]:
    ep, source = make_episode(T, size, frames_from)
    pred = {"knn": ep.ee_pos[:, None] + np.linspace(0, 0.05, 16)[None, :, None]}
    payload = sum(c.rgb.load().nbytes + c.depth.load().nbytes for c in ep.cameras.values()) / 1e6
    print(f"episode: {T} steps, cameras {list(ep.cameras)} at {size} px with depth, 42 hand joints; frames: {source}")
    print(f"pixels in memory (RGB + depth): {payload:.2f} MB")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, kw in (
            ("jpeg q85 (default)", dict(jpeg_quality=85)),
            ("jpeg q85 + point cloud", dict(jpeg_quality=85, point_cloud=True)),
            ("raw images", dict(jpeg_quality=None)),
        ):
            times = []
            for r in range(repeat):
                path = Path(tmp) / f"{r}.rrd"
                t0 = time.perf_counter()
                save_episode_rrd(ep, path, predicted_chunks=pred, **kw)
                times.append(time.perf_counter() - t0)
            rows.append((label, min(times), path.stat().st_size / 1e6))
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--frames", choices=["auto", "synthetic", "noise"], default="auto", help="auto: the metaworld sample if present")
    a = p.parse_args()
    rows = bench(a.steps, a.size, a.repeat, a.frames)
    print(f"{'images':<24} {'time (s, best)':>14} {'.rrd (MB)':>10}")
    for label, t, mb in rows:
        print(f"{label:<24} {t:>14.3f} {mb:>10.2f}")


if __name__ == "__main__":
    main()
