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
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from workbench.atomic import atomic_path
from workbench.paths import cache_root
from workbench.geometry import intrinsics_from_fovy, look_at, project_points, quat_to_matrix
from workbench.pointcloud import crop_to_box, merge_depth_clouds, render_points, voxel_downsample
from workbench.types import DataError, Episode

__all__ = [
    "DEFAULT_VIEWS",
    "DepthFrame",
    "EpisodeViews",
    "FixedCamera",
    "ViewConfig",
    "ViewImages",
    "VirtualViews",
    "WristCamera",
    "cloud_from_depth",
    "depth_sources",
    "episode_view_images",
    "episode_views",
    "scene_point_cloud",
    "tile_views",
    "view_cache_dir",
    "view_image",
    "views_from_depth",
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


def depth_sources(ep: Episode, config: ViewConfig = DEFAULT_VIEWS) -> list[str]:
    """The recorded cameras whose depth makes the merged cloud: ``config.source_cameras`` (each must
    exist) or every camera of ``ep``, in its order, that has depth, intrinsics and extrinsics.
    Closed-loop rollouts render exactly these cameras (:class:`ViewImages`)."""
    names = config.source_cameras if config.source_cameras is not None else list(ep.cameras)
    out = []
    for n in names:
        cam = ep.cameras.get(n)
        if cam is None:
            raise DataError(_where(ep), f"no camera {n!r} to build the point cloud from (has {sorted(ep.cameras)})", episode=ep.index)
        if cam.depth is not None and cam.intrinsics is not None and cam.extrinsics is not None:
            out.append(n)
    return out


class DepthFrame(NamedTuple):
    """One camera's reading at one step: what the merged cloud is built from, in a recorded episode
    or live in a closed-loop rollout (a plain ``(name, depth_mm, intrinsics, extrinsics)`` tuple is
    one too). ``depth_mm`` ``(H, W)`` uint16 millimetres (0 = none, as the datasets store it),
    ``intrinsics`` ``(3, 3)``, ``extrinsics`` ``(4, 4)`` camera-to-world (OpenCV)."""

    name: str
    depth_mm: npt.NDArray[np.uint16]
    intrinsics: npt.NDArray[np.float64]
    extrinsics: npt.NDArray[np.float64]


def _episode_frames(ep: Episode, step: int, config: ViewConfig) -> list[DepthFrame]:
    if not 0 <= step < len(ep):
        raise IndexError(f"step {step} is outside episode {ep.index} (0..{len(ep) - 1})")
    frames = []
    for n in depth_sources(ep, config):
        cam = ep.cameras[n]
        frames.append(DepthFrame(n, cam.depth[step], cam.intrinsics[step], cam.extrinsics[step]))  # type: ignore[index]
    if not frames:
        raise DataError(_where(ep), f"step {step}: no camera has depth with intrinsics and extrinsics, so there is no "
                        f"point cloud to render virtual views from (cameras: {sorted(ep.cameras)})", episode=ep.index)
    return frames


def cloud_from_depth(frames: Sequence[DepthFrame], config: ViewConfig = DEFAULT_VIEWS, *, where: str = "views",
                     episode: int | None = None, step: int = 0) -> npt.NDArray[np.float32]:  # fmt: skip
    """The merged, cropped, voxel-downsampled world cloud ``(N, 3)`` of one step's depth frames
    (§III-B). Raises :class:`DataError` at ``where`` / ``episode`` / ``step`` when there is no
    frame, every reading is empty, or none lies inside the workspace box."""
    if not frames:
        raise DataError(where, f"step {step}: no camera has depth with intrinsics and extrinsics, so there is no "
                        "point cloud to render virtual views from", episode=episode)  # fmt: skip
    frames = [DepthFrame(*f) for f in frames]
    depths = [np.asarray(f.depth_mm, dtype=np.float64) / 1000.0 for f in frames]  # uint16 mm → m
    pts = merge_depth_clouds(depths, [f.intrinsics for f in frames], [f.extrinsics for f in frames], max_depth=config.max_depth)
    names = [f.name for f in frames]
    if len(pts) == 0:
        raise DataError(where, f"step {step}: every depth reading is empty (0) in cameras {names}", episode=episode)
    pts = crop_to_box(pts, config.workspace_lo, config.workspace_hi)
    if len(pts) == 0:
        raise DataError(where, f"step {step}: no depth point lies inside the workspace box "
                        f"{config.workspace_lo}..{config.workspace_hi}", episode=episode)  # fmt: skip
    return voxel_downsample(pts, config.voxel).astype(np.float32)


def scene_point_cloud(ep: Episode, step: int, config: ViewConfig = DEFAULT_VIEWS) -> npt.NDArray[np.float32]:
    """The merged, cropped, voxel-downsampled world point cloud ``(N, 3)`` of step ``step`` (§III-B).

    Raises :class:`DataError` naming the episode and step when no camera has depth with intrinsics
    and extrinsics, or every reading is empty or outside the workspace.
    """
    return cloud_from_depth(_episode_frames(ep, step, config), config, where=_where(ep), episode=ep.index, step=step)


def _view_poses(size: int, wrist: bool, config: ViewConfig, ee_pos: npt.ArrayLike | None, ee_quat: npt.ArrayLike | None,
                where: str, episode: int | None, step: int) -> tuple[list[str], np.ndarray, np.ndarray]:  # fmt: skip
    names, Ks, Es = [], [], []
    for c in config.fixed:
        names.append(c.name)
        Ks.append(intrinsics_from_fovy(c.fovy, size, size))
        Es.append(c.pose())
    if wrist and config.wrist:
        if ee_pos is None or ee_quat is None:
            raise DataError(where, f"step {step}: wrist views need the end-effector pose, which the episode lacks "
                            "(pass wrist=False)", episode=episode)  # fmt: skip
        for c in config.wrist:
            names.append(c.name)
            Ks.append(intrinsics_from_fovy(c.fovy, size, size))
            Es.append(c.pose(ee_pos, ee_quat))
    return names, np.stack(Ks), np.stack(Es)


def views_from_depth(
    frames: Sequence[DepthFrame],
    ee_pos: npt.ArrayLike | None,
    ee_quat: npt.ArrayLike | None,
    *,
    size: int = 64,
    wrist: bool = True,
    config: ViewConfig = DEFAULT_VIEWS,
    where: str = "views",
    episode: int | None = None,
    step: int = 0,
) -> VirtualViews:
    """The virtual depth + XYZ views of one step from its depth frames and end-effector pose
    (§III-B): the one implementation behind :func:`virtual_views` (recorded episodes) and
    :meth:`ViewImages.step_image` (closed-loop rollouts)."""
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    cloud = cloud_from_depth(frames, config, where=where, episode=episode, step=step)
    names, Ks, Es = _view_poses(size, wrist, config, ee_pos, ee_quat, where, episode, step)
    dxyz = np.zeros((len(names), size, size, 4), np.float32)
    valid = np.zeros((len(names), size, size), bool)
    for i in range(len(names)):
        r = render_points(cloud, Ks[i], Es[i], size)
        dxyz[i, ..., 0] = r.depth
        dxyz[i, ..., 1:] = r.xyz
        valid[i] = r.valid
    return VirtualViews(names=names, dxyz=dxyz, valid=valid, intrinsics=Ks, cam_to_world=Es)


def virtual_views(
    episode: Episode, step: int, *, size: int = 64, wrist: bool = True, config: ViewConfig = DEFAULT_VIEWS
) -> VirtualViews:
    """The virtual depth + XYZ views of ``episode`` at ``step`` (§III-B), ``size`` pixels square."""
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    frames = _episode_frames(episode, step, config)
    ee_pos = episode.ee_pos[step] if episode.ee_pos is not None else None
    ee_quat = episode.ee_quat[step] if episode.ee_quat is not None else None
    return views_from_depth(frames, ee_pos, ee_quat, size=size, wrist=wrist, config=config, where=_where(episode),
                            episode=episode.index, step=step)  # fmt: skip


def view_image(dxyz: npt.ArrayLike) -> npt.NDArray[np.float16]:
    """Views ``(..., V, S, S, 4)`` → what the CLAMP image encoder reads, ``(..., 4, S, V·S)``
    float16: tiled side by side (App. C), channels first, empty pixels 0 in every channel."""
    tiled = tile_views(np.asarray(dxyz).astype(np.float16))
    return np.ascontiguousarray(np.moveaxis(tiled, -1, -3))


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
    return cache_root() / "views"


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
    return view_image(episode_views(ep, size=size, wrist=wrist, config=config, cache=cache).dxyz)


@dataclass(frozen=True)
class ViewImages:
    """The encoder input of a depth + XYZ method, for recorded episodes and for live rollouts.

    Called on an episode it is the training samples' ``image_fn`` (:func:`episode_view_images`,
    cached); :meth:`step_image` computes one step from live depth frames through the same
    :func:`views_from_depth` and :func:`view_image`, so a policy in closed loop sees exactly what
    its encoder was trained on. Picklable: rollout workers receive it.
    """

    size: int = 32  # side of each virtual view
    wrist: bool = True  # the dynamic wrist views
    config: ViewConfig = DEFAULT_VIEWS

    def __call__(self, ep: Episode) -> npt.NDArray[np.float16]:
        return episode_view_images(ep, size=self.size, wrist=self.wrist, config=self.config)

    def sources(self, ep: Episode) -> list[str]:
        """The recorded cameras a rollout must render with depth (:func:`depth_sources`)."""
        return depth_sources(ep, self.config)

    def step_image(self, frames: Sequence[DepthFrame], ee_pos: npt.ArrayLike | None, ee_quat: npt.ArrayLike | None, *,
                   where: str = "rollout", step: int = 0) -> npt.NDArray[np.float16]:  # fmt: skip
        """``(4, S, V·S)`` float16 of one step, from its depth frames and end-effector pose."""
        views = views_from_depth(frames, ee_pos, ee_quat, size=self.size, wrist=self.wrist, config=self.config,
                                 where=where, step=step)  # fmt: skip
        return view_image(views.dxyz)
