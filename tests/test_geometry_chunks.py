"""Chunk maths, rotations and normalisation statistics."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_hand_episode, make_robot_episode

from workbench.data.chunks import action_chunks, dataset_chunks, ee_chunks, hand_chunks
from workbench.data.normalize import compute_norm_stats, load_stats, save_stats, split_episodes
from workbench.geometry import (
    backproject_depth,
    invert_pose,
    look_at,
    make_pose,
    matrix_from_rot6d,
    matrix_to_quat,
    pose_to_9d,
    quat_to_matrix,
    relative_pose,
    rot6d_from_matrix,
)
from workbench.types import EpisodeInfo

rng = np.random.default_rng(0)


def random_rotations(n: int) -> np.ndarray:
    q = rng.normal(size=(n, 4))
    return quat_to_matrix(q)


def test_rotations_are_orthonormal_and_quat_round_trips():
    R = random_rotations(200)
    np.testing.assert_allclose(R @ np.swapaxes(R, -1, -2), np.broadcast_to(np.eye(3), R.shape), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(R), 1.0, atol=1e-12)
    np.testing.assert_allclose(quat_to_matrix(matrix_to_quat(R)), R, atol=1e-12)
    # scipy's convention (scalar last) is ours
    from scipy.spatial.transform import Rotation

    q = matrix_to_quat(R)
    np.testing.assert_allclose(Rotation.from_quat(q).as_matrix(), R, atol=1e-12)


def test_rot6d_round_trip_and_gram_schmidt():
    R = random_rotations(100)
    r6 = rot6d_from_matrix(R)
    assert r6.shape == (100, 6)
    np.testing.assert_allclose(matrix_from_rot6d(r6), R, atol=1e-12)
    # any non-degenerate 6-vector maps onto SO(3), and scaling it changes nothing
    M = matrix_from_rot6d(rng.normal(size=(50, 6)))
    np.testing.assert_allclose(np.linalg.det(M), 1.0, atol=1e-12)
    np.testing.assert_allclose(matrix_from_rot6d(3.0 * r6), R, atol=1e-12)


def test_relative_pose_of_identical_poses_is_identity():
    T = make_pose(random_rotations(20), rng.normal(size=(20, 3)))
    rel = relative_pose(T, T)
    np.testing.assert_allclose(rel, np.broadcast_to(np.eye(4), rel.shape), atol=1e-12)
    np.testing.assert_allclose(pose_to_9d(rel), np.broadcast_to([0, 0, 0, 1, 0, 0, 0, 1, 0], (20, 9)), atol=1e-12)
    np.testing.assert_allclose(invert_pose(T) @ T, np.broadcast_to(np.eye(4), T.shape), atol=1e-12)
    # and composing back gives the target
    T2 = make_pose(random_rotations(20), rng.normal(size=(20, 3)))
    np.testing.assert_allclose(T @ relative_pose(T, T2), T2, atol=1e-12)


def test_look_at_and_backprojection():
    E = look_at(np.array([1.0, 0.0, 0.5]), np.zeros(3))
    K = np.array([[50.0, 0, 16], [0, 50.0, 16], [0, 0, 1]])
    depth = np.zeros((32, 32))
    d = np.linalg.norm([1.0, 0.0, 0.5])
    depth[16, 16] = d  # the principal point sees the target at distance d
    pts = backproject_depth(depth, K, E)
    np.testing.assert_allclose(pts, [[0.0, 0.0, 0.0]], atol=1e-12)


def test_hand_chunks_shapes_masks_and_values():
    ep = make_hand_episode(0, T=10)
    c, m = hand_chunks(ep.hand_keypoints, horizon=4)
    assert c.shape == (10, 4, 42 * 9) and m.shape == (10, 4)
    # the chunk at t, step i, is the pose at t+i+1 relative to t
    t, i, k = 3, 2, 7
    want = pose_to_9d(relative_pose(ep.hand_keypoints[t, k], ep.hand_keypoints[t + i + 1, k]))
    np.testing.assert_allclose(c[t, i, 9 * k : 9 * k + 9], want, atol=1e-6)
    # masks at the end: base 9 has no future, base 7 has 2 future steps
    assert not m[9].any() and m[7].tolist() == [True, True, False, False] and m[0].all()
    # a hand that does not move gives identity chunks
    still = np.broadcast_to(ep.hand_keypoints[:1], ep.hand_keypoints.shape)
    c2, _ = hand_chunks(still, horizon=3)
    np.testing.assert_allclose(c2.reshape(-1, 9), np.broadcast_to([0, 0, 0, 1, 0, 0, 0, 1, 0], (c2.size // 9, 9)), atol=1e-6)


def test_action_chunks_pad_with_last_step_and_stride():
    a = np.arange(10, dtype=np.float32)[:, None]
    c, m = action_chunks(a, horizon=4, stride=3)
    assert c.shape == (4, 4, 1)
    assert c[:, :, 0].tolist() == [[0, 1, 2, 3], [3, 4, 5, 6], [6, 7, 8, 9], [9, 9, 9, 9]]
    assert m.tolist()[-1] == [True, False, False, False]
    with pytest.raises(ValueError, match="horizon"):
        action_chunks(a, horizon=0)
    with pytest.raises(ValueError, match="stride"):
        action_chunks(a, horizon=2, stride=0)


def test_ee_chunks_layout_and_orientation_weight():
    ep = make_robot_episode(0, T=8)
    c, m = ee_chunks(ep.ee_pos, ep.ee_quat, ep.gripper, horizon=5, orientation_weight=0.5)
    assert c.shape == (8, 5, 10)
    np.testing.assert_allclose(c[2, 1, :3], ep.ee_pos[3], atol=1e-6)
    np.testing.assert_allclose(c[2, 1, 3:9], 0.5 * rot6d_from_matrix(quat_to_matrix(ep.ee_quat[3])), atol=1e-6)
    np.testing.assert_allclose(c[2, 1, 9], ep.gripper[3], atol=1e-6)
    rel, _ = ee_chunks(ep.ee_pos, ep.ee_quat, None, horizon=3, relative=True, orientation_weight=1.0)
    np.testing.assert_allclose(rel[:, 0, :9], np.broadcast_to([0, 0, 0, 1, 0, 0, 0, 1, 0], (8, 9)), atol=1e-6)


def test_dataset_chunks_track_episode_and_time(robot_episodes):
    ch = dataset_chunks(robot_episodes, "ee", horizon=4, stride=2)
    assert len(ch) == sum((len(e) + 1) // 2 for e in robot_episodes)
    assert ch.episode.tolist()[:5] == [0] * 5 and ch.time.tolist()[:5] == [0, 2, 4, 6, 8]
    with pytest.raises(ValueError, match="hand_keypoints"):
        dataset_chunks(robot_episodes, "hand", horizon=4)


def test_stats_ignore_padding_and_round_trip(tmp_path):
    v = rng.normal(size=(20, 4, 3)) * [1, 2, 3] + [5, 0, -1]
    mask = np.ones((20, 4), bool)
    mask[-3:, 2:] = False
    v[~mask] = 1e6  # padding must not leak into the statistics
    s = compute_norm_stats(v, mask)
    np.testing.assert_allclose(s.mean, v[mask].mean(0))
    np.testing.assert_allclose(s.std, v[mask].std(0))
    z = s.normalize(v[mask])
    np.testing.assert_allclose(z.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(z.std(0), 1, atol=1e-5)
    np.testing.assert_allclose(s.unnormalize(z), v[mask], rtol=1e-5)
    save_stats(tmp_path / "s.json", {"ee/h4": s})
    back = load_stats(tmp_path / "s.json")["ee/h4"]
    np.testing.assert_array_equal(back.mean, s.mean)
    assert back.count == int(mask.sum())


def test_split_is_stratified_and_deterministic():
    infos = [EpisodeInfo(i, 10, task=("a", "b", "c")[i % 3]) for i in range(24)]
    s1, s2 = split_episodes(infos, 0.25, seed=1), split_episodes(infos, 0.25, seed=1)
    assert s1 == s2 and len(s1["val"]) == 6
    assert sorted(s1["train"] + s1["val"]) == list(range(24))
    assert {infos[i].task for i in s1["val"]} == {"a", "b", "c"}
    assert split_episodes(infos, 0.25, seed=2) != s1


def _rz_quat(deg: float) -> np.ndarray:
    h = np.deg2rad(deg) / 2
    return np.array([0.0, 0.0, np.sin(h), np.cos(h)])


def test_ee_relative_chunks_against_a_hand_computed_example():
    """CAIP §2.4.2: the action at offset i is T_t⁻¹·T_{t+i}, i = 1 … H, as translation + 6-D rotation."""
    from workbench.data.chunks import ee_relative_chunks

    # base pose: rotated 90° about z at (1, 0, 0); then a step along world +y; then a further 90° turn
    pos = np.array([[1.0, 0, 0], [1, 1, 0], [1, 1, 0]])
    quat = np.stack([_rz_quat(90), _rz_quat(90), _rz_quat(180)])
    grip = np.array([0.1, 0.2, 0.3])
    c, m = ee_relative_chunks(pos, quat, grip, horizon=2)
    assert c.shape == (3, 2, 10) and m.tolist() == [[True, True], [True, False], [False, False]]
    # i = 1: world +y seen from a frame turned 90° is its +x; no relative rotation
    np.testing.assert_allclose(c[0, 0], [1, 0, 0, 1, 0, 0, 0, 1, 0, 0.2], atol=1e-6)
    # i = 2: same translation, relative rotation Rz(90°): columns (0, 1, 0) and (−1, 0, 0)
    np.testing.assert_allclose(c[0, 1], [1, 0, 0, 0, 1, 0, -1, 0, 0, 0.3], atol=1e-6)
    # the relative transform of a pose to itself (offset i = 0) is the identity
    np.testing.assert_allclose(pose_to_9d(relative_pose(np.eye(4)[None], np.eye(4)[None]))[0], [0, 0, 0, 1, 0, 0, 0, 1, 0])
    T0 = np.eye(4)
    T0[:3, 3] = pos[0]
    T0[:3, :3] = [[0, -1, 0], [1, 0, 0], [0, 0, 1]]
    np.testing.assert_allclose(pose_to_9d(relative_pose(T0, T0)), [0, 0, 0, 1, 0, 0, 0, 1, 0], atol=1e-12)
    # past the end the last pose repeats (masked)
    np.testing.assert_allclose(c[1, 1], c[1, 0])


def test_relative_chunks_use_hands_when_present_else_the_end_effector(robot_episodes):
    from workbench.data.chunks import ee_relative_chunks, episode_chunks

    hand = make_hand_episode(0, T=10)
    c, m = episode_chunks(hand, "relative", horizon=4)
    want, want_m = hand_chunks(hand.hand_keypoints, horizon=4)
    np.testing.assert_array_equal(c, want)
    np.testing.assert_array_equal(m, want_m)
    ep = robot_episodes[0]
    c, m = episode_chunks(ep, "relative", horizon=4)
    want, _ = ee_relative_chunks(ep.ee_pos, ep.ee_quat, ep.gripper, horizon=4)
    np.testing.assert_array_equal(c, want)
    assert c.shape[-1] == 9 + np.asarray(ep.gripper).reshape(len(ep), -1).shape[1]
