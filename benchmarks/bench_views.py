"""CLAMP virtual views: frames/s of a 64-px five-view depth + XYZ frame (CLAMP §III-B, App. C).

One frame = back-project every recorded depth camera, merge, crop to the workspace, voxel-grid
downsample, then z-buffer the cloud into five 64-px views (three fixed, two wrist). Ours
(:func:`workbench.data.views.virtual_views`) against the same pipeline written the obvious numpy
way — ``np.unique(axis=0)`` voxels and an ``np.minimum.at`` z-buffer — which is what a first
implementation looks like (Open3D would add a 400 MB dependency for two small kernels; see
:mod:`workbench.pointcloud`). Both give the same depth images (checked). Frames come from
``data_samples/metaworld`` (every camera with depth).

    python benchmarks/bench_views.py [--frames 60] [--size 64] [--repeat 3]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from workbench.data import load_dataset
from workbench.data.views import DEFAULT_VIEWS, _view_poses, virtual_views
from workbench.geometry import backproject_depth

SAMPLES = Path(__file__).resolve().parents[1] / "data_samples" / "metaworld"


def naive_frame(ep, t: int, size: int) -> np.ndarray:
    """The obvious numpy version of one frame: (V, S, S) depth images."""
    cfg = DEFAULT_VIEWS
    pts = []
    for cam in ep.cameras.values():
        if cam.depth is None:
            continue
        d = cam.depth[t] / 1000.0
        d = np.where(d <= cfg.max_depth, d, 0.0)
        pts.append(backproject_depth(d, cam.intrinsics[t], cam.extrinsics[t]))
    p = np.concatenate(pts)
    p = p[np.all((p >= cfg.workspace_lo) & (p <= cfg.workspace_hi), axis=1)]
    cells = np.floor(p / cfg.voxel).astype(np.int64)
    _, inv, counts = np.unique(cells, axis=0, return_inverse=True, return_counts=True)
    sums = np.zeros((len(counts), 3))
    np.add.at(sums, inv.reshape(-1), p)
    cloud = (sums / counts[:, None]).astype(np.float32)
    _, Ks, Es = _view_poses(ep, t, size, True, cfg)
    out = np.zeros((len(Ks), size, size))
    for i, (K, E) in enumerate(zip(Ks, Es)):
        cam = (cloud - E[:3, 3]) @ E[:3, :3]
        z = cam[:, 2]
        keep = z > 1e-3
        cam, z = cam[keep], z[keep]
        u = np.rint(K[0, 0] * cam[:, 0] / z + K[0, 2]).astype(int)
        v = np.rint(K[1, 1] * cam[:, 1] / z + K[1, 2]).astype(int)
        ok = (u >= 0) & (u < size) & (v >= 0) & (v < size)
        zbuf = np.full(size * size, np.inf)
        np.minimum.at(zbuf, v[ok] * size + u[ok], z[ok])
        out[i] = np.where(np.isfinite(zbuf), zbuf, 0.0).reshape(size, size)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    ds = load_dataset(SAMPLES)
    eps = [ds.episode(i.index) for i in ds.infos[:: max(1, len(ds) // 6)][:6]]
    frames = [(ep, t) for ep in eps for t in np.linspace(0, len(ep) - 1, max(1, args.frames // len(eps))).astype(int)]
    for ep in eps:  # decode depth once, outside the timings
        for cam in ep.cameras.values():
            if cam.depth is not None:
                cam.depth.load()
    cams = [n for n, c in eps[0].cameras.items() if c.depth is not None]
    ours = [virtual_views(ep, t, size=args.size).dxyz[..., 0] for ep, t in frames[:5]]
    naive = [naive_frame(ep, t, args.size) for ep, t in frames[:5]]
    diff = max(float(np.abs(a - b).max()) for a, b in zip(ours, naive))
    rows = []
    for name, fn in (("workbench.data.views", lambda ep, t: virtual_views(ep, t, size=args.size)),
                     ("naive numpy", lambda ep, t: naive_frame(ep, t, args.size))):  # fmt: skip
        times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            for ep, t in frames:
                fn(ep, t)
            times.append(time.perf_counter() - t0)
        rows.append((name, len(frames) / min(times), len(frames) / float(np.median(times))))
    print(f"{len(frames)} frames of {len(eps)} sample episodes, depth cameras {cams}, {args.size} px, 5 views; "
          f"max depth difference ours vs naive: {diff:.2e} m")  # fmt: skip
    print("| implementation | frames/s (best) | frames/s (median) | slower than ours |")
    print("|---|---|---|---|")
    for name, best, med in rows:
        print(f"| {name} | {best:.1f} | {med:.1f} | {rows[0][1] / best:.1f}x |")
    total = sum(i.length for i in ds.infos)
    print(f"precomputing all {total} sample frames at the best rate: {total / rows[0][1]:.0f} s")


if __name__ == "__main__":
    main()
