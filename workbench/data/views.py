"""CLAMP's virtual views: the merged scene point cloud re-rendered as depth + XYZ images from fixed
viewpoints and from cameras attached to the gripper (CLAMP §III-B "Rendering", App. C, Fig. 2).

For step ``t`` of an episode, every recorded camera with depth is back-projected through its
per-step intrinsics and camera-to-world extrinsics, the clouds are merged, cropped to the workspace
box and voxel-downsampled (no colours, §III-B), and the cloud is drawn with a z-buffer from

* fixed virtual cameras — overhead, front-left and back-right by default (§III-B), and
* dynamic *wrist* cameras, posed from the end-effector pose at ``t`` with a small offset in the
  hand frame (§III-B: "defined from the gripper poses, with a small offset for improved
  visibility"). A single arm gets two, on either side of the hand, so a frame has the paper's five
  views.

Each view is ``(S, S, 4)``: camera-frame depth D, then world X, Y, Z, all metres, 0 where no point
landed (``valid`` False). Views tile horizontally into one ``(S, V·S, 4)`` image (App. C).

:func:`episode_views` renders a whole episode and caches it per dataset under a content key
(a hash of the view settings and of every input array), so changing the data or the settings
never returns stale views.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from workbench.atomic import atomic_path
from workbench.geometry import intrinsics_from_fovy, look_at, project_points, quat_to_matrix
from workbench.pointcloud import crop_to_box, merge_depth_clouds, render_points, voxel_downsample
from workbench.types import DataError, Episode

__all__ = [
    "DEFAULT_VIEWS",
    "EpisodeViews",
    "FixedCamera",
    "ViewConfig",
    "VirtualViews",
    "WristCamera",
    "episode_view_images",
    "episode_views",
    "scene_point_cloud",
    "tile_views",
    "view_cache_dir",
    "virtual_views",
]


@dataclass(frozen=True)
class FixedCamera:
    """A virtual camera at a fixed world pose: at ``eye`` looking at ``target``, image-up ≈ ``up``."""

    name: str
    eye: tuple[float, float, float]
    target: tuple[float, float, float]
    up: tuple[float, float, float] = (0.0, 0.0, 1.0)
    fovy: float = 55.0  # vertical field of view, degrees

    def pose(self) -> np.ndarray:
        return look_at(np.asarray(self.eye), np.asarray(self.target), np.asarray(self.up, dtype=np.float64))


@dataclass(frozen=True)
class WristCamera:
    """A virtual camera rigidly attached to the end effector: ``eye``, ``target`` and ``up`` are in
    the hand frame (``ee_pos``, ``ee_quat``) and follow it at every step (§III-B)."""

    name: str
    eye: tuple[float, float, float]
    target: tuple[float, float, float]
    up: tuple[float, float, float]
    fovy: float = 80.0

    def pose(self, ee_pos: npt.ArrayLike, ee_quat: npt.ArrayLike) -> np.ndarray:
        R = quat_to_matrix(np.asarray(ee_quat, dtype=np.float64))
        p = np.asarray(ee_pos, dtype=np.float64)
        return look_at(p + R @ np.asarray(self.eye), p + R @ np.asarray(self.target), R @ np.asarray(self.up))


# metaworld's table: the Sawyer stands at y ≈ 0 facing +y; objects and goals lie in x ∈ [-0.5, 0.5],
# y ∈ [0.35, 0.95] on the table top (z = 0).
_CENTRE = (0.0, 0.65, 0.05)
# The Sawyer hand frame: x points down (world −z), z points forward-right (world +x), y along
# world +y; offsets are in that frame. These put the wrist cameras 12 cm back, 12 cm up and 8 cm to
# each side of the tool-centre point, looking at a spot just below and ahead of the fingers.
_WRIST_LEFT = WristCamera("wrist_left", eye=(-0.12, -0.12, -0.08), target=(0.06, 0.08, 0.0), up=(-1.0, 0.0, 0.0))
_WRIST_RIGHT = WristCamera("wrist_right", eye=(-0.12, -0.12, 0.08), target=(0.06, 0.08, 0.0), up=(-1.0, 0.0, 0.0))


@dataclass(frozen=True)
class ViewConfig:
    """Which virtual cameras to render and how the cloud is made (JSON-able; part of the cache key)."""

    fixed: tuple[FixedCamera, ...] = (
        FixedCamera("overhead", eye=(0.0, 0.65, 1.25), target=(0.0, 0.65, 0.0), up=(0.0, 1.0, 0.0), fovy=50.0),
        FixedCamera("front_left", eye=(-0.75, 0.05, 0.65), target=_CENTRE),
        FixedCamera("back_right", eye=(0.75, 1.25, 0.65), target=_CENTRE),
    )
    wrist: tuple[WristCamera, ...] = (_WRIST_LEFT, _WRIST_RIGHT)
    workspace_lo: tuple[float, float, float] = (-0.6, 0.2, -0.02)  # crop box, world metres
    workspace_hi: tuple[float, float, float] = (0.6, 1.1, 0.6)
    voxel: float = 0.005  # voxel side for downsampling, metres (App. C uses 1 mm at 224 px)
    max_depth: float = 3.0  # readings beyond this (the room behind the table) are dropped
    source_cameras: tuple[str, ...] | None = None  # recorded cameras to merge; None = all with depth

    def __post_init__(self) -> None:
        if not self.voxel > 0:
            raise ValueError(f"ViewConfig.voxel must be positive, got {self.voxel}")
        if any(h <= lo for lo, h in zip(self.workspace_lo, self.workspace_hi)):
            raise ValueError(f"ViewConfig.workspace_lo {self.workspace_lo} must be below workspace_hi {self.workspace_hi}")
        names = [c.name for c in self.fixed] + [c.name for c in self.wrist]
        if len(set(names)) != len(names):
            raise ValueError(f"ViewConfig camera names must be unique, got {names}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def names(self, wrist: bool = True) -> list[str]:
        return [c.name for c in self.fixed] + ([c.name for c in self.wrist] if wrist else [])


DEFAULT_VIEWS = ViewConfig()


@dataclass(frozen=True)
class VirtualViews:
    """The virtual views of one step. ``dxyz`` ``(V, S, S, 4)`` float32: depth then world X, Y, Z;
    ``valid`` ``(V, S, S)``; ``intrinsics`` ``(V, 3, 3)``; ``cam_to_world`` ``(V, 4, 4)`` (OpenCV)."""

    names: list[str]
    dxyz: npt.NDArray[np.float32]
    valid: npt.NDArray[np.bool_]
    intrinsics: npt.NDArray[np.float64]
    cam_to_world: npt.NDArray[np.float64]

    def tiled(self) -> np.ndarray:
        """``(S, V·S, 4)``: the views side by side, as the encoder sees them (App. C)."""
        return tile_views(self.dxyz)

    def pixel_check(self) -> tuple[float, float]:
        """The largest pixel error and depth error when every valid pixel's XYZ is projected back
        through its own view's camera (0.5 px and ~1e-6 m by construction)."""
        px, dz = 0.0, 0.0
        for i in range(len(self.names)):
            v, u = np.nonzero(self.valid[i])
            if len(u) == 0:
                continue
            proj = project_points(self.dxyz[i, v, u, 1:], self.intrinsics[i], self.cam_to_world[i])
            px = max(px, float(np.abs(proj[:, :2] - np.stack([u, v], axis=1)).max()))
            dz = max(dz, float(np.abs(proj[:, 2] - self.dxyz[i, v, u, 0]).max()))
        return px, dz


def tile_views(views: npt.ArrayLike, *, channels: bool = True) -> np.ndarray:
    """Views side by side, left to right (App. C): ``(..., V, S, W, C)`` → ``(..., S, V·W, C)``, or
    without a channel axis (``channels=False``, e.g. validity masks) ``(..., V, S, W)`` → ``(..., S, V·W)``."""
    v = np.asarray(views)
    k = 4 if channels else 3
    if v.ndim < k:
        raise ValueError(f"views must have at least {k} axes ({'..., V, S, W, C' if channels else '..., V, S, W'}), got shape {v.shape}")
    vax = v.ndim - k
    moved = np.moveaxis(v, vax, vax + 1)  # (..., S, V, W[, C])
    s = moved.shape
    return moved.reshape(s[: vax + 1] + (s[vax + 1] * s[vax + 2],) + s[vax + 3 :])


def _where(ep: Episode) -> str:
    return ep.source or "episode"


def scene_point_cloud(ep: Episode, step: int, config: ViewConfig = DEFAULT_VIEWS) -> npt.NDArray[np.float32]:
    """The merged, cropped, voxel-downsampled world point cloud ``(N, 3)`` of step ``step`` (§III-B).

    Raises :class:`DataError` naming the episode and step when no camera has depth with intrinsics
    and extrinsics, or every reading is empty or outside the workspace.
    """
    if not 0 <= step < len(ep):
        raise IndexError(f"step {step} is outside episode {ep.index} (0..{len(ep) - 1})")
    names = config.source_cameras if config.source_cameras is not None else list(ep.cameras)
    depths, Ks, Es = [], [], []
    for n in names:
        cam = ep.cameras.get(n)
        if cam is None:
            raise DataError(_where(ep), f"step {step}: no camera {n!r} to build the point cloud from (has {sorted(ep.cameras)})", episode=ep.index)
        if cam.depth is None or cam.intrinsics is None or cam.extrinsics is None:
            continue
        depths.append(np.asarray(cam.depth[step], dtype=np.float64) / 1000.0)  # uint16 mm → m
        Ks.append(cam.intrinsics[step])
        Es.append(cam.extrinsics[step])
    if not depths:
        raise DataError(_where(ep), f"step {step}: no camera has depth with intrinsics and extrinsics, so there is no "
                        f"point cloud to render virtual views from (cameras: {sorted(ep.cameras)})", episode=ep.index)
    pts = merge_depth_clouds(depths, Ks, Es, max_depth=config.max_depth)
    if len(pts) == 0:
        raise DataError(_where(ep), f"step {step}: every depth reading is empty (0) in cameras {names}", episode=ep.index)
    pts = crop_to_box(pts, config.workspace_lo, config.workspace_hi)
    if len(pts) == 0:
        raise DataError(_where(ep), f"step {step}: no depth point lies inside the workspace box "
                        f"{config.workspace_lo}..{config.workspace_hi}", episode=ep.index)
    return voxel_downsample(pts, config.voxel).astype(np.float32)


def _view_poses(ep: Episode, step: int, size: int, wrist: bool, config: ViewConfig) -> tuple[list[str], np.ndarray, np.ndarray]:
    names, Ks, Es = [], [], []
    for c in config.fixed:
        names.append(c.name)
        Ks.append(intrinsics_from_fovy(c.fovy, size, size))
        Es.append(c.pose())
    if wrist and config.wrist:
        if ep.ee_pos is None or ep.ee_quat is None:
            raise DataError(_where(ep), f"step {step}: wrist views need the end-effector pose, which the episode lacks "
                            "(pass wrist=False)", episode=ep.index)
        for c in config.wrist:
            names.append(c.name)
            Ks.append(intrinsics_from_fovy(c.fovy, size, size))
            Es.append(c.pose(ep.ee_pos[step], ep.ee_quat[step]))
    return names, np.stack(Ks), np.stack(Es)


def virtual_views(
    episode: Episode, step: int, *, size: int = 64, wrist: bool = True, config: ViewConfig = DEFAULT_VIEWS
) -> VirtualViews:
    """The virtual depth + XYZ views of ``episode`` at ``step`` (§III-B), ``size`` pixels square."""
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    cloud = scene_point_cloud(episode, step, config)
    names, Ks, Es = _view_poses(episode, step, size, wrist, config)
    dxyz = np.zeros((len(names), size, size, 4), np.float32)
    valid = np.zeros((len(names), size, size), bool)
    for i in range(len(names)):
        r = render_points(cloud, Ks[i], Es[i], size)
        dxyz[i, ..., 0] = r.depth
        dxyz[i, ..., 1:] = r.xyz
        valid[i] = r.valid
    return VirtualViews(names=names, dxyz=dxyz, valid=valid, intrinsics=Ks, cam_to_world=Es)


# --------------------------------------------------------------------------------------------
# Whole episodes, cached


@dataclass(frozen=True)
class EpisodeViews:
    """Every step's views: ``dxyz`` ``(T, V, S, S, 4)`` float16 (metres; half precision keeps a
    cached episode small — 0.5 mm at 1 m), ``valid`` ``(T, V, S, S)``, ``intrinsics``
    ``(T, V, 3, 3)``, ``cam_to_world`` ``(T, V, 4, 4)``."""

    names: list[str]
    dxyz: npt.NDArray[np.float16]
    valid: npt.NDArray[np.bool_]
    intrinsics: npt.NDArray[np.float64]
    cam_to_world: npt.NDArray[np.float64]
    key: str = field(default="")


def view_cache_dir() -> Path:
    """``$ACTIONLENS_CACHE/views`` or ``~/.cache/actionlens/views``."""
    root = os.environ.get("ACTIONLENS_CACHE")
    return (Path(root) if root else Path.home() / ".cache" / "actionlens") / "views"


def _content_key(ep: Episode, size: int, wrist: bool, config: ViewConfig) -> str:
    h = hashlib.blake2b(digest_size=16)
    h.update(json.dumps({"size": size, "wrist": wrist, "config": config.to_dict(), "T": len(ep)}, sort_keys=True).encode())
    names = config.source_cameras if config.source_cameras is not None else sorted(ep.cameras)
    for n in names:
        cam = ep.cameras.get(n)
        if cam is None or cam.depth is None:
            continue
        h.update(n.encode())
        for a in (cam.depth.load(), cam.intrinsics, cam.extrinsics):
            if a is not None:
                h.update(np.ascontiguousarray(a).tobytes())
    if wrist:
        for a in (ep.ee_pos, ep.ee_quat):
            if a is not None:
                h.update(np.ascontiguousarray(a, dtype=np.float64).tobytes())
    return h.hexdigest()


def episode_views(
    ep: Episode,
    *,
    size: int = 64,
    wrist: bool = True,
    config: ViewConfig = DEFAULT_VIEWS,
    cache: bool = True,
    cache_dir: str | Path | None = None,
) -> EpisodeViews:
    """Virtual views of every step of ``ep``, read from / written to the view cache.

    The cache file is ``<cache_dir>/<key>.npz`` with ``key`` a hash of the settings and of every
    array the views are computed from (depth, intrinsics, extrinsics, end-effector pose): the same
    content gives the same key whatever the dataset's path, and any change gives a new one.
    ``cache_dir`` defaults to :func:`view_cache_dir`. Files are written atomically.
    """
    key = _content_key(ep, size, wrist, config)
    path = Path(cache_dir if cache_dir is not None else view_cache_dir()) / f"{key}.npz"
    if cache and path.is_file():
        try:
            with np.load(path, allow_pickle=False) as z:
                return EpisodeViews(names=[str(n) for n in z["names"]], dxyz=z["dxyz"], valid=z["valid"],
                                    intrinsics=z["intrinsics"], cam_to_world=z["cam_to_world"], key=key)  # fmt: skip
        except (OSError, KeyError, ValueError):
            path.unlink(missing_ok=True)  # a damaged cache entry is recomputed, never trusted
    steps = [virtual_views(ep, t, size=size, wrist=wrist, config=config) for t in range(len(ep))]
    out = EpisodeViews(
        names=steps[0].names,
        dxyz=np.stack([s.dxyz for s in steps]).astype(np.float16),
        valid=np.stack([s.valid for s in steps]),
        intrinsics=np.stack([s.intrinsics for s in steps]),
        cam_to_world=np.stack([s.cam_to_world for s in steps]),
        key=key,
    )
    if cache:
        with atomic_path(path, suffix=".npz") as tmp:
            np.savez(tmp, names=np.asarray(out.names), dxyz=out.dxyz, valid=out.valid,
                     intrinsics=out.intrinsics, cam_to_world=out.cam_to_world)  # fmt: skip
    return out


def episode_view_images(
    ep: Episode, *, size: int = 32, wrist: bool = True, config: ViewConfig = DEFAULT_VIEWS, cache: bool = True
) -> npt.NDArray[np.float16]:
    """``(T, 4, S, V·S)`` float16: every step's views tiled side by side, channels first — what the
    CLAMP image encoder reads (App. C); empty pixels are 0 in all four channels."""
    views = episode_views(ep, size=size, wrist=wrist, config=config, cache=cache)
    return np.ascontiguousarray(np.moveaxis(tile_views(views.dxyz), -1, 1))
