"""Scene point clouds from RGB-D cameras and their re-rendering from virtual cameras (CLAMP §III-B
"Rendering", App. C).

Pure numpy, vectorised over pixels and points; no Open3D. Open3D would give the same voxel grid
and a point splatter, but it is a 400 MB wheel with its own OpenGL/threading stack for what here is
an ``np.unique`` and an ``argsort`` — and the z-buffer must return per-pixel world XYZ, which its
renderers do not.

Conventions are those of :mod:`workbench.types`: camera-to-world extrinsics in the OpenCV
convention (x right, y down, z forward), pinhole intrinsics in pixels with integer pixel indices at
pixel centres, depth in metres with 0 = no reading.

Pipeline (§III-B): back-project each camera's depth (:func:`merge_depth_clouds`), crop to the
workspace box (:func:`crop_to_box`), voxel-grid downsample (:func:`voxel_downsample`) — no
colours, following DP3 — then :func:`render_points` draws the cloud from any pinhole camera with a
z-buffer, giving per pixel the camera-frame depth and the world XYZ of the nearest point.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from workbench.geometry import backproject_depth

__all__ = [
    "PointRender",
    "crop_to_box",
    "merge_depth_clouds",
    "render_points",
    "voxel_downsample",
]


def merge_depth_clouds(
    depths: Sequence[npt.ArrayLike],
    intrinsics: Sequence[npt.ArrayLike],
    extrinsics: Sequence[npt.ArrayLike],
    *,
    max_depth: float | None = None,
) -> npt.NDArray[np.float64]:
    """Back-project several cameras' depth maps (metres, 0 = none) into one world cloud ``(N, 3)``.

    Each camera ``i`` contributes ``E_i · (z K_i⁻¹ [u, v, 1]ᵀ)`` for its valid pixels;
    ``max_depth`` drops readings beyond it (the far wall a scene camera sees past the table).
    """
    if not (len(depths) == len(intrinsics) == len(extrinsics)):
        raise ValueError(f"got {len(depths)} depth maps, {len(intrinsics)} intrinsics and {len(extrinsics)} extrinsics")
    clouds = []
    for d, K, E in zip(depths, intrinsics, extrinsics):
        d = np.asarray(d, dtype=np.float64)
        if max_depth is not None:
            d = np.where(d <= max_depth, d, 0.0)
        clouds.append(backproject_depth(d, K, E))
    return np.concatenate(clouds, axis=0) if clouds else np.zeros((0, 3))


def crop_to_box(points: npt.ArrayLike, lo: npt.ArrayLike, hi: npt.ArrayLike) -> np.ndarray:
    """Keep the points inside the axis-aligned box ``lo ≤ p ≤ hi`` (the workspace, §III-B)."""
    p = np.asarray(points)
    lo, hi = np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)
    if lo.shape != (3,) or hi.shape != (3,) or np.any(hi <= lo):
        raise ValueError(f"the box needs lo < hi per axis, got lo={lo.tolist()} hi={hi.tolist()}")
    inside = np.all((p >= lo) & (p <= hi), axis=1)
    return p[inside]


def voxel_downsample(points: npt.ArrayLike, voxel: float, origin: npt.ArrayLike | None = None) -> np.ndarray:
    """One point per occupied voxel of side ``voxel``: the centroid of the points that fall in it.

    Voxels are cells ``floor((p − origin) / voxel)`` (origin = 0 by default, so grids of different
    clouds line up). Output order is the voxels' lexicographic order: deterministic.
    """
    p = np.asarray(points, dtype=np.float64)
    if not voxel > 0:
        raise ValueError(f"voxel must be positive, got {voxel}")
    if len(p) == 0:
        return p.reshape(0, 3)
    o = np.zeros(3) if origin is None else np.asarray(origin, dtype=np.float64)
    cells = np.floor((p - o) / voxel).astype(np.int64)
    # one int64 key per cell (row-major over the cloud's cell range): a 1-D unique is much faster
    # than np.unique(axis=0), and its order is the cells' lexicographic order
    cells -= cells.min(axis=0)
    extent = cells.max(axis=0) + 1
    keys = (cells[:, 0] * extent[1] + cells[:, 1]) * extent[2] + cells[:, 2]
    _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    sums = np.stack([np.bincount(inverse, weights=p[:, i], minlength=len(counts)) for i in range(3)], axis=1)
    return sums / counts[:, None]


@dataclass(frozen=True)
class PointRender:
    """A point cloud drawn from one pinhole camera with a z-buffer.

    ``depth`` ``(H, W)`` is the camera-frame z of the nearest point per pixel (0 where empty),
    ``xyz`` ``(H, W, 3)`` that point's world coordinates (0 where empty), ``valid`` ``(H, W)``.
    """

    depth: npt.NDArray[np.float32]
    xyz: npt.NDArray[np.float32]
    valid: npt.NDArray[np.bool_]


def render_points(
    points: npt.ArrayLike,
    intrinsics: npt.ArrayLike,
    cam_to_world: npt.ArrayLike,
    size: int | tuple[int, int],
    *,
    near: float = 1e-3,
) -> PointRender:
    """Z-buffered splatting of world points into an image of ``size`` (side, or ``(H, W)``).

    Each point in front of the camera (z > ``near``) is projected, ``(u, v) = K · E⁻¹ · p``, and
    lands in the pixel ``(round(v), round(u))``; per pixel the nearest point wins. So for every
    valid pixel, projecting its XYZ through the same camera lands on that pixel (within half a
    pixel) and its camera-frame z equals the depth channel exactly.
    """
    h, w = (size, size) if isinstance(size, int) else size
    p = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    K = np.asarray(intrinsics, dtype=np.float64)
    E = np.asarray(cam_to_world, dtype=np.float64)
    cam = (p - E[:3, 3]) @ E[:3, :3]  # Rᵀ(p − t), row-wise: camera frame
    z = cam[:, 2]
    front = z > near
    p, cam, z = p[front], cam[front], z[front]
    u = np.rint(K[0, 0] * cam[:, 0] / z + K[0, 2]).astype(np.int64)
    v = np.rint(K[1, 1] * cam[:, 1] / z + K[1, 2]).astype(np.int64)
    inside = (u >= 0) & (u < w) & (v >= 0) & (v < h)
    p, z, pix = p[inside], z[inside], (v * w + u)[inside]
    # nearest point per pixel: one sort by pixel, then z — z / (z_max·(1 + 1e-9)) lies in [0, 1), so
    # adding it to the integer pixel index orders by (pixel, z) with ~1e-12 relative z resolution
    # for the ≤ 2²⁰ pixels of a view (a float64 argsort is ~10x faster than np.lexsort); ties are
    # equally near, so the unstable sort still returns the nearest depth
    if len(z):
        order = np.argsort(pix + z / (z.max() * (1.0 + 1e-9)))
        pix, z, p = pix[order], z[order], p[order]
    first = np.ones(len(pix), dtype=bool)
    first[1:] = pix[1:] != pix[:-1]
    pix, z, p = pix[first], z[first], p[first]
    depth = np.zeros(h * w, np.float32)
    xyz = np.zeros((h * w, 3), np.float32)
    valid = np.zeros(h * w, bool)
    depth[pix] = z
    xyz[pix] = p
    valid[pix] = True
    return PointRender(depth.reshape(h, w), xyz.reshape(h, w, 3), valid.reshape(h, w))
