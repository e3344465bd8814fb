"""Write → read round trips for every format, and layout detection."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import make_robot_episode

from workbench.data import (
    HandPoseDataset,
    LeRobotDataset,
    RobomimicDataset,
    detect_layout,
    load_dataset,
    write_hand_pose,
    write_lerobot,
    write_robomimic,
)
from workbench.types import Episode, Layout


def assert_same_episode(a: Episode, b: Episode, *, timestamps_exact: bool = True) -> None:
    assert b.index == a.index
    np.testing.assert_array_equal(b.actions, a.actions)
    for name in ("ee_pos", "ee_quat", "gripper", "state", "hand_keypoints", "hand_confidence"):
        x, y = getattr(a, name), getattr(b, name)
        assert (x is None) == (y is None), name
        if x is not None:
            np.testing.assert_array_equal(np.asarray(y), np.asarray(x), err_msg=name)
    if timestamps_exact:
        np.testing.assert_array_equal(b.timestamps, a.timestamps)
    else:  # LeRobot stores timestamps as float32
        np.testing.assert_array_equal(b.timestamps, a.timestamps.astype(np.float32))
    assert (b.task, b.instruction, b.success, b.camera_setup) == (a.task, a.instruction, a.success, a.camera_setup)
    assert set(b.cameras) == set(a.cameras)
    for name, ca in a.cameras.items():
        cb = b.cameras[name]
        np.testing.assert_array_equal(cb.rgb.load(), ca.rgb.load(), err_msg=f"{name} rgb")
        for what in ("depth", "segmentation"):
            x, y = getattr(ca, what), getattr(cb, what)
            assert (x is None) == (y is None), what
            if x is not None:
                assert y.load().dtype == x.load().dtype
                np.testing.assert_array_equal(y.load(), x.load(), err_msg=f"{name} {what}")
        np.testing.assert_array_equal(cb.intrinsics, ca.intrinsics)
        np.testing.assert_array_equal(cb.extrinsics, ca.extrinsics)
        assert cb.setup == ca.setup


@pytest.mark.parametrize("version,per_file", [("v3.0", None), ("v3.0", 2), ("v2.1", None)])
def test_lerobot_round_trip(tmp_path, robot_episodes, version, per_file):
    root = write_lerobot(robot_episodes, tmp_path / "ds", version=version, lossless=True, episodes_per_file=per_file)
    ds = load_dataset(root)
    assert isinstance(ds, LeRobotDataset) and ds.version == version
    assert len(ds) == len(robot_episodes)
    assert ds.num_frames == sum(len(e) for e in robot_episodes)
    for a in robot_episodes:
        assert_same_episode(a, ds.episode(a.index), timestamps_exact=False)


def test_lerobot_v3_layout_is_lerobots(tmp_path, robot_episodes):
    root = write_lerobot(robot_episodes, tmp_path / "ds", episodes_per_file=2)
    info = json.loads((root / "meta/info.json").read_text())
    assert info["codebase_version"] == "v3.0" and info["total_episodes"] == 4
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*.parquet")) == [
        "data/chunk-000/file-000.parquet",
        "data/chunk-000/file-001.parquet",
        "meta/episodes/chunk-000/file-000.parquet",
        "meta/tasks.parquet",
    ]
    assert (root / "videos/observation.images.scene/chunk-000/file-001.mp4").is_file()
    import pandas as pd

    eps = pd.read_parquet(root / "meta/episodes/chunk-000/file-000.parquet")
    # episodes are contiguous row ranges of the global frame index
    assert list(eps["dataset_from_index"][1:]) == list(eps["dataset_to_index"][:-1])
    assert (eps["dataset_to_index"] - eps["dataset_from_index"] == eps["length"]).all()
    # the second file's videos start again at t = 0
    assert eps["videos/observation.images.scene/from_timestamp"].tolist()[2] == 0.0
    tasks = pd.read_parquet(root / "meta/tasks.parquet")
    assert set(tasks.index) == {e.instruction for e in robot_episodes}
    stats = json.loads((root / "meta/stats.json").read_text())
    allactions = np.concatenate([e.actions for e in robot_episodes]).astype(np.float64)
    np.testing.assert_allclose(stats["action"]["mean"], allactions.mean(0), rtol=1e-6)


def test_lossy_video_is_close(tmp_path):
    ep = make_robot_episode(0, T=12)
    smooth = np.broadcast_to(np.linspace(0, 255, 32, dtype=np.uint8)[None, None, :, None], (12, 32, 32, 3)).copy()
    ep.cameras["scene"].rgb.array = smooth
    ds = load_dataset(write_lerobot([ep], tmp_path / "ds", crf=18))
    got = ds[0].cameras["scene"].rgb.load().astype(int)
    assert np.abs(got - smooth).mean() < 3


def test_robomimic_round_trip(tmp_path, robot_episodes):
    path = write_robomimic(robot_episodes, tmp_path / "demo.hdf5", splits={"train": [0, 1, 2], "valid": [3]})
    ds = load_dataset(path)
    assert isinstance(ds, RobomimicDataset)
    assert ds.splits == {"train": ["demo_0", "demo_1", "demo_2"], "valid": ["demo_3"]}
    for a in robot_episodes:
        assert_same_episode(a, ds.episode(a.index))
    assert detect_layout(tmp_path) == Layout.ROBOMIMIC  # a folder holding one robomimic file


def test_hand_pose_round_trip(tmp_path, hand_episodes):
    root = write_hand_pose(hand_episodes, tmp_path / "hands", lossless=True)
    assert sorted(p.name for p in (root / "grasp").iterdir()) == ["0.hdf5", "0.mp4", "1.hdf5", "1.mp4", "2.hdf5", "2.mp4"]
    ds = load_dataset(root)
    assert isinstance(ds, HandPoseDataset)
    for a in hand_episodes:
        b = ds.episode(a.index)
        assert_same_episode(a, b)
        assert b.skeleton == a.skeleton


def test_hand_pose_reads_egodex_joint_names(tmp_path, hand_episodes):
    import h5py

    root = write_hand_pose(hand_episodes[:1], tmp_path / "hands")
    with h5py.File(root / "grasp/0.hdf5") as f:
        names = set(f["transforms"].keys())
    assert {"leftHand", "rightHand", "camera", "leftThumbTip", "rightLittleFingerIntermediateBase"} <= names
    assert len(names) == 43  # 42 joints and the camera


def test_hand_pose_without_actions_uses_keypoint_positions(tmp_path, hand_episodes):
    import h5py

    root = write_hand_pose(hand_episodes[:1], tmp_path / "hands")
    with h5py.File(root / "grasp/0.hdf5", "a") as f:
        del f["actions"]
    ep = load_dataset(root)[0]
    np.testing.assert_array_equal(ep.actions, hand_episodes[0].hand_keypoints[:, :, :3, 3].reshape(len(ep), -1).astype(np.float32))


def test_writers_refuse_to_overwrite(tmp_path, robot_episodes, hand_episodes):
    root = write_lerobot(robot_episodes[:1], tmp_path / "ds")
    before = sorted(p.stat().st_mtime_ns for p in root.rglob("*"))
    with pytest.raises(FileExistsError):
        write_lerobot(robot_episodes, root)
    assert sorted(p.stat().st_mtime_ns for p in root.rglob("*")) == before
    write_robomimic(robot_episodes[:1], tmp_path / "a.hdf5")
    with pytest.raises(FileExistsError):
        write_robomimic(robot_episodes[:1], tmp_path / "a.hdf5")
    write_hand_pose(hand_episodes[:1], tmp_path / "h")
    with pytest.raises(FileExistsError):
        write_hand_pose(hand_episodes[:1], tmp_path / "h")


def test_reading_never_writes_into_the_dataset(tmp_path, robot_episodes):
    root = write_lerobot(robot_episodes, tmp_path / "ds")
    snapshot = {p: p.stat().st_mtime_ns for p in root.rglob("*")}
    ds = load_dataset(root)
    for ep in ds:
        for cam in ep.cameras.values():
            cam.rgb.load()
    ds.info()
    assert {p: p.stat().st_mtime_ns for p in root.rglob("*")} == snapshot


def test_listing_does_not_decode_frames(tmp_path, robot_episodes):
    root = write_lerobot(robot_episodes, tmp_path / "ds")
    for mp4 in root.rglob("*.mp4"):  # listing must not even open the videos
        mp4.write_bytes(b"")
    ds = load_dataset(root)
    assert len(ds) == 4 and ds.num_frames == sum(len(e) for e in robot_episodes)


@pytest.mark.parametrize("layout", ["lerobot", "lerobot-v2.1", "hand_pose"])
def test_one_frame_is_decoded_alone_and_equals_the_segments_frame(tmp_path, layout):
    """Indexing one frame of a fresh episode (a thumbnail) decodes that frame only, and it is the
    very frame the whole segment holds (the seek lands on it, not on its key frame)."""
    from conftest import make_hand_episode

    if layout == "lerobot":  # two episodes in one video file: the second starts mid-file
        path = write_lerobot([make_robot_episode(i, T=12) for i in range(2)], tmp_path / "ds", lossless=True)
    elif layout == "lerobot-v2.1":  # one video file per episode
        path = write_lerobot([make_robot_episode(i, T=12) for i in range(2)], tmp_path / "ds", lossless=True, version="v2.1")
    else:
        path = write_hand_pose([make_hand_episode(i, T=10) for i in range(2)], tmp_path / "hands", lossless=True)
    ds = load_dataset(path)
    for info in ds.infos:
        cam = next(iter(ds.episode(info.index).cameras))
        whole = ds.episode(info.index).cameras[cam].rgb.load()
        for i in (0, 3, len(whole) - 1, -1):
            frames = ds.episode(info.index).cameras[cam].rgb
            np.testing.assert_array_equal(frames[i], whole[i], err_msg=f"episode {info.index} frame {i}")
            assert frames._cache is None  # nothing but that frame was decoded
        with pytest.raises(IndexError):
            ds.episode(info.index).cameras[cam].rgb[len(whole)]
