"""The one episode model shared by robot and hand-pose data.

An :class:`Episode` holds everything one demonstration carries: per-camera frames (decoded lazily),
actions, end-effector pose, hand keypoints as SE(3) transforms with a named skeleton, and the
metadata the app filters on. Readers in :mod:`workbench.data` build episodes; every other part of
the workbench (chunking, training, analysis, playback) consumes them.

Conventions
-----------
* Quaternions are scalar-last ``(x, y, z, w)``, as in scipy and Rerun.
* Extrinsics are camera-to-world 4×4 transforms in the OpenCV camera convention (x right, y down,
  z forward); intrinsics are 3×3 pinhole matrices in pixels.
* Depth is stored as ``uint16`` millimetres (0 = no reading), as LeRobot and most RGB-D sensors do.
* Hand keypoints are world-frame SE(3) transforms ``(T, K, 4, 4)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

__all__ = [
    "ArrayFrames",
    "CameraSetup",
    "CameraStream",
    "DataError",
    "DatasetInfo",
    "Episode",
    "EpisodeInfo",
    "FrameSource",
    "Layout",
    "Modality",
    "Skeleton",
    "MANO_JOINTS",
    "MANO_BONES",
    "mano_skeleton",
]


class DataError(Exception):
    """A dataset could not be read or is malformed.

    The message always names the file, the episode when there is one, and the problem.
    """

    def __init__(self, path: object, problem: str, *, episode: int | None = None) -> None:
        self.path = str(path)
        self.episode = episode
        self.problem = problem
        where = self.path if episode is None else f"{self.path} (episode {episode})"
        super().__init__(f"{where}: {problem}")


class CameraSetup(str, Enum):
    """How the cameras move across and within episodes (CLASS Fig. 3)."""

    FIXED = "fixed"  # the same pose in every episode
    RANDOM = "random"  # a random pose per episode, fixed within it
    DYNAMIC = "dynamic"  # the camera moves during the episode
    WRIST = "wrist"  # mounted on the robot
    UNKNOWN = "unknown"


class Layout(str, Enum):
    """On-disk dataset layouts that :func:`workbench.data.load_dataset` recognises."""

    LEROBOT_V3 = "lerobot_v3"
    LEROBOT_V2 = "lerobot_v2"
    ROBOMIMIC = "robomimic"
    HAND_POSE = "hand_pose"


class Modality(str, Enum):
    RGB = "rgb"
    DEPTH = "depth"
    SEGMENTATION = "segmentation"
    EE_POSE = "ee_pose"
    HAND_POSE = "hand_pose"
    STATE = "state"


# --- hand skeleton ------------------------------------------------------------------------------

_FINGERS = ("thumb", "index", "middle", "ring", "little")
_PHALANGES = ("1", "2", "3", "tip")
#: The 21 MANO-order joints of one hand: wrist, then four joints each for thumb → little.
MANO_JOINTS: tuple[str, ...] = ("wrist",) + tuple(f"{f}_{p}" for f in _FINGERS for p in _PHALANGES)
#: Bones of one hand as (parent, child) indices into :data:`MANO_JOINTS`.
MANO_BONES: tuple[tuple[int, int], ...] = tuple(
    pair
    for f in range(5)
    for pair in ((0, 1 + 4 * f), (1 + 4 * f, 2 + 4 * f), (2 + 4 * f, 3 + 4 * f), (3 + 4 * f, 4 + 4 * f))
)


@dataclass(frozen=True)
class Skeleton:
    """Named keypoints and the bones between them (indices into ``joints``)."""

    joints: tuple[str, ...]
    bones: tuple[tuple[int, int], ...]

    def __post_init__(self) -> None:
        n = len(self.joints)
        for a, b in self.bones:
            if not (0 <= a < n and 0 <= b < n):
                raise ValueError(f"bone ({a}, {b}) is outside the {n} joints")

    @property
    def num_joints(self) -> int:
        return len(self.joints)

    def to_dict(self) -> dict:
        return {"joints": list(self.joints), "bones": [list(b) for b in self.bones]}

    @classmethod
    def from_dict(cls, d: dict) -> Skeleton:
        return cls(tuple(d["joints"]), tuple((int(a), int(b)) for a, b in d["bones"]))


def mano_skeleton(hands: Sequence[str] = ("left", "right")) -> Skeleton:
    """21 MANO-order joints per hand; with two hands, joint names are prefixed ``left_``/``right_``."""
    if len(hands) == 1:
        return Skeleton(MANO_JOINTS, MANO_BONES)
    joints: list[str] = []
    bones: list[tuple[int, int]] = []
    for h, hand in enumerate(hands):
        off = h * len(MANO_JOINTS)
        joints += [f"{hand}_{j}" for j in MANO_JOINTS]
        bones += [(a + off, b + off) for a, b in MANO_BONES]
    return Skeleton(tuple(joints), tuple(bones))


# --- lazy frames --------------------------------------------------------------------------------


@runtime_checkable
class FrameSource(Protocol):
    """A sequence of frames that decodes on access: ``len()``, ``src[i]`` and ``src.load()``."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> np.ndarray: ...

    def load(self) -> np.ndarray: ...


class ArrayFrames:
    """Frames already in memory (what generators produce and tests build)."""

    def __init__(self, array: npt.ArrayLike) -> None:
        self.array = np.asarray(array)

    def __len__(self) -> int:
        return int(self.array.shape[0])

    def __getitem__(self, index: int) -> np.ndarray:
        return self.array[index]

    def load(self) -> np.ndarray:
        return self.array

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.array.shape)


class LazyFrames:
    """Frames produced by a loader called once, on first access (a video segment, an HDF5 slice).

    ``frame_loader(i)``, when given, reads frame ``i`` alone: indexing one frame before anything
    is loaded then decodes that frame instead of the whole segment (a thumbnail of each episode
    costs one frame per episode, not every frame).
    """

    def __init__(self, length: int, loader: Callable[[], np.ndarray],
                 frame_loader: Callable[[int], np.ndarray] | None = None) -> None:  # fmt: skip
        self._length = int(length)
        self._loader = loader
        self._frame_loader = frame_loader
        self._cache: np.ndarray | None = None

    def __len__(self) -> int:
        return self._length

    def load(self) -> np.ndarray:
        if self._cache is None:
            self._cache = self._loader()
        return self._cache

    def __getitem__(self, index: int) -> np.ndarray:
        if self._cache is None and self._frame_loader is not None and isinstance(index, (int, np.integer)):
            i = int(index) + self._length if index < 0 else int(index)
            if not 0 <= i < self._length:
                raise IndexError(f"frame {index} out of range for {self._length} frames")
            return self._frame_loader(i)
        return self.load()[index]


def as_frames(x: FrameSource | npt.ArrayLike | None) -> FrameSource | None:
    if x is None or isinstance(x, (ArrayFrames, LazyFrames)) or isinstance(x, FrameSource):
        return x  # type: ignore[return-value]
    return ArrayFrames(x)


@dataclass
class CameraStream:
    """One camera of an episode.

    ``rgb`` is ``(T, H, W, 3) uint8``; ``depth`` ``(T, H, W) uint16`` millimetres; ``segmentation``
    ``(T, H, W) uint8`` labels (see ``segmentation_labels``); ``intrinsics`` ``(T, 3, 3)`` and
    ``extrinsics`` ``(T, 4, 4)`` camera-to-world, per step so moving cameras are described.
    """

    name: str
    rgb: FrameSource
    depth: FrameSource | None = None
    segmentation: FrameSource | None = None
    intrinsics: np.ndarray | None = None
    extrinsics: np.ndarray | None = None
    setup: CameraSetup = CameraSetup.UNKNOWN
    segmentation_labels: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self.rgb = as_frames(self.rgb)  # type: ignore[assignment]
        self.depth = as_frames(self.depth)
        self.segmentation = as_frames(self.segmentation)
        self.setup = CameraSetup(self.setup)
        if self.intrinsics is not None:
            self.intrinsics = np.asarray(self.intrinsics, dtype=np.float64)
        if self.extrinsics is not None:
            self.extrinsics = np.asarray(self.extrinsics, dtype=np.float64)

    def __len__(self) -> int:
        return len(self.rgb)


@dataclass
class Episode:
    """One demonstration, robot or hand.

    Arrays are per step and share their first dimension ``T`` (checked by
    :func:`workbench.data.validate.check_episode`). ``actions`` is ``(T, A)``; ``ee_pos`` ``(T, 3)``;
    ``ee_quat`` ``(T, 4)`` scalar-last; ``gripper`` ``(T,)``; ``hand_keypoints`` ``(T, K, 4, 4)``;
    ``state`` ``(T, S)`` (e.g. proprioception or the simulator's observation); ``extras`` any other
    named per-step scalar or vector streams. ``objects`` names the scene objects whose world
    positions ``(T, 3)`` are ``extras["object.<i>"]`` (what the simulator knows; CLAMP §III-B).
    """

    index: int
    actions: np.ndarray
    fps: float = 10.0
    timestamps: np.ndarray | None = None
    cameras: dict[str, CameraStream] = field(default_factory=dict)
    ee_pos: np.ndarray | None = None
    ee_quat: np.ndarray | None = None
    gripper: np.ndarray | None = None
    hand_keypoints: np.ndarray | None = None
    hand_confidence: np.ndarray | None = None
    skeleton: Skeleton | None = None
    state: np.ndarray | None = None
    instruction: str = ""
    task: str = ""
    camera_setup: CameraSetup = CameraSetup.UNKNOWN
    success: bool | None = None
    source: str = ""
    extras: dict[str, np.ndarray] = field(default_factory=dict)
    objects: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self.objects = tuple(str(o) for o in self.objects)
        self.actions = np.asarray(self.actions, dtype=np.float32)
        if self.actions.ndim == 1:
            self.actions = self.actions[:, None]
        if self.timestamps is None:
            self.timestamps = np.arange(len(self.actions), dtype=np.float64) / float(self.fps)
        self.timestamps = np.asarray(self.timestamps, dtype=np.float64)
        self.camera_setup = CameraSetup(self.camera_setup)

    def __len__(self) -> int:
        return int(self.actions.shape[0])

    @property
    def action_dim(self) -> int:
        return int(self.actions.shape[1])

    @property
    def modalities(self) -> list[str]:
        return sorted(m.value for m in episode_modalities(self))

    def ee_pose(self) -> np.ndarray | None:
        """``(T, 7)`` position + scalar-last quaternion, or None."""
        if self.ee_pos is None or self.ee_quat is None:
            return None
        return np.concatenate([self.ee_pos, self.ee_quat], axis=1)


def episode_modalities(ep: Episode) -> set[Modality]:
    mods: set[Modality] = set()
    for cam in ep.cameras.values():
        mods.add(Modality.RGB)
        if cam.depth is not None:
            mods.add(Modality.DEPTH)
        if cam.segmentation is not None:
            mods.add(Modality.SEGMENTATION)
    if ep.ee_pos is not None:
        mods.add(Modality.EE_POSE)
    if ep.hand_keypoints is not None:
        mods.add(Modality.HAND_POSE)
    if ep.state is not None:
        mods.add(Modality.STATE)
    return mods


@dataclass(frozen=True)
class EpisodeInfo:
    """What a dataset knows about an episode without decoding it (for instant listing)."""

    index: int
    length: int
    task: str = ""
    instruction: str = ""
    camera_setup: str = CameraSetup.UNKNOWN.value
    success: bool | None = None


@dataclass(frozen=True)
class DatasetInfo:
    """The summary ``workbench data info`` prints."""

    path: str
    layout: str
    episodes: int
    frames: int
    tasks: tuple[str, ...]
    cameras: tuple[str, ...]
    camera_setups: tuple[str, ...]
    fps: float
    action_dim: int
    modalities: tuple[str, ...]

    def to_dict(self) -> dict:
        return {
            "path": self.path,
            "layout": self.layout,
            "episodes": self.episodes,
            "frames": self.frames,
            "tasks": list(self.tasks),
            "cameras": list(self.cameras),
            "camera_setups": list(self.camera_setups),
            "fps": self.fps,
            "action_dim": self.action_dim,
            "modalities": list(self.modalities),
        }
