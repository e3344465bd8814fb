"""Shared fixtures: small synthetic episodes with every stream the episode model carries."""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np
import pytest

from workbench.geometry import look_at, make_pose, quat_to_matrix
from workbench.types import CameraStream, Episode, mano_skeleton


def _random_quats(rng: np.random.Generator, n: int) -> np.ndarray:
    q = rng.normal(size=(n, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    return q * np.where(q[:, 3:] < 0, -1, 1)


def make_robot_episode(index: int = 0, T: int = 12, *, size: int = 32, seed: int = 0, task: str = "push") -> Episode:
    rng = np.random.default_rng(seed + index)
    K = np.array([[40.0, 0, size / 2], [0, 40.0, size / 2], [0, 0, 1]])
    cams = {}
    for c, name in enumerate(("scene", "wrist")):
        eyes = np.stack([np.array([1.0, 0.2 * t / T, 0.8]) for t in range(T)])
        cams[name] = CameraStream(
            name=name,
            rgb=rng.integers(0, 256, size=(T, size, size, 3), dtype=np.uint8),
            depth=rng.integers(0, 3000, size=(T, size, size), dtype=np.uint16),
            segmentation=rng.integers(0, 3, size=(T, size, size), dtype=np.uint8),
            intrinsics=np.broadcast_to(K, (T, 3, 3)).copy(),
            extrinsics=np.stack([look_at(e, np.zeros(3)) for e in eyes]),
            setup="dynamic" if name == "scene" else "wrist",
            segmentation_labels=("rest", "gripper", "object"),
        )
    return Episode(
        index=index,
        actions=rng.normal(size=(T, 4)).astype(np.float32),
        fps=10.0,
        cameras=cams,
        ee_pos=rng.normal(size=(T, 3)),
        ee_quat=_random_quats(rng, T),
        gripper=rng.random(T),
        state=rng.normal(size=(T, 39)).astype(np.float32),
        instruction=f"{task} the puck to the goal",
        task=task,
        camera_setup="dynamic",
        success=bool(index % 2),
        source="synthetic",
    )


def make_hand_episode(index: int = 0, T: int = 10, *, size: int = 32, seed: int = 0) -> Episode:
    rng = np.random.default_rng(100 + seed + index)
    kp = make_pose(quat_to_matrix(_random_quats(rng, T * 42)).reshape(T, 42, 3, 3), rng.normal(size=(T, 42, 3)))
    K = np.array([[40.0, 0, size / 2], [0, 40.0, size / 2], [0, 0, 1]])
    return Episode(
        index=index,
        actions=rng.normal(size=(T, 20)).astype(np.float32),
        fps=30.0,
        cameras={
            "ego": CameraStream(
                name="ego",
                rgb=rng.integers(0, 256, size=(T, size, size, 3), dtype=np.uint8),
                intrinsics=np.broadcast_to(K, (T, 3, 3)).copy(),
                extrinsics=np.stack([look_at(np.array([0.5, 0.1 * t, 0.6]), np.zeros(3)) for t in range(T)]),
                setup="random",
            )
        },
        hand_keypoints=kp,
        hand_confidence=rng.random((T, 42)).astype(np.float32),
        skeleton=mano_skeleton(("left", "right")),
        instruction="grasp the ball",
        task="grasp",
        camera_setup="random",
        success=True,
        source="synthetic",
    )


@pytest.fixture
def robot_episodes() -> list[Episode]:
    return [make_robot_episode(i, T=10 + i, task=("push", "reach")[i % 2]) for i in range(4)]


@pytest.fixture
def hand_episodes() -> list[Episode]:
    return [make_hand_episode(i, T=8 + i) for i in range(3)]


@pytest.fixture(scope="module")
def one_torch_thread():
    """Torch on one intra-op thread for a module of tiny models, restored afterwards."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def direction_frames(theta: float, T: int, size: int = 64) -> np.ndarray:
    """(T, S, S, 3): background colour from the direction ``theta``, a white bar (S/8 wide) at the progress."""
    bar = size // 8
    img = np.empty((T, size, size, 3), dtype=np.uint8)
    img[:] = np.array([128 + 110 * np.cos(theta), 128 + 110 * np.sin(theta), 60], dtype=np.uint8)
    for t in range(T):
        x = int(round((size - bar) * t / max(T - 1, 1)))
        img[t, :, x : x + bar] = 255
    return img


def learnable_robot_episodes(n: int = 8, T: int = 24, size: int = 64) -> list[Episode]:
    """Episodes with structure to learn: each moves in its own direction, which its frames'
    background colour encodes, and a bright bar marks the progress through the episode."""
    from workbench.types import ArrayFrames

    eps = []
    for i in range(n):
        theta = 2 * np.pi * i / n
        ep = make_robot_episode(i, T=T, size=size, task=("push", "reach")[i % 2])
        rng = np.random.default_rng(i)
        t = np.arange(T)
        phase = np.sin(2 * np.pi * t / T)
        ep.actions = np.stack([np.full(T, np.cos(theta)), np.full(T, np.sin(theta)), phase,
                               (t > T // 2).astype(float)], 1).astype(np.float32) + 0.01 * rng.normal(size=(T, 4)).astype(np.float32)
        ep.ee_pos = np.cumsum(0.05 * ep.actions[:, :3], axis=0)
        ep.ee_quat = np.tile([0.0, 0.0, 0.0, 1.0], (T, 1))
        ep.gripper = ep.actions[:, 3].astype(np.float64)
        ep.state[:, 4:7] = ep.ee_pos + np.array([0.1, 0.6, 0.02])
        ep.cameras["scene"].rgb = ArrayFrames(direction_frames(theta, T, size))
        eps.append(ep)
    return eps
