"""Hand-pose recordings in the EgoDex style: one HDF5 and one mp4 per episode.

Layout read and written::

    <root>/<task>/<n>.hdf5
        transforms/<joint>        (T, 4, 4) world transform per joint, ARKit joint names
                                  (leftHand, leftThumbKnuckle, …, rightLittleFingerTip)
        transforms/camera         (T, 4, 4) camera-to-world in ARKit's camera convention
                                  (x right, y up, z backward)
        confidences/<joint>       (T,) tracking confidence in [0, 1]
        camera/intrinsic          (3, 3) pinhole intrinsics in pixels
        actions                   (T, A) optional (ours: the simulator's controls)
        attrs                     llm_description (the instruction), plus ours: task, fps,
                                  camera_setup, success, source, episode_index
    <root>/<task>/<n>.mp4         the egocentric RGB video, one frame per step

Joints are read into MANO order (:data:`workbench.types.MANO_JOINTS`): wrist (``…Hand``), then
thumb ``Knuckle, IntermediateBase, IntermediateTip, Tip`` and, for the index, middle, ring and
little fingers, ``…FingerKnuckle, …IntermediateBase, …IntermediateTip, …Tip`` (EgoDex's
metacarpals have no MANO counterpart and are skipped). Camera poses are converted to the OpenCV
convention of :class:`~workbench.types.CameraStream`. A file without ``actions`` gets the
keypoint positions ``(T, K·3)`` as its actions, so every episode can be chunked.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import h5py
import numpy as np

from workbench.atomic import atomic_path
from workbench.data.dataset import Dataset
from workbench.data.validate import raise_if_invalid
from workbench.data.video import video_frames, write_video
from workbench.types import CameraSetup, CameraStream, DataError, Episode, EpisodeInfo, mano_skeleton

__all__ = ["HandPoseDataset", "write_hand_pose", "is_hand_pose", "egodex_joint_names"]

_FINGERS = (("Thumb", ""), ("Index", "Finger"), ("Middle", "Finger"), ("Ring", "Finger"), ("Little", "Finger"))
_PARTS = ("Knuckle", "IntermediateBase", "IntermediateTip", "Tip")
# ARKit cameras look down −z with y up; OpenCV looks down +z with y down: flip y and z.
_ARKIT_TO_OPENCV = np.diag([1.0, -1.0, -1.0, 1.0])


def egodex_joint_names(side: str) -> list[str]:
    """The 21 ARKit joint names of one hand (``"left"``/``"right"``) in MANO order."""
    return [f"{side}Hand"] + [f"{side}{f}{mid}{p}" for f, mid in _FINGERS for p in _PARTS]


def _episode_files(path: Path) -> list[Path]:
    """``root/*.hdf5`` and ``root/<task>/*.hdf5`` (EgoDex groups episodes in task folders)."""
    if path.is_file():
        return [path]
    return sorted(path.glob("*.hdf5")) + sorted(path.glob("*/*.hdf5"))


def is_hand_pose(path: Path) -> bool:
    """True when the first few HDF5 files at ``path`` all hold a ``transforms`` group."""
    files = _episode_files(path)
    if not files or files[0].suffix.lower() != ".hdf5":
        return False
    for f in files[:3]:
        try:
            with h5py.File(f, "r") as h:
                if "transforms" not in h:
                    return False
        except OSError:
            if f is files[0]:
                return False
    return True


def _s(v):
    return v.decode() if isinstance(v, bytes) else v


class HandPoseDataset(Dataset):
    layout = "hand_pose"

    def __init__(self, path: str | Path, *, strict: bool = True) -> None:
        super().__init__(path, strict=strict)
        files = _episode_files(self.path)
        if not files:
            raise DataError(self.path, "no *.hdf5 hand-pose files found")
        self._files: dict[int, Path] = {}
        self._hands: tuple[str, ...] = ()
        self._fps = 30.0
        self._action_dim = 0
        for n, f in enumerate(files):
            try:
                info = self._info(f, n)
            except DataError as e:
                self._fail(e)
                continue
            self._files[info.index] = f
            self.infos.append(info)

    def _info(self, f: Path, n: int) -> EpisodeInfo:
        try:
            h = h5py.File(f, "r")
        except OSError as e:
            raise DataError(f, f"cannot open HDF5 file (truncated or not HDF5): {e}") from e
        with h:
            if "transforms" not in h:
                raise DataError(f, "has no 'transforms' group; not an EgoDex-style hand-pose file")
            hands = tuple(s for s in ("left", "right") if f"{s}Hand" in h["transforms"])
            if not hands:
                raise DataError(f, "has neither transforms/leftHand nor transforms/rightHand")
            missing = [j for s in hands for j in egodex_joint_names(s) if j not in h["transforms"]]
            if missing:
                raise DataError(f, f"is missing joints {missing[:4]}{'…' if len(missing) > 4 else ''}")
            T = int(h["transforms"][f"{hands[0]}Hand"].shape[0])
            if T == 0:
                raise DataError(f, "episode is empty (0 frames)")
            a = h.attrs
            idx = int(_s(a.get("episode_index", n)))
            self._hands = hands
            self._fps = float(a.get("fps", 30.0))
            self._action_dim = int(np.prod(h["actions"].shape[1:])) if "actions" in h else 3 * 21 * len(hands)
            success = a.get("success")
            return EpisodeInfo(
                index=idx,
                length=T,
                task=str(_s(a.get("task", f.parent.name))),
                instruction=str(_s(a.get("llm_description", ""))),
                camera_setup=str(_s(a.get("camera_setup", CameraSetup.UNKNOWN.value))),
                success=None if success is None else bool(success),
            )

    def _load(self, info: EpisodeInfo) -> Episode:
        f = self._files[info.index]
        T = info.length
        try:
            with h5py.File(f, "r") as h:
                hands = tuple(s for s in ("left", "right") if f"{s}Hand" in h["transforms"])
                names = [j for s in hands for j in egodex_joint_names(s)]
                kp = np.stack([h["transforms"][j][()] for j in names], axis=1)  # (T, K, 4, 4)
                conf = (np.stack([h["confidences"][j][()] for j in names], axis=1)
                        if "confidences" in h and all(j in h["confidences"] for j in names) else None)  # fmt: skip
                cam_T = h["transforms"]["camera"][()] if "camera" in h["transforms"] else None
                K = h["camera"]["intrinsic"][()] if "camera" in h and "intrinsic" in h["camera"] else None
                actions = h["actions"][()] if "actions" in h else None
                fps = float(h.attrs.get("fps", 30.0))
                source = str(_s(h.attrs.get("source", "egodex-style hdf5")))
        except (OSError, KeyError) as e:
            raise DataError(f, f"cannot be read (truncated file?): {e}", episode=info.index) from e
        if kp.shape[0] != T:
            raise DataError(f, f"joints have {kp.shape[0]} frames, {hands[0]}Hand has {T}", episode=info.index)
        if actions is None:
            actions = kp[:, :, :3, 3].reshape(T, -1)
        cameras: dict[str, CameraStream] = {}
        video = f.with_suffix(".mp4")
        if video.is_file():
            if K is None or cam_T is None:
                raise DataError(f, "has a video but no camera/intrinsic or transforms/camera", episode=info.index)
            cameras["ego"] = CameraStream(
                name="ego",
                rgb=video_frames(video, 0.0, T, fps, episode=info.index),
                intrinsics=np.broadcast_to(K, (T, 3, 3)).copy(),
                extrinsics=cam_T @ _ARKIT_TO_OPENCV,
                setup=info.camera_setup,
            )
        ep = Episode(
            index=info.index,
            actions=actions,
            fps=fps,
            cameras=cameras,
            hand_keypoints=kp,
            hand_confidence=conf,
            skeleton=mano_skeleton(hands),
            instruction=info.instruction,
            task=info.task,
            camera_setup=info.camera_setup,
            success=info.success,
            source=source,
        )
        raise_if_invalid(ep, f)
        return ep

    def _summary(self) -> dict:
        mods = {"hand_pose"}
        if any(p.with_suffix(".mp4").is_file() for p in self._files.values()):
            mods.add("rgb")
        return {"cameras": ["ego"] if "rgb" in mods else [], "fps": self._fps, "action_dim": self._action_dim, "modalities": mods}


def write_hand_pose(episodes: Iterable[Episode], root: str | Path, *, crf: int = 23, lossless: bool = False) -> Path:
    """Write hand episodes as EgoDex-style HDF5 + mp4 pairs under ``root/<task>/<index>``.

    Each file is written to a temporary name and renamed into place; existing files are refused.
    Keypoints must follow a MANO skeleton of one or two hands (``mano_skeleton``).
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    wrote = 0
    for ep in episodes:
        raise_if_invalid(ep, root)
        if ep.hand_keypoints is None:
            raise DataError(root, "episode has no hand_keypoints", episode=ep.index)
        K = ep.hand_keypoints.shape[1]
        hands = ("left", "right") if K == 42 else ("right",) if K == 21 else None
        if hands is None:
            raise DataError(root, f"hand_keypoints must have 21 or 42 keypoints (MANO order), got {K}", episode=ep.index)
        names = [j for s in hands for j in egodex_joint_names(s)]
        folder = root / (ep.task or "task")
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{ep.index}.hdf5"
        if target.exists():
            raise FileExistsError(f"{target} already exists; refusing to overwrite it")
        video = target.with_suffix(".mp4")
        try:
            _write_episode(ep, target, video, names, crf=crf, lossless=lossless)
        except BaseException:
            video.unlink(missing_ok=True)
            raise
        wrote += 1
    if wrote == 0:
        raise DataError(root, "no episodes to write")
    return root


def _write_episode(ep: Episode, target: Path, video: Path, names: list[str], *, crf: int, lossless: bool) -> None:
    """One episode's HDF5 and its camera's mp4 beside it, each written atomically; the HDF5 last,
    so a reader never finds an episode without its video."""
    root = target.parent.parent
    cam = next(iter(ep.cameras.values()), None)
    if cam is not None:
        if cam.intrinsics is None or cam.extrinsics is None:
            raise DataError(root, "the camera needs intrinsics and extrinsics", episode=ep.index)
        if not np.allclose(cam.intrinsics, cam.intrinsics[0]):
            raise DataError(root, "EgoDex stores one intrinsic matrix; this camera's changes over time", episode=ep.index)
    with atomic_path(target) as tmp:
        with h5py.File(tmp, "w") as h:
            for j, name in enumerate(names):
                h.create_dataset(f"transforms/{name}", data=ep.hand_keypoints[:, j])
                conf = ep.hand_confidence[:, j] if ep.hand_confidence is not None else np.ones(len(ep), np.float32)
                h.create_dataset(f"confidences/{name}", data=conf)
            h.create_dataset("actions", data=ep.actions)
            if cam is not None:
                h.create_dataset("transforms/camera", data=cam.extrinsics @ _ARKIT_TO_OPENCV)  # self-inverse flip
                h.create_dataset("camera/intrinsic", data=cam.intrinsics[0])
            h.attrs.update({"llm_description": ep.instruction, "task": ep.task, "fps": ep.fps,
                            "camera_setup": ep.camera_setup.value, "source": ep.source, "episode_index": ep.index})  # fmt: skip
            if ep.success is not None:
                h.attrs["success"] = bool(ep.success)
        if cam is not None:
            with atomic_path(video, suffix=".mp4") as vtmp:
                write_video(vtmp, cam.rgb.load(), ep.fps, crf=crf, lossless=lossless)
