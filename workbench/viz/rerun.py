"""Rerun playback of robot and hand-pose episodes, with predicted action chunks drawn as "worms".

:func:`log_episode` turns one :class:`~workbench.types.Episode` into a Rerun recording: camera
images (JPEG) inside their frusta, depth, an optional point cloud, the end-effector path and pose,
hand skeletons, every action dimension as a plot, the instruction, and — at every step — the next
``H`` positions of the ground truth and of any predicted chunks as 3-D line strips. The recording is
returned unsaved; the caller saves it (:func:`save_episode_rrd`), serves it
(:func:`serve_episode`) or shows it in a notebook (:func:`show_in_notebook`). Where everything goes
in the entity tree is described in :mod:`workbench.viz.blueprint`.

Timelines: ``frame_index`` (sequence, the step) and ``timestamp`` (duration, the episode's seconds).
Per-step streams are sent as whole columns (``send_columns``), which is what keeps a 100-step episode
well under a second; anything that never changes is logged statically, and a camera's pose or
intrinsics only at the steps where they change, so a fixed camera costs one row.

Several episodes are separate recordings (one recording id each) under one application id,
``actionlens``, so the viewer lists them side by side and shares the blueprint; on disk each is its
own ``.rrd`` (:func:`save_episodes_rrd`).

Versions: rerun-sdk is pinned to one minor version (``>=0.41,<0.42`` in pyproject) because a Rerun
viewer opens only recordings written by its own or the previous minor version; open the files with
``rerun`` from the same environment (``pip install rerun-sdk==0.41.*`` elsewhere).
"""

from __future__ import annotations

import io
import socket
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit

import numpy as np
import numpy.typing as npt
import rerun as rr
from PIL import Image

from workbench.geometry import backproject_depth
from workbench.types import CameraSetup, CameraStream, Episode, Skeleton, mano_skeleton
from workbench.viz import blueprint as bp

__all__ = [
    "APPLICATION_ID",
    "GROUND_TRUTH",
    "HandGroup",
    "ServedRecording",
    "hand_groups",
    "log_episode",
    "log_episodes",
    "new_recording",
    "save_episode_rrd",
    "save_episodes_rrd",
    "serve_episode",
    "serve_episodes",
    "episode_rrd_path",
    "show_in_notebook",
]

APPLICATION_ID = "actionlens"
#: Entity name (under ``world/worms``) of the ground-truth chunk.
GROUND_TRUTH = "ground_truth"

# Tableau-10: distinct on both the light and dark viewer backgrounds.
_PALETTE = np.array(
    [
        [78, 121, 167], [242, 142, 43], [225, 87, 89], [118, 183, 178], [89, 161, 79],
        [237, 201, 72], [176, 122, 161], [255, 157, 167], [156, 117, 95], [186, 176, 172],
    ],
    dtype=np.uint8,
)  # fmt: skip
_GT_COLOR = (40, 200, 90)
_EE_COLOR = (220, 220, 220)
_HAND_COLORS = ((66, 135, 245), (245, 96, 66), (170, 170, 170))
_MM_PER_M = 1000.0


# --- recordings ---------------------------------------------------------------------------------


def _recording_name(ep: Episode, name: str | None) -> str:
    return name or ep.source or "episode"


def new_recording(episode: Episode, *, name: str | None = None) -> rr.RecordingStream:
    """An empty recording for ``episode``, with a stable id (``<name>-episode-<index>``).

    The id is deterministic so logging the same episode again replaces it in a running viewer
    instead of adding a copy. Log time and log tick are off: the episode's own timelines are the
    only ones that mean anything, and leaving them out makes files reproducible.
    """
    label = _recording_name(episode, name)
    rec = rr.RecordingStream(APPLICATION_ID, recording_id=f"{label}-episode-{episode.index}")
    rec.set_log_time_enabled(False)
    rec.set_log_tick_enabled(False)
    rec.send_recording_name(f"{label} · episode {episode.index}")
    return rec


def _times(ep: Episode, rows: npt.NDArray[np.int64] | None = None) -> list[rr.TimeColumn]:
    rows = np.arange(len(ep)) if rows is None else rows
    return [
        rr.TimeColumn("frame_index", sequence=rows),
        rr.TimeColumn("timestamp", duration=np.asarray(ep.timestamps)[rows]),
    ]


def _set_time(rec: rr.RecordingStream, ep: Episode, t: int) -> None:
    rec.set_time("frame_index", sequence=t)
    rec.set_time("timestamp", duration=float(ep.timestamps[t]))


def _changed_rows(values: np.ndarray, atol: float = 1e-9) -> npt.NDArray[np.int64]:
    """Steps whose value differs from the previous step's (always step 0)."""
    flat = values.reshape(len(values), -1)
    diff = np.any(np.abs(np.diff(flat, axis=0)) > atol, axis=1)
    return np.concatenate([[0], 1 + np.flatnonzero(diff)]).astype(np.int64)


# --- scene scale --------------------------------------------------------------------------------


def _scene_scale(ep: Episode) -> float:
    """Diagonal of the box holding cameras, end effector and hands: sizes frusta and axes."""
    pts = [c.extrinsics[:, :3, 3] for c in ep.cameras.values() if c.extrinsics is not None]
    if ep.ee_pos is not None:
        pts.append(np.asarray(ep.ee_pos, dtype=np.float64))
    if ep.hand_keypoints is not None:
        pts.append(np.asarray(ep.hand_keypoints)[..., :3, 3].reshape(-1, 3))
    if not pts:
        return 1.0
    p = np.concatenate(pts)
    p = p[np.isfinite(p).all(axis=1)]
    if len(p) == 0:
        return 1.0
    scale = float(np.linalg.norm(p.max(axis=0) - p.min(axis=0)))
    return scale if scale > 1e-6 else 1.0


def _focus_points(ep: Episode, predicted: Mapping[str, np.ndarray]) -> np.ndarray | None:
    """What the 3-D view should frame: the end-effector or wrist path and the worms (not the
    cameras, which sit far away and would make the path tiny)."""
    pts = []
    if ep.ee_pos is not None:
        pts.append(np.asarray(ep.ee_pos, dtype=np.float64).reshape(-1, 3))
    if ep.hand_keypoints is not None:
        pts.append(np.asarray(ep.hand_keypoints, dtype=np.float64)[..., :3, 3].reshape(-1, 3))
    pts += [np.asarray(w, dtype=np.float64).reshape(-1, 3) for w in predicted.values()]
    if not pts:
        return None
    p = np.concatenate(pts)
    p = p[np.isfinite(p).all(axis=1)]
    return p if len(p) else None


# --- cameras ------------------------------------------------------------------------------------


def _jpeg(frame: np.ndarray, quality: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(frame)).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def _log_camera(
    rec: rr.RecordingStream,
    ep: Episode,
    cam: CameraStream,
    *,
    jpeg_quality: int | None,
    point_cloud: bool,
    point_stride: int,
    plane_distance: float,
) -> None:
    path = bp.camera_path(cam.name)
    rgb = np.asarray(cam.rgb.load())  # (T, H, W, 3) uint8
    T, H, W = rgb.shape[:3]

    if cam.extrinsics is not None:
        E = cam.extrinsics  # (T, 4, 4) camera→world, which is Rerun's parent-from-child
        rows = _changed_rows(E)
        if len(rows) == 1:
            rec.log(path, rr.Transform3D(translation=E[0, :3, 3], mat3x3=E[0, :3, :3]), static=True)
        else:
            rec.send_columns(path, _times(ep, rows), rr.Transform3D.columns(translation=E[rows, :3, 3], mat3x3=E[rows, :3, :3]))
    if cam.intrinsics is not None:
        K = cam.intrinsics  # (T, 3, 3)
        rows = _changed_rows(K)
        for t in rows:
            pinhole = rr.Pinhole(
                image_from_camera=K[t],
                resolution=[W, H],
                camera_xyz=rr.ViewCoordinates.RDF,  # OpenCV: x right, y down, z forward
                image_plane_distance=plane_distance,
            )
            if len(rows) == 1:
                rec.log(path, pinhole, static=True)
            else:
                _set_time(rec, ep, int(t))
                rec.log(path, pinhole)

    if jpeg_quality is None:  # raw pixels: the benchmark's baseline
        for t in range(T):
            _set_time(rec, ep, t)
            rec.log(f"{path}/rgb", rr.Image(rgb[t]))
    else:
        blobs = [_jpeg(rgb[t], jpeg_quality) for t in range(T)]
        rec.send_columns(f"{path}/rgb", _times(ep), rr.EncodedImage.columns(blob=blobs, media_type=["image/jpeg"] * T))

    if cam.depth is None:
        return
    depth = np.asarray(cam.depth.load())  # (T, H, W) uint16 mm
    for t in range(T):
        _set_time(rec, ep, t)
        rec.log(f"{path}/depth", rr.DepthImage(depth[t], meter=_MM_PER_M))
    if point_cloud and cam.intrinsics is not None:
        world_path = f"{bp.POINTS}/{cam.name}"
        rec.log(world_path, rr.Points3D.from_fields(radii=[-1.5]), static=True)  # negative = UI points
        for t in range(T):
            d = depth[t].astype(np.float64) / _MM_PER_M
            E_t = cam.extrinsics[t] if cam.extrinsics is not None else None
            pts = backproject_depth(d, cam.intrinsics[t], E_t, stride=point_stride)
            # backproject_depth keeps valid pixels in row-major order; pick the same colours
            colors = rgb[t, ::point_stride, ::point_stride][d[::point_stride, ::point_stride] > 0]
            _set_time(rec, ep, t)
            rec.log(world_path, rr.Points3D(pts, colors=colors))


# --- end effector, hands ------------------------------------------------------------------------


def _log_end_effector(rec: rr.RecordingStream, ep: Episode, axis_length: float) -> None:
    pos = np.asarray(ep.ee_pos, dtype=np.float64)  # (T, 3)
    rec.log(bp.EE_PATH, rr.LineStrips3D([pos], colors=[_EE_COLOR], radii=[-1.0]), static=True)
    rec.log(bp.EE_POSE, rr.TransformAxes3D(axis_length), static=True)
    cols = {"translation": pos}
    if ep.ee_quat is not None:
        cols["quaternion"] = np.asarray(ep.ee_quat, dtype=np.float64)  # xyzw, as Rerun
    rec.send_columns(bp.EE_POSE, _times(ep), rr.Transform3D.columns(**cols))
    if ep.gripper is not None:
        rec.log(bp.GRIPPER, rr.SeriesLines(names="gripper", colors=[(30, 30, 30)]), static=True)
        g = np.asarray(ep.gripper, dtype=np.float64).reshape(len(ep), -1)[:, 0]
        rec.send_columns(bp.GRIPPER, _times(ep), rr.Scalars.columns(scalars=g))


@dataclass(frozen=True)
class HandGroup:
    """One hand of a skeleton: which joints are its, and its bones in its own joint numbering."""

    name: str
    joints: tuple[int, ...]  # indices into the episode's keypoints
    joint_names: tuple[str, ...]  # without the hand prefix
    bones: tuple[tuple[int, int], ...]  # local indices, i.e. keypoint ids
    wrist: int  # local index of the wrist (the worm's anchor)


def hand_groups(skeleton: Skeleton | None, num_joints: int) -> list[HandGroup]:
    """Split a skeleton into hands by the ``left_``/``right_`` joint-name prefix.

    Without a skeleton, 42 joints are taken as two MANO hands and 21 as one; any other skeleton is
    one group. Each group becomes one annotation class, so its keypoint ids restart at 0.
    """
    if skeleton is None:
        if num_joints == 42:
            skeleton = mano_skeleton(("left", "right"))
        elif num_joints == 21:
            skeleton = mano_skeleton(("hand",))
        else:
            skeleton = Skeleton(tuple(f"joint_{k}" for k in range(num_joints)), ())
    if skeleton.num_joints != num_joints:
        raise ValueError(f"skeleton has {skeleton.num_joints} joints but the keypoints have {num_joints}")
    prefixes = [n.split("_", 1)[0] if n.startswith(("left_", "right_")) else "" for n in skeleton.joints]
    names = list(dict.fromkeys(prefixes))
    groups: list[HandGroup] = []
    for hand in names:
        idx = tuple(k for k, p in enumerate(prefixes) if p == hand)
        local = {k: i for i, k in enumerate(idx)}
        short = tuple(skeleton.joints[k][len(hand) + 1 :] if hand else skeleton.joints[k] for k in idx)
        bones = tuple((local[a], local[b]) for a, b in skeleton.bones if a in local and b in local)
        wrist = next((i for i, n in enumerate(short) if n.endswith("wrist")), 0)
        groups.append(HandGroup(hand or "hand", idx, short, bones, wrist))
    return groups


def _wrist_positions(ep: Episode) -> tuple[list[HandGroup], np.ndarray]:
    kp = np.asarray(ep.hand_keypoints)[..., :3, 3]  # (T, K, 3)
    groups = hand_groups(ep.skeleton, kp.shape[1])
    return groups, np.stack([kp[:, g.joints[g.wrist]] for g in groups], axis=1)  # (T, G, 3)


def _log_hands(rec: rr.RecordingStream, ep: Episode) -> None:
    kp = np.asarray(ep.hand_keypoints, dtype=np.float64)[..., :3, 3]  # (T, K, 3)
    T, K = kp.shape[:2]
    groups = hand_groups(ep.skeleton, K)
    classes = []
    class_ids = np.zeros(K, np.uint16)
    keypoint_ids = np.zeros(K, np.uint16)
    for c, g in enumerate(groups):
        color = _HAND_COLORS[min(c, len(_HAND_COLORS) - 1)]
        classes.append(
            rr.ClassDescription(
                info=rr.AnnotationInfo(id=c + 1, label=g.name, color=color),
                keypoint_annotations=[rr.AnnotationInfo(id=i, label=n) for i, n in enumerate(g.joint_names)],
                keypoint_connections=g.bones,
            )
        )
        class_ids[list(g.joints)] = c + 1  # class 0 stays "unlabelled"
        keypoint_ids[list(g.joints)] = np.arange(len(g.joints))
    rec.log(bp.HANDS, rr.AnnotationContext(classes), static=True)

    # Tracking drops out (NaN): send only the joints seen at each step.
    seen = np.isfinite(kp).all(axis=2)  # (T, K)
    cols = rr.Points3D.columns(
        positions=kp[seen],
        class_ids=np.broadcast_to(class_ids, (T, K))[seen],
        keypoint_ids=np.broadcast_to(keypoint_ids, (T, K))[seen],
    ).partition(seen.sum(axis=1))
    rec.send_columns(bp.HAND_KEYPOINTS, _times(ep), cols)
    rec.log(bp.HAND_KEYPOINTS, rr.Points3D.from_fields(radii=[-3.0]), static=True)

    wrists = [kp[:, g.joints[g.wrist]] for g in groups]
    strips = [w[np.isfinite(w).all(axis=1)] for w in wrists]
    colors = [_HAND_COLORS[min(c, len(_HAND_COLORS) - 1)] for c in range(len(groups))]
    rec.log(bp.HAND_PATHS, rr.LineStrips3D(strips, colors=colors, radii=[-1.0]), static=True)


# --- plots and text -----------------------------------------------------------------------------


def _log_actions(rec: rr.RecordingStream, ep: Episode, names: Sequence[str] | None) -> None:
    A = ep.action_dim
    if names is None:
        names = [f"a{j}" for j in range(A)]
    if len(names) != A:
        raise ValueError(f"action_names has {len(names)} names but the actions have {A} dimensions")
    for j, name in enumerate(names):
        path = f"{bp.ACTIONS}/{rr.escape_entity_path_part(str(name))}"
        rec.log(path, rr.SeriesLines(names=str(name), colors=[_PALETTE[j % len(_PALETTE)]]), static=True)
        rec.send_columns(path, _times(ep), rr.Scalars.columns(scalars=ep.actions[:, j].astype(np.float64)))


def _log_text(rec: rr.RecordingStream, ep: Episode) -> None:
    rec.log(bp.INSTRUCTION, rr.TextDocument(ep.instruction or "(no instruction)"), static=True)
    meta = {
        "episode": ep.index,
        "task": ep.task or "-",
        "success": "-" if ep.success is None else str(ep.success).lower(),
        "steps": len(ep),
        "fps": f"{ep.fps:g}",
        "camera setup": ep.camera_setup.value,
        "source": ep.source or "-",
    }
    table = "| | |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in meta.items())
    rec.log(bp.INFO, rr.TextDocument(table, media_type=rr.MediaType.MARKDOWN), static=True)
    # Properties keep their types so a catalog query can filter on them (success == True).
    props: dict[str, object] = {"index": ep.index, "steps": len(ep), "fps": float(ep.fps), "camera_setup": ep.camera_setup.value}
    props.update({k: v for k, v in (("task", ep.task), ("source", ep.source), ("success", ep.success)) if v not in ("", None)})
    rec.send_property("episode", rr.AnyValues(**props))


# --- worms --------------------------------------------------------------------------------------


def _ground_truth_worms(ep: Episode, horizon: int) -> np.ndarray | None:
    """``(T, S, H, 3)``: from each step, that step and the next ``H - 1`` positions (NaN past the end).

    Starting at the current step, as :func:`workbench.data.chunks.ee_chunks` does, so the worm grows
    out of the gripper (or wrist). One strip for the end effector, one per hand otherwise.
    """
    if ep.ee_pos is not None:
        paths = np.asarray(ep.ee_pos, dtype=np.float64)[:, None]  # (T, 1, 3)
    elif ep.hand_keypoints is not None:
        paths = _wrist_positions(ep)[1]  # (T, G, 3)
    else:
        return None
    T = len(paths)
    idx = np.arange(T)[:, None] + np.arange(horizon)[None]  # (T, H)
    worms = paths[np.minimum(idx, T - 1)]  # (T, H, S, 3)
    worms[idx >= T] = np.nan
    return np.moveaxis(worms, 2, 1)  # (T, S, H, 3)


def _as_worms(name: str, chunk: npt.ArrayLike, T: int) -> np.ndarray:
    a = np.asarray(chunk, dtype=np.float64)
    if a.ndim == 3:
        a = a[:, None]
    if a.ndim != 4 or a.shape[0] != T or a.shape[-1] != 3:
        raise ValueError(
            f"predicted chunk {name!r} has shape {a.shape}; expected (T={T}, H, 3) or (T={T}, S, H, 3) world positions"
        )
    return a


def _log_worms(rec: rr.RecordingStream, ep: Episode, path: str, worms: np.ndarray, color: Sequence[int]) -> None:
    T, S = worms.shape[:2]
    strips: list[np.ndarray] = []
    counts = np.zeros(T, np.int64)
    for t in range(T):
        for s in range(S):
            pts = worms[t, s]
            pts = pts[np.isfinite(pts).all(axis=1)]
            if len(pts):
                strips.append(pts)
                counts[t] += 1
    rec.log(path, rr.LineStrips3D.from_fields(colors=[color], radii=[-2.0]), static=True)
    rec.send_columns(path, _times(ep), rr.LineStrips3D.columns(strips=strips).partition(counts))


# --- the public surface -------------------------------------------------------------------------


def log_episode(
    episode: Episode,
    recording: rr.RecordingStream | None = None,
    *,
    predicted_chunks: Mapping[str, npt.ArrayLike] | None = None,
    horizon: int = 16,
    point_cloud: bool = False,
    point_stride: int = 4,
    jpeg_quality: int | None = 85,
    action_names: Sequence[str] | None = None,
    name: str | None = None,
    blueprint: bool = True,
    virtual_views: bool = False,
) -> rr.RecordingStream:
    """Log ``episode`` into ``recording`` (a new one, see :func:`new_recording`, when None).

    ``predicted_chunks`` maps a name to world-frame positions ``(T, H, 3)`` — or ``(T, S, H, 3)``
    for several strips per step, e.g. both wrists — drawn at ``world/worms/<name>`` next to the
    ground truth (the next ``horizon`` end-effector or wrist positions). ``jpeg_quality=None`` logs
    raw pixels instead of JPEG. ``point_cloud`` back-projects every ``point_stride``-th depth pixel.
    ``blueprint`` sends :func:`workbench.viz.blueprint.make_blueprint` as the default layout.
    ``virtual_views`` adds CLAMP's virtual depth + XYZ views as cameras ``virtual_<view>`` and the
    merged point cloud they are rendered from (:mod:`workbench.viz.virtual_views`).
    """
    if horizon < 1:
        raise ValueError(f"horizon must be at least 1, got {horizon}")
    if jpeg_quality is not None and not 1 <= jpeg_quality <= 100:
        raise ValueError(f"jpeg_quality must be in 1..100, got {jpeg_quality}")
    T = len(episode)
    predicted = {k: _as_worms(k, v, T) for k, v in (predicted_chunks or {}).items()}
    if GROUND_TRUTH in predicted:
        raise ValueError(f"{GROUND_TRUTH!r} is reserved for the episode's own chunk; rename that prediction")
    rec = recording if recording is not None else new_recording(episode, name=name)
    cameras = list(episode.cameras.values())
    if virtual_views:
        from workbench.viz.virtual_views import log_scene_cloud, virtual_camera_streams

        # wrist views ride on the gripper pose; an episode without one gets the fixed views only
        cameras += virtual_camera_streams(episode, wrist=episode.ee_pos is not None and episode.ee_quat is not None)
        log_scene_cloud(rec, episode)

    focus = _focus_points(episode, predicted)
    if blueprint:
        depth_cams = [c.name for c in cameras if c.depth is not None]
        rec.send_blueprint(bp.make_blueprint([c.name for c in cameras], depth_cameras=depth_cams, focus=focus))
    rec.log(bp.WORLD, rr.ViewCoordinates.RIGHT_HAND_Z_UP, static=True)
    scale = _scene_scale(episode)
    # Far cameras get frusta sized by the whole scene so they show; the wrist camera rides along
    # the path the 3-D view frames, so its frustum (and the gripper's axes) are sized by that path.
    reach = min(bp.extent(focus), scale) if focus is not None else scale
    for cam in cameras:
        _log_camera(
            rec,
            episode,
            cam,
            jpeg_quality=jpeg_quality,
            point_cloud=point_cloud,
            point_stride=point_stride,
            plane_distance=(0.1 * reach) if cam.setup == CameraSetup.WRIST else 0.08 * scale,
        )
    if episode.ee_pos is not None:
        _log_end_effector(rec, episode, axis_length=0.1 * reach)
    if episode.hand_keypoints is not None:
        _log_hands(rec, episode)
    _log_actions(rec, episode, action_names)
    _log_text(rec, episode)

    gt = _ground_truth_worms(episode, horizon)
    if gt is not None:
        _log_worms(rec, episode, f"{bp.WORMS}/{GROUND_TRUTH}", gt, _GT_COLOR)
    for i, (key, worms) in enumerate(predicted.items()):
        path = f"{bp.WORMS}/{rr.escape_entity_path_part(key)}"
        _log_worms(rec, episode, path, worms, _PALETTE[i % len(_PALETTE)].tolist())
    rec.reset_time()  # leave a caller's recording without our last step as its current time
    return rec


def log_episodes(
    episodes: Iterable[Episode],
    *,
    predicted_chunks: Sequence[Mapping[str, npt.ArrayLike] | None] | None = None,
    **kwargs,
) -> list[rr.RecordingStream]:
    """One recording per episode (see the module docstring); ``predicted_chunks`` per episode."""
    eps = list(episodes)
    preds = list(predicted_chunks) if predicted_chunks is not None else [None] * len(eps)
    if len(preds) != len(eps):
        raise ValueError(f"{len(preds)} predicted_chunks entries for {len(eps)} episodes")
    return [log_episode(ep, predicted_chunks=p, **kwargs) for ep, p in zip(eps, preds)]


def save_episode_rrd(episode: Episode, path: str | Path, **kwargs) -> Path:
    """Log ``episode`` straight into the ``.rrd`` file ``path`` (keyword arguments as :func:`log_episode`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rec = new_recording(episode, name=kwargs.pop("name", None))
    rec.save(path)  # stream to the file as we log instead of buffering the episode in memory
    try:
        log_episode(episode, rec, **kwargs)
    finally:
        rec.disconnect()  # flushes and writes the footer that makes the file indexable
    return path


def episode_rrd_path(path: str | Path, episode_index: int) -> Path:
    """``out.rrd`` → ``out_ep3.rrd``: where episode 3 goes when several are saved at once."""
    p = Path(path)
    return p.with_name(f"{p.stem}_ep{episode_index}{p.suffix or '.rrd'}")


def save_episodes_rrd(episodes: Iterable[Episode], path: str | Path, **kwargs) -> list[Path]:
    """One ``.rrd`` per episode: ``path`` itself for a single episode, else ``<stem>_ep<index>.rrd``."""
    eps = list(episodes)
    if len(eps) == 1:
        return [save_episode_rrd(eps[0], path, **kwargs)]
    return [save_episode_rrd(ep, episode_rrd_path(path, ep.index), **kwargs) for ep in eps]


@dataclass(frozen=True)
class ServedRecording:
    """Recordings being served: open ``url`` in a browser. Keep this object alive — the gRPC
    server stops when the recording that hosts it is garbage-collected."""

    url: str
    grpc_url: str
    recordings: tuple[rr.RecordingStream, ...]
    web_port: int = 0

    def __str__(self) -> str:
        return self.url

    def url_for(self, host: str) -> str:
        """The viewer's address for a browser that reaches this machine as ``host`` (a name or
        address, no port): both servers listen on every interface, so a browser on another
        machine opens the viewer through the same host it opened the app with."""
        return _viewer_url(host, self.web_port or urlsplit(self.url).port, self.grpc_url_for(host))

    def grpc_url_for(self, host: str) -> str:
        """The recordings' gRPC address (``rerun+http://host:port/proxy``) for a browser that reaches
        this machine as ``host``: what an embedded viewer (:mod:`workbench.viz.rerun_web`) opens."""
        grpc = urlsplit(self.grpc_url)
        return grpc._replace(netloc=f"{host}:{grpc.port}").geturl()


def _viewer_url(host: str, web_port: int, grpc_url: str) -> str:
    # hide_welcome_screen: no examples page, so an offline viewer never tries to fetch their manifest
    return f"http://{host}:{web_port}/?url={quote(grpc_url, safe='')}&hide_welcome_screen"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_episodes(
    episodes: Iterable[Episode],
    *,
    grpc_port: int | None = None,
    web_port: int | None = None,
    open_browser: bool = False,
    **kwargs,
) -> ServedRecording:
    """Serve episodes to the web viewer on localhost, one recording each; ``url`` is the page to open.

    The first recording hosts the gRPC server and the others send to it, so one viewer lists them
    all. Ports default to free ones; the servers live as long as this process (and the result).
    """
    recs = log_episodes(episodes, **kwargs)
    if not recs:
        raise ValueError("no episodes to serve")
    grpc_url = recs[0].serve_grpc(grpc_port=grpc_port or _free_port())
    for rec in recs[1:]:
        rec.connect_grpc(grpc_url)
    web_port = web_port or _free_port()
    rr.serve_web_viewer(web_port=web_port, open_browser=open_browser, connect_to=grpc_url)
    return ServedRecording(_viewer_url("localhost", web_port, grpc_url), grpc_url, tuple(recs), web_port)


def serve_episode(episode: Episode, **kwargs) -> ServedRecording:
    """:func:`serve_episodes` for one episode."""
    return serve_episodes([episode], **kwargs)


def show_in_notebook(
    episode: Episode, *, width: int | None = None, height: int | None = 700, **kwargs
) -> rr.RecordingStream:
    """Show ``episode`` in the notebook cell (the ``rerun-sdk[notebook]`` widget); returns the recording."""
    rec = log_episode(episode, **kwargs)
    depth_cams = [n for n, c in episode.cameras.items() if c.depth is not None]
    blueprint = bp.make_blueprint(list(episode.cameras), depth_cameras=depth_cams, focus=_focus_points(episode, {}))
    rec.notebook_show(width=width, height=height, blueprint=blueprint)
    return rec
