"""Every kind of bad input gives a DataError naming the file, the episode and the problem."""

from __future__ import annotations

import json
import subprocess
import sys

import h5py
import numpy as np
import pandas as pd
import pytest
from conftest import make_robot_episode

from workbench.cli import main
from workbench.data import DataError, load_dataset, validate_dataset, write_hand_pose, write_lerobot, write_robomimic


@pytest.fixture
def v3(tmp_path, robot_episodes):
    return write_lerobot(robot_episodes, tmp_path / "ds")


def _rewrite_data(root, fn):
    """Apply ``fn`` to the data table of a LeRobot v3 dataset (as a broken exporter would)."""
    f = root / "data/chunk-000/file-000.parquet"
    import pyarrow.parquet as pq

    t = pq.read_table(f)
    pq.write_table(fn(t), f)


def test_missing_path(tmp_path):
    with pytest.raises(DataError, match="does not exist") as e:
        load_dataset(tmp_path / "nope")
    assert "nope" in str(e.value)


def test_unknown_layout(tmp_path):
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(DataError, match="unknown dataset layout"):
        load_dataset(tmp_path)


def test_bad_info_json(v3):
    (v3 / "meta/info.json").write_text("{not json")
    with pytest.raises(DataError, match="info.json"):
        load_dataset(v3)


def test_truncated_parquet(v3):
    f = v3 / "data/chunk-000/file-000.parquet"
    f.write_bytes(f.read_bytes()[:200])
    with pytest.raises(DataError) as e:
        load_dataset(v3)
    assert "file-000.parquet" in str(e.value) and "truncated" in str(e.value)


def test_truncated_video_found_by_validate(v3):
    mp4 = v3 / "videos/observation.images.scene/chunk-000/file-000.mp4"
    mp4.write_bytes(mp4.read_bytes()[: mp4.stat().st_size // 3])
    ds = load_dataset(v3)  # listing reads no video
    with pytest.raises(DataError) as e:
        ds[3].cameras["scene"].rgb.load()
    assert "file-000.mp4" in str(e.value) and "episode 3" in str(e.value)
    problems = validate_dataset(v3)
    assert problems and all("mp4" in p for p in problems)


def test_missing_video(v3):
    (v3 / "videos/observation.images.wrist/chunk-000/file-000.mp4").unlink()
    with pytest.raises(DataError, match="video file is missing"):
        load_dataset(v3)
    lenient = load_dataset(v3, strict=False)
    assert len(lenient) == 0 and len(lenient.problems) == 4


def test_nan_values_lenient_mode_serves_good_episodes(v3, robot_episodes):
    import pyarrow as pa

    def poison(t):
        a = np.stack(t.column("action").to_numpy(zero_copy_only=False))
        ep = t.column("episode_index").to_numpy()
        a[(ep == 2).nonzero()[0][3], 1] = np.nan
        return t.set_column(t.schema.get_field_index("action"), "action", pa.array(list(a), type=t.schema.field("action").type))

    _rewrite_data(v3, poison)
    ds = load_dataset(v3)
    with pytest.raises(DataError) as e:
        ds.episode(2)
    msg = str(e.value)
    assert "episode 2" in msg and "actions" in msg and "NaN" in msg and "file-000.parquet" in msg
    lenient = load_dataset(v3, strict=False)
    assert [i.index for i in lenient.infos] == [0, 1, 3]
    assert len(lenient.problems) == 1 and lenient.problems[0].episode == 2
    np.testing.assert_array_equal(lenient.episode(3).actions, robot_episodes[3].actions)


def test_non_monotonic_timestamps(v3):
    import pyarrow as pa

    def shuffle_ts(t):
        ts = t.column("timestamp").to_numpy().copy()
        ts[[4, 5]] = ts[[5, 4]]
        return t.set_column(t.schema.get_field_index("timestamp"), "timestamp", pa.array(ts, type=pa.float32()))

    _rewrite_data(v3, shuffle_ts)
    with pytest.raises(DataError, match="timestamps are not strictly increasing") as e:
        load_dataset(v3)[0]
    assert "episode 0" in str(e.value)


def test_empty_episode_in_metadata(v3):
    f = v3 / "meta/episodes/chunk-000/file-000.parquet"
    eps = pd.read_parquet(f)
    eps.loc[1, "length"] = 0
    eps.to_parquet(f)
    with pytest.raises(DataError, match="empty") as e:
        load_dataset(v3)
    assert "episode 1" in str(e.value)
    assert [i.index for i in load_dataset(v3, strict=False).infos] == [0, 2, 3]


def test_robomimic_wrong_shape_and_length(tmp_path, robot_episodes):
    path = write_robomimic(robot_episodes, tmp_path / "d.hdf5")
    with h5py.File(path, "a") as f:
        del f["data/demo_1/obs/robot0_eef_pos"]
        f["data/demo_1/obs/robot0_eef_pos"] = np.zeros((len(robot_episodes[1]), 2))
        del f["data/demo_2/obs/state"]
        f["data/demo_2/obs/state"] = np.zeros((3, 39))
        f.create_group("data/demo_9").create_dataset("actions", data=np.zeros((0, 4)))
    with pytest.raises(DataError, match="empty"):
        load_dataset(path)
    ds = load_dataset(path, strict=False)
    assert [i.index for i in ds.infos] == [0, 3]
    msgs = {p.episode: p.problem for p in ds.problems}
    assert "ee_pos has shape" in msgs[1]
    assert "state has 3 steps but actions have" in msgs[2]
    assert all("d.hdf5" in str(p) for p in ds.problems)


def test_truncated_hdf5(tmp_path, robot_episodes, hand_episodes):
    path = write_robomimic(robot_episodes, tmp_path / "d.hdf5")
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(DataError) as e:
        from workbench.data import RobomimicDataset

        RobomimicDataset(path)
    assert "d.hdf5" in str(e.value)
    root = write_hand_pose(hand_episodes, tmp_path / "hands")
    f = root / "grasp/1.hdf5"
    f.write_bytes(f.read_bytes()[:500])
    with pytest.raises(DataError, match="1.hdf5"):
        load_dataset(root)
    ds = load_dataset(root, strict=False)
    assert [i.index for i in ds.infos] == [0, 2] and "1.hdf5" in ds.problems[0].path


def test_writer_refuses_bad_episodes(tmp_path):
    ep = make_robot_episode(0, T=6)
    ep.ee_pos = ep.ee_pos[:4]
    with pytest.raises(DataError, match="ee_pos has 4 steps"):
        write_lerobot([ep], tmp_path / "ds")
    assert not (tmp_path / "ds").exists()  # nothing half-written


def test_cli_info_and_validate(v3, capsys):
    assert main(["data", "info", str(v3), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["episodes"] == 4 and info["action_dim"] == 4 and set(info["cameras"]) == {"scene", "wrist"}
    assert {"rgb", "depth", "segmentation", "ee_pose"} <= set(info["modalities"])
    assert main(["data", "validate", str(v3), "--quiet"]) == 0
    (v3 / "videos/observation.images.scene/chunk-000/file-000.mp4").write_bytes(b"garbage")
    assert main(["data", "validate", str(v3), "--quiet"]) == 1
    assert "file-000.mp4" in capsys.readouterr().out


def test_cli_errors_are_one_line_without_traceback(tmp_path):
    r = subprocess.run([sys.executable, "-m", "workbench.cli", "data", "info", str(tmp_path / "missing")],
                       capture_output=True, text=True)  # fmt: skip
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "Traceback" not in r.stderr
    assert "missing" in r.stderr and "does not exist" in r.stderr
