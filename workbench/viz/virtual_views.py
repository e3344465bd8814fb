"""CLAMP's virtual views and merged point cloud in the Rerun playback (CLAMP §III-B, Fig. 2).

:func:`virtual_camera_streams` turns an episode's virtual views (:mod:`workbench.data.views`) into
ordinary :class:`~workbench.types.CameraStream` objects, one per virtual camera, named
``virtual_<view>``: their ``depth`` is the D channel (uint16 mm, 0 where empty), their ``rgb`` the
X, Y, Z channels shown as colours (red, green, blue across the workspace box; black where empty),
with the view's own intrinsics and camera-to-world pose. :func:`workbench.viz.rerun.log_episode`
(``virtual_views=True``) logs them like recorded cameras — an image and a depth image inside a
frustum that follows the gripper for the wrist views — and :func:`log_scene_cloud` logs the merged,
cropped, voxel-downsampled cloud the views were rendered from at ``world/points/virtual_cloud``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from workbench.data.views import DEFAULT_VIEWS, ViewConfig, episode_views, scene_point_cloud
from workbench.types import CameraSetup, CameraStream, Episode

if TYPE_CHECKING:  # rerun is imported where it logs: the Playback page asks why_no_virtual_views without it (~1 s)
    import rerun as rr

__all__ = ["CLOUD_PATH", "VIRTUAL_PREFIX", "log_scene_cloud", "virtual_camera_streams", "why_no_virtual_views", "xyz_colours"]

VIRTUAL_PREFIX = "virtual_"
CLOUD_PATH = "world/points/virtual_cloud"  # under blueprint.POINTS (a test checks; blueprint imports rerun)


def why_no_virtual_views(episode: Episode) -> str | None:
    """Why ``episode`` cannot show CLAMP's virtual views, or None when it can.

    The views re-render the cloud merged from the recorded depth (CLAMP §III-A); from one scene
    camera that cloud is a single view's shell, and re-rendered from another side it shows mostly
    holes, so at least two scene cameras (any not on the wrist) with depth, intrinsics and extrinsics are
    asked for.
    """
    scene = [c.name for c in episode.cameras.values()
             if c.setup != CameraSetup.WRIST and c.depth is not None and c.intrinsics is not None and c.extrinsics is not None]  # fmt: skip
    if len(scene) >= 2:
        return None
    has = f"only {scene[0]!r} has" if scene else "none of its cameras has"
    return (f"virtual views need depth (with intrinsics and extrinsics) from at least 2 scene cameras, "
            f"and {has} it; one camera's depth is a single shell of the scene, not a cloud to re-render from other sides")  # fmt: skip


def xyz_colours(xyz: np.ndarray, valid: np.ndarray, config: ViewConfig = DEFAULT_VIEWS) -> np.ndarray:
    """``(..., 3)`` world XYZ → ``(..., 3)`` uint8: each axis mapped linearly over the workspace box
    (lo → 0, hi → 255); empty pixels black."""
    lo, hi = np.asarray(config.workspace_lo), np.asarray(config.workspace_hi)
    c = np.clip((np.asarray(xyz, dtype=np.float64) - lo) / (hi - lo), 0.0, 1.0)
    return np.where(np.asarray(valid)[..., None], np.rint(255 * c), 0).astype(np.uint8)


def virtual_camera_streams(
    episode: Episode, *, size: int = 64, wrist: bool = True, config: ViewConfig = DEFAULT_VIEWS, cache: bool = True
) -> list[CameraStream]:
    """One :class:`CameraStream` per virtual view of every step (see the module docstring)."""
    views = episode_views(episode, size=size, wrist=wrist, config=config, cache=cache)
    fixed = {c.name for c in config.fixed}
    out = []
    for i, name in enumerate(views.names):
        dxyz = views.dxyz[:, i].astype(np.float32)  # (T, S, S, 4)
        valid = views.valid[:, i]
        depth_mm = np.where(valid, np.rint(dxyz[..., 0] * 1000.0), 0).clip(0, 65535).astype(np.uint16)
        out.append(CameraStream(
            name=VIRTUAL_PREFIX + name,
            rgb=xyz_colours(dxyz[..., 1:], valid, config),
            depth=depth_mm,
            intrinsics=views.intrinsics[:, i],
            extrinsics=views.cam_to_world[:, i],
            setup=CameraSetup.FIXED if name in fixed else CameraSetup.WRIST,
        ))  # fmt: skip
    return out


def log_scene_cloud(rec: rr.RecordingStream, episode: Episode, *, config: ViewConfig = DEFAULT_VIEWS) -> None:
    """The merged point cloud of every step at :data:`CLOUD_PATH`, coloured like the XYZ images."""
    import rerun as rr

    clouds = [scene_point_cloud(episode, t, config) for t in range(len(episode))]
    lengths = [len(c) for c in clouds]
    pts = np.concatenate(clouds)
    colours = xyz_colours(pts, np.ones(len(pts), bool), config)
    rec.log(CLOUD_PATH, rr.Points3D.from_fields(radii=[-1.5]), static=True)  # negative = UI points
    times = [rr.TimeColumn("frame_index", sequence=np.arange(len(episode))),
             rr.TimeColumn("timestamp", duration=np.asarray(episode.timestamps))]  # fmt: skip
    rec.send_columns(CLOUD_PATH, times, rr.Points3D.columns(positions=pts, colors=colours).partition(lengths))
