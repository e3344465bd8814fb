"""robomimic-style HDF5: one file, ``data/demo_N/{obs/*, actions}``.

Layout read and written (robomimic's conventions where it has one)::

    data                          attrs: total (frames), env_args (JSON)
    data/demo_N                   attrs: num_samples, plus ours: task, instruction, camera_setup,
                                  camera_setups (JSON), success, source, fps, episode_index
    data/demo_N/actions           (T, A) float
    data/demo_N/obs/<cam>_image   (T, H, W, 3) uint8
    data/demo_N/obs/<cam>_depth   (T, H, W, 1) uint16 millimetres (float metres are accepted too)
    data/demo_N/obs/<cam>_segmentation  (T, H, W) uint8        (ours)
    data/demo_N/obs/<cam>_intrinsics    (T, 3, 3)              (ours)
    data/demo_N/obs/<cam>_extrinsics    (T, 4, 4) camera-to-world, OpenCV   (ours)
    data/demo_N/obs/robot0_eef_pos      (T, 3)
    data/demo_N/obs/robot0_eef_quat     (T, 4) scalar-last, as robomimic
    data/demo_N/obs/robot0_gripper_qpos (T, 1) or (T, 2); the mean is the gripper opening
    data/demo_N/obs/object / state      (T, S) → ``Episode.state``
    mask/train, mask/valid        demo names per split

Any other ``obs`` key is kept in ``Episode.extras``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path

import h5py
import numpy as np

from workbench.atomic import atomic_path
from workbench.data.dataset import Dataset
from workbench.data.validate import raise_if_invalid
from workbench.types import CameraSetup, CameraStream, DataError, Episode, EpisodeInfo, LazyFrames

__all__ = ["RobomimicDataset", "write_robomimic", "is_robomimic"]

_CAM_SUFFIXES = ("_image", "_depth", "_segmentation", "_intrinsics", "_extrinsics")
_KNOWN = {"robot0_eef_pos", "robot0_eef_quat", "robot0_gripper_qpos", "state", "object"}


def _demo_key(name: str) -> int:
    m = re.fullmatch(r"demo_(\d+)", name)
    return int(m.group(1)) if m else -1


def is_robomimic(path: Path) -> bool:
    if path.suffix.lower() not in (".hdf5", ".h5") or not path.is_file():
        return False
    try:
        with h5py.File(path, "r") as f:
            return "data" in f and any(k.startswith("demo_") for k in f["data"].keys())
    except OSError:
        return False


def _attr(a, key, default=None):
    v = a.get(key, default)
    return v.decode() if isinstance(v, bytes) else v


class RobomimicDataset(Dataset):
    layout = "robomimic"

    def __init__(self, path: str | Path, *, strict: bool = True) -> None:
        super().__init__(path, strict=strict)
        try:
            f = h5py.File(self.path, "r")
        except (OSError, FileNotFoundError) as e:
            raise DataError(self.path, f"cannot open HDF5 file (missing, truncated or not HDF5): {e}") from e
        with f:
            if "data" not in f:
                raise DataError(self.path, "has no 'data' group; not a robomimic-style file")
            env_args = _attr(f["data"].attrs, "env_args", "{}")
            self.env_args = json.loads(env_args) if env_args else {}
            self._demos: dict[int, str] = {}
            self._cameras: set[str] = set()
            self._mods: set[str] = set()
            self._action_dim = 0
            self._fps = 0.0
            for name in sorted(f["data"].keys(), key=_demo_key):
                g = f["data"][name]
                try:
                    info = self._info(name, g)
                except DataError as e:
                    self._fail(e)
                    continue
                self._demos[info.index] = name
                self.infos.append(info)
            self.splits = {k: [v.decode() if isinstance(v, bytes) else str(v) for v in f["mask"][k][()]]
                           for k in f["mask"].keys()} if "mask" in f else {}  # fmt: skip

    def _info(self, name: str, g) -> EpisodeInfo:
        idx = int(_attr(g.attrs, "episode_index", _demo_key(name)))
        if "actions" not in g:
            raise DataError(self.path, f"{name} has no 'actions'", episode=idx)
        T = int(g["actions"].shape[0])
        if T == 0:
            raise DataError(self.path, f"{name} is empty (0 actions)", episode=idx)
        self._action_dim = int(np.prod(g["actions"].shape[1:]))
        self._fps = float(_attr(g.attrs, "fps", 20.0))
        obs = g.get("obs", {})
        for k in obs.keys():
            for suf in _CAM_SUFFIXES:
                if k.endswith(suf):
                    self._cameras.add(k[: -len(suf)])
                    self._mods.add({"_image": "rgb", "_depth": "depth", "_segmentation": "segmentation"}.get(suf, "rgb"))
            if k == "robot0_eef_pos":
                self._mods.add("ee_pose")
            if k in ("state", "object"):
                self._mods.add("state")
        success = _attr(g.attrs, "success")
        return EpisodeInfo(
            index=idx,
            length=T,
            task=str(_attr(g.attrs, "task", "") or self.env_args.get("env_name", "")),
            instruction=str(_attr(g.attrs, "instruction", "")),
            camera_setup=str(_attr(g.attrs, "camera_setup", CameraSetup.UNKNOWN.value)),
            success=None if success is None else bool(success),
        )

    def _load(self, info: EpisodeInfo) -> Episode:
        name = self._demos[info.index]
        try:
            with h5py.File(self.path, "r") as f:
                g = f["data"][name]
                obs = g["obs"] if "obs" in g else {}
                arrays = {k: obs[k][()] for k in obs.keys() if not k.endswith(("_image", "_depth", "_segmentation"))}
                actions = g["actions"][()]
                attrs = {k: _attr(g.attrs, k) for k in g.attrs.keys()}
                frame_keys = [k for k in obs.keys() if k.endswith(("_image", "_depth", "_segmentation"))]
        except (OSError, KeyError) as e:
            raise DataError(self.path, f"{name} cannot be read (truncated file?): {e}", episode=info.index) from e
        setups = json.loads(attrs.get("camera_setups") or "{}")
        cameras = {}
        T = info.length
        for cam in sorted(self._cameras):
            if f"{cam}_image" not in frame_keys:
                continue
            cameras[cam] = CameraStream(
                name=cam,
                rgb=self._lazy(name, f"{cam}_image", T, info.index),
                depth=self._lazy(name, f"{cam}_depth", T, info.index) if f"{cam}_depth" in frame_keys else None,
                segmentation=self._lazy(name, f"{cam}_segmentation", T, info.index) if f"{cam}_segmentation" in frame_keys else None,
                intrinsics=arrays.pop(f"{cam}_intrinsics", None),
                extrinsics=arrays.pop(f"{cam}_extrinsics", None),
                setup=setups.get(cam, CameraSetup.UNKNOWN.value),
                segmentation_labels=tuple(json.loads(attrs.get("segmentation_labels") or "[]")),
            )
        grip = arrays.pop("robot0_gripper_qpos", None)
        state = arrays.pop("state", None)
        if state is None:
            state = arrays.pop("object", None)
        ep = Episode(
            index=info.index,
            actions=actions,
            fps=float(attrs.get("fps") or 20.0),
            cameras=cameras,
            ee_pos=arrays.pop("robot0_eef_pos", None),
            ee_quat=arrays.pop("robot0_eef_quat", None),
            gripper=None if grip is None else np.asarray(grip).reshape(len(grip), -1).mean(1),
            state=state,
            instruction=info.instruction,
            task=info.task,
            camera_setup=info.camera_setup,
            success=info.success,
            source=str(attrs.get("source") or "robomimic hdf5"),
            extras=arrays,
        )
        raise_if_invalid(ep, self.path)
        return ep

    def _lazy(self, demo: str, key: str, T: int, episode: int) -> LazyFrames:
        path = self.path

        def load() -> np.ndarray:
            try:
                with h5py.File(path, "r") as f:
                    a = f["data"][demo]["obs"][key][()]
            except (OSError, KeyError) as e:
                raise DataError(path, f"{demo}/obs/{key} cannot be read: {e}", episode=episode) from e
            if key.endswith("_depth"):
                if np.issubdtype(a.dtype, np.floating):  # robomimic stores metres as float
                    a = np.round(np.nan_to_num(a) * 1000.0).clip(0, 65535).astype(np.uint16)
                a = a.reshape(a.shape[:3])
            return a

        return LazyFrames(T, load)

    def _summary(self) -> dict:
        return {"cameras": sorted(self._cameras), "fps": self._fps,
                "action_dim": self._action_dim, "modalities": self._mods}  # fmt: skip


def write_robomimic(
    episodes: Iterable[Episode],
    path: str | Path,
    *,
    env_name: str = "",
    splits: dict[str, list[int]] | None = None,
    compression: str | None = "gzip",
) -> Path:
    """Write episodes to a robomimic-style HDF5 at ``path`` (atomically; an existing file is refused)."""
    path = Path(path)
    if path.exists():
        raise FileExistsError(f"{path} already exists; refusing to overwrite it")
    with atomic_path(path) as tmp:
        total = 0
        names: dict[int, str] = {}
        with h5py.File(tmp, "w") as f:
            data = f.create_group("data")
            data.attrs["env_args"] = json.dumps({"env_name": env_name, "type": "workbench"})
            for n, ep in enumerate(episodes):
                raise_if_invalid(ep, path)
                name = f"demo_{n}"
                names[ep.index] = name
                g = data.create_group(name)
                g.create_dataset("actions", data=ep.actions)
                o = g.create_group("obs")
                for cam_name, cam in ep.cameras.items():
                    o.create_dataset(f"{cam_name}_image", data=cam.rgb.load(), compression=compression)
                    if cam.depth is not None:
                        o.create_dataset(f"{cam_name}_depth", data=cam.depth.load()[..., None], compression=compression)
                    if cam.segmentation is not None:
                        o.create_dataset(f"{cam_name}_segmentation", data=cam.segmentation.load(), compression=compression)
                    if cam.intrinsics is not None:
                        o.create_dataset(f"{cam_name}_intrinsics", data=cam.intrinsics)
                    if cam.extrinsics is not None:
                        o.create_dataset(f"{cam_name}_extrinsics", data=cam.extrinsics)
                for key, a in (("robot0_eef_pos", ep.ee_pos), ("robot0_eef_quat", ep.ee_quat), ("state", ep.state)):
                    if a is not None:
                        o.create_dataset(key, data=a)
                if ep.gripper is not None:
                    o.create_dataset("robot0_gripper_qpos", data=np.asarray(ep.gripper)[:, None])
                for k, v in ep.extras.items():
                    o.create_dataset(k, data=v)
                labels = next((c.segmentation_labels for c in ep.cameras.values() if c.segmentation_labels), ())
                g.attrs.update({
                    "num_samples": len(ep), "episode_index": ep.index, "task": ep.task, "instruction": ep.instruction,
                    "camera_setup": ep.camera_setup.value, "source": ep.source, "fps": ep.fps,
                    "camera_setups": json.dumps({n: c.setup.value for n, c in ep.cameras.items()}),
                    "segmentation_labels": json.dumps(list(labels)),
                })  # fmt: skip
                if ep.success is not None:
                    g.attrs["success"] = bool(ep.success)
                total += len(ep)
            if not names:
                raise DataError(path, "no episodes to write")
            data.attrs["total"] = total
            if splits:
                m = f.create_group("mask")
                for split, idxs in splits.items():
                    m.create_dataset(split, data=np.array([names[i] for i in idxs if i in names], dtype="S"))
    return path
