"""LeRobot interop: datasets we write are laid out as LeRobot writes them, stream through Rerun's
reader, and what LeRobot's tools make of them (reproduced in ``lerobot_layout.py``) loads back."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from conftest import make_hand_episode, make_robot_episode
from lerobot_layout import aggregate_like_lerobot, append_like_lerobot, delete_like_lerobot, make_legacy

from workbench.data import DataError, load_dataset, write_lerobot
from workbench.data.lerobot.stats import QUANTILES, aggregate_stats, feature_stats, image_stats
from workbench.types import Episode

LEROBOT_EPISODE_COLUMNS = ["episode_index", "tasks", "length", "data/chunk_index", "data/file_index",
                           "dataset_from_index", "dataset_to_index"]  # fmt: skip
STAT_NAMES = ["min", "max", "mean", "std", "count", *QUANTILES]


@pytest.fixture
def ds_root(tmp_path, robot_episodes):
    return write_lerobot(robot_episodes, tmp_path / "ds", lossless=True)


def assert_same(a: Episode, b: Episode, *, rgb_exact: bool = True) -> None:
    """Every stream of ``b`` equals ``a``'s (``b`` may be renumbered)."""
    assert len(a) == len(b)
    np.testing.assert_array_equal(b.actions, a.actions)
    for f in ("state", "ee_pos", "ee_quat", "gripper", "hand_keypoints", "hand_confidence"):
        x, y = getattr(a, f), getattr(b, f)
        assert (x is None) == (y is None), f
        if x is not None:
            np.testing.assert_array_equal(y, x, err_msg=f)
    assert (b.instruction, b.camera_setup) == (a.instruction, a.camera_setup)
    for name, ca in a.cameras.items():
        cb = b.cameras[name]
        np.testing.assert_array_equal(cb.intrinsics, ca.intrinsics)
        np.testing.assert_array_equal(cb.extrinsics, ca.extrinsics)
        np.testing.assert_array_equal(cb.depth.load(), ca.depth.load())
        np.testing.assert_array_equal(cb.segmentation.load(), ca.segmentation.load())
        assert (cb.setup, cb.segmentation_labels) == (ca.setup, ca.segmentation_labels)
        if rgb_exact:
            np.testing.assert_array_equal(cb.rgb.load(), ca.rgb.load())


# ------------------------------------------------------------------------------------------------
# what we write
# ------------------------------------------------------------------------------------------------


def test_features_are_flat_with_layout_names_and_fps_is_an_integer(ds_root, robot_episodes):
    info = json.loads((ds_root / "meta/info.json").read_text())
    assert info["fps"] == 10 and isinstance(info["fps"], int) and "workbench" not in info
    for key, spec in info["features"].items():
        assert len(spec["shape"]) == 1 or spec["dtype"] in ("video", "image"), key
    k = info["features"]["observation.camera.scene.intrinsics"]
    assert k["shape"] == [9] and k["names"][:3] == ["K[0,0]", "K[0,1]", "K[0,2]"]
    assert info["features"]["observation.camera.scene.extrinsics"]["shape"] == [16]
    video = info["features"]["observation.images.scene"]["info"]
    # read off the file as LeRobot reads it (lossless RGB H.264 is stored as planar gbrp)
    assert video == {"video.height": 32, "video.width": 32, "video.codec": "h264", "video.pix_fmt": "gbrp",
                     "video.fps": 10, "video.channels": 3, "has_audio": False}  # fmt: skip
    assert info["features"]["observation.segmentation.scene"]["info"]["labels"] == ["rest", "gripper", "object"]
    ep = load_dataset(ds_root).episode(2)
    assert ep.cameras["scene"].intrinsics.shape == (len(ep), 3, 3) and ep.cameras["scene"].extrinsics.shape == (len(ep), 4, 4)


def test_episode_table_has_exactly_lerobots_columns(ds_root):
    info = json.loads((ds_root / "meta/info.json").read_text())
    names = pq.read_schema(ds_root / "meta/episodes/chunk-000/file-000.parquet").names
    videos = [f"videos/{k}/{c}" for k in ("observation.images.scene", "observation.images.wrist")
              for c in ("chunk_index", "file_index", "from_timestamp", "to_timestamp")]  # fmt: skip
    stats = [f"stats/{k}/{s}" for k in info["features"] for s in STAT_NAMES]
    assert names == LEROBOT_EPISODE_COLUMNS + videos + stats + ["meta/episodes/chunk_index", "meta/episodes/file_index"]


def test_stats_json_covers_every_feature(ds_root, robot_episodes):
    info = json.loads((ds_root / "meta/info.json").read_text())
    stats = json.loads((ds_root / "meta/stats.json").read_text())
    assert set(stats) == set(info["features"])  # images, videos, depth, segmentation and bookkeeping too
    assert all(list(s) == STAT_NAMES for s in stats.values())
    for key in ("observation.images.scene", "observation.depth.scene", "observation.segmentation.wrist"):
        assert np.shape(stats[key]["mean"]) == (3, 1, 1)
    frames = np.concatenate([e.cameras["scene"].rgb.load() for e in robot_episodes]).reshape(-1, 3) / 255
    np.testing.assert_allclose(np.reshape(stats["observation.images.scene"]["mean"], 3), frames.mean(0), rtol=1e-9)
    assert stats["index"]["max"] == [sum(len(e) for e in robot_episodes) - 1]


def test_feature_stats_on_a_known_ramp():
    x = np.linspace(0.0, 1000.0, 1001)[:, None]  # quantile q of a ramp is 1000 q
    s = feature_stats(x)
    for key, q in QUANTILES.items():
        assert abs(s[key][0] - 1000 * q) <= 1.0, key  # within the spacing of the values
    assert (s["min"][0], s["max"][0], s["count"][0]) == (0.0, 1000.0, 1001)
    np.testing.assert_allclose(s["std"], x.std(0), rtol=1e-12)


def test_pooled_stats_equal_stats_of_all_frames():
    rng = np.random.default_rng(0)
    parts = [rng.normal(loc=i, size=(n, 3)) for i, n in enumerate((5, 17, 40))]
    pooled = aggregate_stats([{"x": feature_stats(p)} for p in parts])["x"]
    every = np.concatenate(parts)
    np.testing.assert_allclose(pooled["mean"], every.mean(0), rtol=1e-12)
    np.testing.assert_allclose(pooled["std"], every.std(0), rtol=1e-12)
    np.testing.assert_array_equal(pooled["min"], every.min(0))
    assert pooled["count"].tolist() == [62]


def test_image_stats_of_flat_colours():
    frames = np.broadcast_to(np.array([0, 51, 255], dtype=np.uint8), (7, 8, 8, 3))
    s = image_stats(frames)
    np.testing.assert_allclose(s["mean"].reshape(3), [0.0, 0.2, 1.0], atol=1e-12)
    np.testing.assert_allclose(s["q50"].reshape(3), [0.0, 0.2, 1.0], atol=1e-9)
    assert s["std"].shape == (3, 1, 1) and s["count"].tolist() == [7]


def test_each_episode_video_starts_on_a_key_frame(tmp_path):
    import av

    smooth = [make_robot_episode(i, T=30) for i in range(3)]
    for ep in smooth:  # smooth frames: the encoder would not choose key frames by itself
        ep.cameras["scene"].rgb.array = np.broadcast_to(np.arange(32, dtype=np.uint8)[None, :, None, None] * 4, (30, 32, 32, 3)).copy()
    root = write_lerobot(smooth, tmp_path / "ds")
    with av.open(str(root / "videos/observation.images.scene/chunk-000/file-000.mp4")) as c:
        s = c.streams.video[0]
        keys = [round(float(p.pts * s.time_base) * 10) for p in c.demux(s) if p.is_keyframe and p.pts is not None]
    assert {0, 30, 60} <= set(keys)


def test_fps_must_be_a_whole_number(tmp_path):
    ep = make_robot_episode(0)
    with pytest.raises(DataError, match="integer"):
        write_lerobot([ep], tmp_path / "ds", fps=29.97)
    assert not (tmp_path / "ds").exists()


def test_hand_skeleton_travels_in_the_feature(tmp_path):
    eps = [make_hand_episode(i) for i in range(2)]
    root = write_lerobot(eps, tmp_path / "hands", lossless=True)
    spec = json.loads((root / "meta/info.json").read_text())["features"]["observation.hand_keypoints"]
    assert spec["shape"] == [42 * 16] and spec["names"][0] == "T[0,0,0]"
    back = load_dataset(root).episode(1)
    np.testing.assert_array_equal(back.hand_keypoints, eps[1].hand_keypoints)
    assert back.skeleton == eps[1].skeleton


def test_rerun_reader_streams_every_episode(ds_root):
    from rerun.experimental import LeRobotReader

    reader = LeRobotReader(ds_root)
    assert reader.episodes() == [0, 1, 2, 3]
    for e in reader.episodes():
        paths = {str(c.entity_path) for c in reader.stream(e).to_chunks()}
        assert {"/action", "/observation.camera.scene.intrinsics", "/observation.images.scene", "/observation.depth.wrist"} <= paths


# ------------------------------------------------------------------------------------------------
# what LeRobot's tools make of it
# ------------------------------------------------------------------------------------------------


def test_reads_a_lerobot_append(ds_root, robot_episodes):
    append_like_lerobot(ds_root, [0, 3])
    schemas = [pq.read_schema(f) for f in sorted((ds_root / "meta/episodes").rglob("*.parquet"))]
    assert len(schemas) == 2 and schemas[0].equals(schemas[1])  # one schema: LeRobot reads it too
    ds = load_dataset(ds_root)
    assert [i.index for i in ds.infos] == [0, 1, 2, 3, 4, 5]
    for pos, src in enumerate([0, 1, 2, 3, 0, 3]):
        assert_same(robot_episodes[src], ds[pos])
        assert (ds.infos[pos].task, ds.infos[pos].success) == (robot_episodes[src].task, robot_episodes[src].success)


def test_reads_a_lerobot_append_to_an_older_dataset(ds_root, robot_episodes):
    make_legacy(ds_root)
    old = load_dataset(ds_root)
    assert old.fps == 10.0 and old.episode(1).cameras["scene"].intrinsics.shape == (11, 3, 3)
    append_like_lerobot(ds_root, [1])
    names = [pq.read_schema(f).names for f in sorted((ds_root / "meta/episodes").rglob("*.parquet"))]
    assert "workbench/task" in names[0] and "workbench/task" not in names[1]  # mixed schemas
    ds = load_dataset(ds_root)
    assert len(ds) == 5
    for pos, src in enumerate([0, 1, 2, 3]):
        assert_same(robot_episodes[src], ds[pos])
        assert (ds[pos].task, ds[pos].success, ds[pos].source) == (robot_episodes[src].task, robot_episodes[src].success, "synthetic")
    new = ds[4]
    np.testing.assert_array_equal(new.actions, robot_episodes[1].actions)
    assert new.task == robot_episodes[1].task  # named from the older episodes with its instruction
    assert new.success is None  # the older layout kept success where LeRobot's append does not write it


def test_reads_after_delete_episodes(ds_root, tmp_path, robot_episodes):
    delete_like_lerobot(ds_root, tmp_path / "deleted", drop=[1])
    ds = load_dataset(tmp_path / "deleted")
    assert [i.index for i in ds.infos] == [0, 1, 2] and ds.num_frames == sum(len(robot_episodes[i]) for i in (0, 2, 3))
    for pos, src in enumerate([0, 2, 3]):
        assert_same(robot_episodes[src], ds[pos])
        assert ds.infos[pos].success == robot_episodes[src].success  # kept in the data and its stats
        # our notes file is not copied: the task is named again from a simulator template, else the text
        instr = robot_episodes[src].instruction
        assert ds.infos[pos].task == (robot_episodes[src].task if instr == "push the puck to the goal" else instr)


def test_reads_after_aggregate_datasets(ds_root, tmp_path, robot_episodes):
    other = write_lerobot([make_robot_episode(i, T=9, seed=50, task="reach") for i in range(2)], tmp_path / "other", lossless=True)
    aggregate_like_lerobot([ds_root, other], tmp_path / "merged")
    ds = load_dataset(tmp_path / "merged")
    assert len(ds) == 6
    for pos, src in enumerate(robot_episodes):
        assert_same(src, ds[pos])
    assert_same(make_robot_episode(1, T=9, seed=50, task="reach"), ds[5])
    assert {i.success for i in ds.infos[4:]} == {False, True}


def test_aggregate_refuses_datasets_whose_features_differ(ds_root, tmp_path):
    """Our per-dataset notes live outside ``features``, so two workbench datasets of the same robot
    have equal features and merge; different streams are refused, as LeRobot refuses them."""
    other = write_lerobot([make_robot_episode(0, T=9, task="reach")], tmp_path / "o", lossless=True, extra_meta={"x": 1})
    aggregate_like_lerobot([ds_root, other], tmp_path / "ok")
    hands = write_lerobot([make_hand_episode(0)], tmp_path / "hands", lossless=True)
    with pytest.raises(ValueError, match="Same features"):
        aggregate_like_lerobot([ds_root, hands], tmp_path / "no")


def test_episode_files_that_disagree_are_named_as_such(ds_root):
    append_like_lerobot(ds_root, [0])
    f = ds_root / "meta/episodes/chunk-000/file-001.parquet"
    t = pq.read_table(f)
    pq.write_table(t.drop(["dataset_from_index"]), f)
    with pytest.raises(DataError) as e:
        load_dataset(ds_root)
    assert "file-001.parquet" in str(e.value) and "dataset_from_index" in str(e.value) and "truncated" not in str(e.value)


def test_episodes_without_cameras_keep_their_facts(tmp_path):
    import dataclasses

    eps = [dataclasses.replace(make_robot_episode(i, T=6), cameras={}, extras={"seed": np.full((6, 1), 7)}) for i in range(2)]
    ds = load_dataset(write_lerobot(eps, tmp_path / "ds"))
    back = ds[1]
    assert (back.camera_setup.value, back.success, ds.infos[1].camera_setup) == ("dynamic", True, "dynamic")
    np.testing.assert_array_equal(back.extras["seed"], np.full(6, 7))
    np.testing.assert_array_equal(back.actions, eps[1].actions)


def test_task_names_survive_lerobots_tools_for_simulated_tasks(tmp_path):
    """LeRobot's delete / merge / convert write a new folder without meta/workbench.json; a task
    recorded with one of the simulator's instruction templates is named again from its text."""
    import dataclasses
    import shutil

    from workbench.sim.instructions import METAWORLD_INSTRUCTIONS

    eps = [dataclasses.replace(make_robot_episode(i, T=6, task=t), instruction=METAWORLD_INSTRUCTIONS[t])
           for i, t in enumerate(["reach", "pick-place"])]
    eps.append(dataclasses.replace(make_robot_episode(2, T=6, task="stack"), instruction="stack the blocks"))
    root = write_lerobot(eps, tmp_path / "d")
    assert [i.task for i in load_dataset(root).infos] == ["reach", "pick-place", "stack"]
    (root / "meta" / "workbench.json").unlink()  # what LeRobot's tools leave behind
    assert [i.task for i in load_dataset(root).infos] == ["reach", "pick-place", "stack the blocks"]
    shutil.rmtree(root)
