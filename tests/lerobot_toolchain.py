"""Run LeRobot's own tools over a workbench dataset, then check our reader on what they made.

Not a pytest module (lerobot is not in our pins): the README's Datasets section says how it was run.

    # 1. in the workbench venv: the same episodes as LeRobot v2.1, OUT/src-v2.1
    python tests/lerobot_toolchain.py make-v21 SRC OUT
    # 2. in a venv with lerobot (0.4.4) and lerobot-doctor (0.2.0):
    python tests/lerobot_toolchain.py run SRC OUT
    # 3. in the workbench venv:
    python tests/lerobot_toolchain.py verify SRC OUT

``run`` loads SRC with ``lerobot.datasets.lerobot_dataset.LeRobotDataset`` (its video decoded by
LeRobot for every frame the resume step copies), makes ``OUT/deleted`` (``delete_episodes``), ``OUT/aggregated``
(``aggregate_datasets`` of SRC and a copy of it) and ``OUT/resumed`` (a copy of SRC reopened with
``LeRobotDataset``, two episodes recorded with ``add_frame`` + ``save_episode``, then ``finalize``),
converts ``OUT/src-v2.1`` with LeRobot's ``convert_dataset_v21_to_v30`` into ``OUT/converted``,
runs ``lerobot-doctor check`` on SRC and the results and writes ``OUT/expected.json``: which source episode
each output episode holds. ``verify`` loads every output with the workbench reader and compares
each episode with its source, stream by stream.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path


def _decode_with_pyav(video_path, timestamps, tolerance_s, backend=None):
    """lerobot 0.4's "pyav" backend goes through ``torchvision.io.VideoReader``, which torchvision
    0.28 (the one matching torch 2.13) no longer has; this does the same with PyAV directly:
    decode from the key frame before the first timestamp, take the closest frame to each query."""
    import av
    import numpy as np
    import torch

    with av.open(str(video_path)) as c:
        s = c.streams.video[0]
        c.seek(int(min(timestamps) / s.time_base), stream=s, backward=True, any_frame=False)
        frames, times = [], []
        for f in c.decode(s):
            t = float(f.pts * s.time_base)
            frames.append(f.to_ndarray(format="rgb24"))
            times.append(t)
            if t >= max(timestamps):
                break
    times_a = np.asarray(times)
    picks = [int(np.argmin(np.abs(times_a - t))) for t in timestamps]
    gaps = [abs(times_a[i] - t) for i, t in zip(picks, timestamps, strict=True)]
    assert max(gaps) < tolerance_s, f"{video_path}: frames {gaps} s away from the queried timestamps"
    return torch.from_numpy(np.stack([frames[i] for i in picks])).permute(0, 3, 1, 2).float() / 255


def run(src: Path, out: Path) -> None:
    import io

    import lerobot.datasets.video_utils as video_utils

    import numpy as np
    import pyarrow.parquet as pq
    from lerobot.datasets.aggregate import aggregate_datasets
    from lerobot.datasets.dataset_tools import delete_episodes
    from lerobot.datasets.lerobot_dataset import LeRobotDataset
    from PIL import Image

    video_utils.decode_video_frames_torchvision = _decode_with_pyav
    out.mkdir(parents=True, exist_ok=True)
    ds = LeRobotDataset("workbench/src", root=src)
    n = ds.meta.total_episodes
    print(f"loaded {src}: {n} episodes, {ds.num_frames} frames, fps {ds.fps}")
    ds[0], ds[len(ds) - 1]  # decodes video frames through lerobot's own decoder
    expected: dict[str, list[int]] = {"src": list(range(n))}

    drop = [1, 3]
    delete_episodes(ds, drop, output_dir=out / "deleted", repo_id="workbench/deleted")
    expected["deleted"] = [i for i in range(n) if i not in drop]
    print("delete_episodes: ok")

    # two sessions written by the workbench (same codec: lerobot concatenates mp4 packets, so it
    # cannot merge our H.264 with the AV1 that delete_episodes re-encodes to)
    shutil.copytree(src, out / "session2")
    aggregate_datasets(["workbench/src", "workbench/session2"], "workbench/aggregated",
                       roots=[src, out / "session2"], aggr_root=out / "aggregated")  # fmt: skip
    expected["aggregated"] = expected["src"] * 2
    print("aggregate_datasets: ok")

    shutil.copytree(src, out / "resumed")
    resumed = LeRobotDataset("workbench/resumed", root=out / "resumed")  # records AV1, lerobot's default
    features = resumed.meta.features
    table = pq.read_table(src / "data/chunk-000/file-000.parquet").to_pydict()
    copies = [0, 2]
    for e in copies:
        rows = [i for i, v in enumerate(table["episode_index"]) if v == e]
        start = ds.meta.episodes[e]["dataset_from_index"]
        for t, i in enumerate(rows):
            item = ds[start + t]
            frame: dict = {"task": item["task"]}
            for key, spec in features.items():
                if key in ("timestamp", "frame_index", "episode_index", "index", "task_index"):
                    continue
                if spec["dtype"] == "video":
                    frame[key] = (item[key].numpy().transpose(1, 2, 0) * 255).round().astype(np.uint8)
                elif spec["dtype"] == "image":
                    frame[key] = Image.open(io.BytesIO(table[key][i]["bytes"]))
                else:
                    frame[key] = np.asarray(table[key][i], dtype=spec["dtype"]).reshape(spec["shape"])
            resumed.add_frame(frame)
        resumed.save_episode()
    resumed.finalize()
    expected["resumed"] = expected["src"] + copies
    print("resume + save_episode + finalize: ok")
    LeRobotDataset("workbench/resumed", root=out / "resumed")  # lerobot reads its own append back

    if (out / "src-v2.1").is_dir():
        from lerobot.datasets.v30.convert_dataset_v21_to_v30 import convert_dataset

        shutil.copytree(out / "src-v2.1", out / "v21/workbench/converted")
        convert_dataset("workbench/converted", root=out / "v21", push_to_hub=False)
        shutil.move(out / "v21/workbench/converted", out / "converted")
        LeRobotDataset("workbench/converted", root=out / "converted")
        expected["converted"] = expected["src"]
        print("convert_dataset_v21_to_v30: ok")
    (out / "expected.json").write_text(json.dumps(expected))

    doctor = Path(sys.executable).with_name("lerobot-doctor")
    for name in ("src", *(k for k in expected if k != "src")):
        root = src if name == "src" else out / name
        report = subprocess.run([str(doctor), "check", str(root)], capture_output=True, text=True).stdout
        (out / f"doctor-{name}.txt").write_text(report)
        missing = [line.strip() for line in report.splitlines() if "not in stats" in line]
        print(f"lerobot-doctor {name}: {'missing stats: ' + ' '.join(missing) if missing else 'no missing stats'}")


def verify(src: Path, out: Path) -> None:
    import numpy as np

    from workbench.data import load_dataset

    expected = json.loads((out / "expected.json").read_text())
    source = load_dataset(src)
    eps = {i: source[i] for i in range(len(source))}
    for name in (k for k in expected if k != "src"):
        ds = load_dataset(out / name)
        assert len(ds) == len(expected[name]), (name, len(ds), len(expected[name]))
        worst = 0.0
        for pos, s in enumerate(expected[name]):
            a, b = eps[s], ds[pos]
            assert len(a) == len(b), (name, pos)
            np.testing.assert_array_equal(b.actions, a.actions)
            for f in ("state", "ee_pos", "ee_quat", "gripper"):
                x, y = getattr(a, f), getattr(b, f)
                assert (x is None) == (y is None), f
                if x is not None:
                    np.testing.assert_array_equal(y, x, err_msg=f"{name} {pos} {f}")
            assert (b.instruction, b.success, b.camera_setup) == (a.instruction, a.success, a.camera_setup), (name, pos)
            assert b.task in (a.task, a.instruction), (name, pos, b.task)
            for cam, ca in a.cameras.items():
                cb = b.cameras[cam]
                np.testing.assert_array_equal(cb.intrinsics, ca.intrinsics)
                np.testing.assert_array_equal(cb.extrinsics, ca.extrinsics)
                assert cb.setup == ca.setup and cb.segmentation_labels == ca.segmentation_labels
                for what in ("depth", "segmentation"):
                    x, y = getattr(ca, what), getattr(cb, what)
                    if x is not None:
                        np.testing.assert_array_equal(y.load(), x.load(), err_msg=f"{name} {pos} {cam} {what}")
                worst = max(worst, float(np.abs(cb.rgb.load().astype(int) - ca.rgb.load().astype(int)).mean()))
        tasks = sorted({i.task for i in ds.infos})
        print(f"{name}: {len(ds)} episodes match their sources (rgb mean |Δ| ≤ {worst:.2f}); tasks {tasks}")


def make_v21(src: Path, out: Path) -> None:
    from workbench.data import load_dataset, write_lerobot

    ds = load_dataset(src)
    write_lerobot(iter(ds), out / "src-v2.1", version="v2.1", robot_type=str(ds.meta.get("robot_type", "unknown")))
    print(f"wrote {out / 'src-v2.1'}")


if __name__ == "__main__":
    mode, src_arg, out_arg = sys.argv[1:4]
    {"run": run, "verify": verify, "make-v21": make_v21}[mode](Path(src_arg).resolve(), Path(out_arg).resolve())
