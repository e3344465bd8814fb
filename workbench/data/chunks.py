"""Action chunks: what the contrastive methods align images with.

Three kinds, all ``(N, H, D)`` with a validity mask ``(N, H)`` that is False past the episode end
(CAIP App. C.1: "a per-timestep validity mask is used to ignore padding near sequence boundaries").
Padded steps repeat the last valid step, so distances such as DTW stay meaningful near the end.

* **raw** actions ``a_t … a_{t+H-1}`` as recorded (:func:`action_chunks`);
* **hand** chunks (CAIP §2.4.2, App. C.1): for a base frame ``t`` the action at offset ``i`` is the
  relative SE(3) transform between the pose at ``t`` and at ``t+i``, ``i = 1 … H``, each keypoint as
  9 numbers (translation + continuous 6-D rotation), so 42 keypoints give 378 per step
  (:func:`hand_chunks`);
* **end-effector** chunks (CLASS App. B): position, 6-D orientation and gripper, 10 per step, with
  the orientation scaled (0.5 in CLASS) "to balance the influence of position and orientation"
  (:func:`ee_chunks`);
* **relative** chunks (CAIP §2.4.2 applied to whatever moves): the relative SE(3) transform between
  the pose at ``t`` and at ``t+i``, ``i = 1 … H``, 9-D per keypoint — the hand keypoints when the
  episode has them (identical to **hand** chunks), else the end effector, followed by the gripper
  opening at ``t+i`` (:func:`relative_chunks`). CAIP "emulates end-effector delta control": this is
  the target it aligns images with, for hands and robots alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

import numpy as np

from workbench.geometry import make_pose, pose_to_9d, quat_to_matrix, relative_pose, rot6d_from_matrix
from workbench.types import Episode

__all__ = ["ChunkKind", "Chunks", "action_chunks", "hand_chunks", "ee_chunks", "ee_relative_chunks", "relative_chunks", "episode_chunks", "dataset_chunks", "chunk_starts", "available_chunk_kinds"]


class ChunkKind(str, Enum):
    RAW = "raw"
    HAND = "hand"
    EE = "ee"
    RELATIVE = "relative"


@dataclass(frozen=True)
class Chunks:
    """Chunks of many episodes with where each came from.

    ``values`` ``(N, H, D)`` float32; ``mask`` ``(N, H)`` bool; ``episode`` and ``time`` ``(N,)``: the
    episode index and the base step ``t`` of each chunk.
    """

    values: np.ndarray
    mask: np.ndarray
    episode: np.ndarray
    time: np.ndarray
    kind: str = ChunkKind.RAW.value

    def __len__(self) -> int:
        return int(self.values.shape[0])

    @property
    def horizon(self) -> int:
        return int(self.values.shape[1])

    @property
    def dim(self) -> int:
        return int(self.values.shape[2])

    def select(self, idx: np.ndarray | Sequence[int]) -> Chunks:
        idx = np.asarray(idx)
        return Chunks(self.values[idx], self.mask[idx], self.episode[idx], self.time[idx], self.kind)


def chunk_starts(T: int, stride: int = 1) -> np.ndarray:
    """Base steps ``0, stride, 2·stride, … < T``."""
    if stride < 1:
        raise ValueError(f"stride must be ≥ 1, got {stride}")
    return np.arange(0, T, stride)


def _window(T: int, horizon: int, stride: int, offset: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices ``(N, H)`` into a length-T stream, clipped to the last step, and their validity."""
    if horizon < 1:
        raise ValueError(f"horizon must be ≥ 1, got {horizon}")
    if T < 1:
        raise ValueError("cannot chunk an empty episode")
    starts = chunk_starts(T, stride)
    idx = starts[:, None] + offset + np.arange(horizon)[None, :]
    mask = idx < T
    return starts, np.minimum(idx, T - 1), mask


def action_chunks(actions: np.ndarray, horizon: int, stride: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Raw action chunks ``actions[t : t+H]`` for every base step; returns ``(chunks, mask)``."""
    actions = np.asarray(actions, dtype=np.float32)
    _, idx, mask = _window(len(actions), horizon, stride, 0)
    return actions[idx], mask


def hand_chunks(keypoints: np.ndarray, horizon: int, stride: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Relative-pose chunks from ``(T, K, 4, 4)`` keypoints (CAIP §2.4.2, App. C.1).

    Step ``i`` of the chunk at base ``t`` holds, per keypoint, ``T_t⁻¹ · T_{t+i}`` for ``i = 1 … H``
    as translation + 6-D rotation: ``(N, H, 9·K)``. Past the end the last pose is repeated and the
    mask is False; at the very last step every entry is padding.
    """
    kp = np.asarray(keypoints, dtype=np.float64)
    if kp.ndim != 4 or kp.shape[-2:] != (4, 4):
        raise ValueError(f"keypoints must be (T, K, 4, 4), got {kp.shape}")
    starts, idx, mask = _window(len(kp), horizon, stride, 1)
    base = kp[starts][:, None]  # (N, 1, K, 4, 4)
    rel = relative_pose(base, kp[idx])  # (N, H, K, 4, 4)
    return pose_to_9d(rel).reshape(len(starts), horizon, -1).astype(np.float32), mask


def ee_chunks(
    ee_pos: np.ndarray,
    ee_quat: np.ndarray,
    gripper: np.ndarray | None,
    horizon: int,
    stride: int = 1,
    *,
    orientation_weight: float = 0.5,
    relative: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """End-effector chunks: position (3), 6-D rotation × ``orientation_weight`` (6), gripper (1).

    CLASS App. B uses absolute poses with the orientation scaled by 0.5 before DTW; with
    ``relative=True`` poses are expressed in the frame of the pose at the base step instead, which
    removes where in the workspace the motion happens.
    """
    pos = np.asarray(ee_pos, dtype=np.float64)
    R = quat_to_matrix(ee_quat)
    T = len(pos)
    starts, idx, mask = _window(T, horizon, stride, 0)
    if relative:
        poses = make_pose(R, pos)
        rel = relative_pose(poses[starts][:, None], poses[idx])
        p, rot = rel[..., :3, 3], rel[..., :3, :3]
    else:
        p, rot = pos[idx], R[idx]
    parts = [p, orientation_weight * rot6d_from_matrix(rot)]
    if gripper is not None:
        parts.append(np.asarray(gripper, dtype=np.float64).reshape(T, -1)[idx])
    return np.concatenate(parts, axis=-1).astype(np.float32), mask


def available_chunk_kinds(ep: Episode) -> list[str]:
    """The chunk kinds ``ep`` has the streams for, in :class:`ChunkKind` order (raw always)."""
    ee = ep.ee_pos is not None and ep.ee_quat is not None
    has = {ChunkKind.RAW: True, ChunkKind.HAND: ep.hand_keypoints is not None, ChunkKind.EE: ee,
           ChunkKind.RELATIVE: ee or ep.hand_keypoints is not None}  # fmt: skip
    return [k.value for k in ChunkKind if has.get(k, False)]


def ee_relative_chunks(
    ee_pos: np.ndarray, ee_quat: np.ndarray, gripper: np.ndarray | None, horizon: int, stride: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """End-effector motion as CAIP §2.4.2 defines an action chunk: for base ``t`` and ``i = 1 … H``
    the relative transform ``T_t⁻¹ · T_{t+i}`` as translation + 6-D rotation (9), then the gripper
    at ``t+i`` (absolute: opening is a state, not a motion). ``(N, H, 9 [+ G])``; past the end the
    last pose repeats and the mask is False (as :func:`hand_chunks`).
    """
    pos = np.asarray(ee_pos, dtype=np.float64)
    poses = make_pose(quat_to_matrix(ee_quat), pos)  # (T, 4, 4)
    starts, idx, mask = _window(len(pos), horizon, stride, 1)
    rel = relative_pose(poses[starts][:, None], poses[idx])  # (N, H, 4, 4)
    parts = [pose_to_9d(rel)]
    if gripper is not None:
        parts.append(np.asarray(gripper, dtype=np.float64).reshape(len(pos), -1)[idx])
    return np.concatenate(parts, axis=-1).astype(np.float32), mask


def relative_chunks(ep: Episode, horizon: int, stride: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """CAIP §2.4.2 relative SE(3) chunks of whatever the episode tracks: hand keypoints when
    present (:func:`hand_chunks`), else the end effector (:func:`ee_relative_chunks`)."""
    if ep.hand_keypoints is not None:
        return hand_chunks(ep.hand_keypoints, horizon, stride)
    if ep.ee_pos is None or ep.ee_quat is None:
        raise ValueError(f"episode {ep.index} has neither hand_keypoints nor an end-effector pose for relative chunks")
    return ee_relative_chunks(ep.ee_pos, ep.ee_quat, ep.gripper, horizon, stride)


def episode_chunks(ep: Episode, kind: ChunkKind | str, horizon: int, stride: int = 1, **kw) -> tuple[np.ndarray, np.ndarray]:
    """Chunks of one episode of the given kind; raises ValueError if the episode lacks the stream."""
    kind = ChunkKind(kind)
    if kind == ChunkKind.RAW:
        return action_chunks(ep.actions, horizon, stride)
    if kind == ChunkKind.HAND:
        if ep.hand_keypoints is None:
            raise ValueError(f"episode {ep.index} has no hand_keypoints for hand chunks")
        return hand_chunks(ep.hand_keypoints, horizon, stride)
    if kind == ChunkKind.RELATIVE:
        return relative_chunks(ep, horizon, stride)
    if ep.ee_pos is None or ep.ee_quat is None:
        raise ValueError(f"episode {ep.index} has no end-effector pose for ee chunks")
    return ee_chunks(ep.ee_pos, ep.ee_quat, ep.gripper, horizon, stride, **kw)


def dataset_chunks(
    episodes, kind: ChunkKind | str, horizon: int, stride: int = 1, **kw
) -> Chunks:
    """Chunks of many episodes (any iterable of :class:`Episode`, e.g. a dataset) concatenated."""
    vals, masks, eps, times = [], [], [], []
    for ep in episodes:
        c, m = episode_chunks(ep, kind, horizon, stride, **kw)
        vals.append(c)
        masks.append(m)
        eps.append(np.full(len(c), ep.index))
        times.append(chunk_starts(len(ep), stride))
    if not vals:
        raise ValueError("no episodes to chunk")
    return Chunks(np.concatenate(vals), np.concatenate(masks), np.concatenate(eps), np.concatenate(times), ChunkKind(kind).value)
