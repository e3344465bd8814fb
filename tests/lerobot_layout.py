"""What LeRobot's tools leave on disk, reproduced without LeRobot (it is not in our pins).

Written from lerobot 0.4.4's source (``datasets/lerobot_dataset.py``: ``save_episode``,
``_save_episode_metadata``, ``_save_episode_data``, ``_save_episode_video``; ``datasets/dataset_tools.py``:
``delete_episodes``; ``datasets/aggregate.py``: ``aggregate_datasets``) and checked file by file against
what lerobot 0.4.4 itself wrote (``tests/lerobot_toolchain.py``). The fixtures it makes are files our
writer did not write:

* :func:`make_legacy` turns a dataset into the layout the workbench wrote before LeRobot interop
  (2-D camera matrices, float fps, ``workbench/*`` episode columns, no per-episode stats, a
  ``workbench`` key in ``info.json``);
* :func:`append_like_lerobot`: ``LeRobotDataset(root)`` + ``add_frame``/``save_episode`` +
  ``finalize`` — new data, video and episode files (the next file index), rows with exactly
  LeRobot's columns, whatever the older files have;
* :func:`delete_like_lerobot`: ``delete_episodes`` — a new root, episodes renumbered, the global
  index recomputed, videos cut to the kept episodes, episode rows rebuilt from LeRobot's columns
  only, ``info.json`` rebuilt (unknown keys dropped), our sidecar not copied;
* :func:`aggregate_like_lerobot`: ``aggregate_datasets`` — episode rows copied whole with shifted
  indices and video timestamps, videos concatenated, tasks merged.

Videos are re-encoded losslessly here (LeRobot re-encodes or concatenates packets); the layout and
metadata are what these fixtures are about.
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from workbench.data.video import read_video_segment, write_video

BOOK = ("timestamp", "frame_index", "episode_index", "index", "task_index")
QUANTS = {"q01": 0.01, "q10": 0.10, "q50": 0.50, "q90": 0.90, "q99": 0.99}


# ------------------------------------------------------------------------------------------------
# reading what is there
# ------------------------------------------------------------------------------------------------


def _info(root: Path) -> dict:
    return json.loads((root / "meta/info.json").read_text())


def _episodes(root: Path) -> list[dict]:
    """Every episode row, as plain Python values (the files may have different columns)."""
    return [r for f in sorted((root / "meta/episodes").glob("chunk-*/file-*.parquet")) for r in pq.read_table(f).to_pylist()]


def _frames(root: Path, row) -> pa.Table:
    """One episode's rows of its data file."""
    f = root / f"data/chunk-{int(row['data/chunk_index']):03d}/file-{int(row['data/file_index']):03d}.parquet"
    t = pq.read_table(f)
    idx = t.column("index").to_numpy()
    return t.filter(pa.array((idx >= row["dataset_from_index"]) & (idx < row["dataset_to_index"])))


def _video_path(root: Path, key: str, chunk: int, file: int) -> Path:
    return root / f"videos/{key}/chunk-{chunk:03d}/file-{file:03d}.mp4"


def _segment(root: Path, row, key: str) -> np.ndarray:
    path = _video_path(root, key, int(row[f"videos/{key}/chunk_index"]), int(row[f"videos/{key}/file_index"]))
    return read_video_segment(path, float(row[f"videos/{key}/from_timestamp"]), int(row["length"]))


def _add_segment(videos: dict[str, list], key: str, frames: np.ndarray, fps: int, file_index: int) -> dict:
    """Append an episode's frames to the video being assembled; its ``videos/<key>/*`` columns."""
    t0 = sum(len(v) for v in videos[key]) / fps
    videos[key].append(frames)
    return {f"videos/{key}/chunk_index": 0, f"videos/{key}/file_index": file_index,
            f"videos/{key}/from_timestamp": t0, f"videos/{key}/to_timestamp": t0 + len(frames) / fps}  # fmt: skip


def _video_keys(info: dict) -> list[str]:
    return [k for k, f in info["features"].items() if f["dtype"] == "video"]


# ------------------------------------------------------------------------------------------------
# LeRobot's per-episode statistics (compute_episode_stats), with numpy's exact quantiles
# ------------------------------------------------------------------------------------------------


def _numeric_stats(x: np.ndarray) -> dict:
    flat = x.reshape(len(x), -1)
    f = flat.astype(np.float64)
    s = {"min": flat.min(0), "max": flat.max(0), "mean": f.mean(0), "std": f.std(0), "count": np.array([len(x)])}
    return s | {k: np.quantile(f, q, axis=0) for k, q in QUANTS.items()}


def _image_stats(rgb: np.ndarray) -> dict:
    s = _numeric_stats(rgb.reshape(-1, 3))
    return {k: v if k == "count" else (v / 255.0).reshape(3, 1, 1) for k, v in s.items()} | {"count": np.array([len(rgb)])}


def _episode_stats(info: dict, frames: pa.Table, videos: dict[str, np.ndarray]) -> dict:
    from PIL import Image

    out = {}
    for key, spec in info["features"].items():
        if spec["dtype"] == "video":
            out[key] = _image_stats(videos[key])
        elif spec["dtype"] == "image":
            cells = frames.column(key).to_pylist()
            out[key] = _image_stats(np.stack([np.asarray(Image.open(io.BytesIO(c["bytes"])).convert("RGB")) for c in cells]))
        elif spec["dtype"] != "string":
            out[key] = _numeric_stats(np.asarray(frames.column(key).to_pylist()))
    return out


def _stats_columns(stats: dict) -> dict:
    return {f"stats/{k}/{s}": np.asarray(v).tolist() for k, d in stats.items() for s, v in d.items()}


def _pool(per_episode: list[dict]) -> dict:
    """aggregate_stats: count-weighted mean, pooled variance, count-weighted quantiles."""
    out = {}
    for key in per_episode[0]:
        items = [{s: np.asarray(v, dtype=np.float64) for s, v in ep[key].items()} for ep in per_episode]
        w = np.array([it["count"][0] for it in items])
        wb = w.reshape(-1, *([1] * items[0]["mean"].ndim))
        mean = (np.stack([it["mean"] for it in items]) * wb).sum(0) / w.sum()
        var = ((np.stack([it["std"] for it in items]) ** 2 + (np.stack([it["mean"] for it in items]) - mean) ** 2) * wb).sum(0) / w.sum()
        agg = {"min": np.min([it["min"] for it in items], 0), "max": np.max([it["max"] for it in items], 0),
               "mean": mean, "std": np.sqrt(var), "count": np.array([int(w.sum())])}  # fmt: skip
        agg |= {q: (np.stack([it[q] for it in items]) * wb).sum(0) / w.sum() for q in QUANTS if all(q in it for it in items)}
        out[key] = {s: v.tolist() for s, v in agg.items()}
    return out


def _episode_stats_from_row(row: dict) -> dict:
    out: dict = {}
    for c, v in row.items():
        if c.startswith("stats/"):
            _, feat, stat = c.split("/")
            out.setdefault(feat, {})[stat] = np.asarray(v)
    return out


def _write_episode_file(root: Path, rows: list[dict], file_index: int) -> None:
    path = root / f"meta/episodes/chunk-000/file-{file_index:03d}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)


def _write_one_file_each(dst: Path, tables: list[pa.Table], videos: dict[str, list], rows: list[dict],
                         tasks: pd.DataFrame, fps: int) -> None:  # fmt: skip
    """A new dataset's data, videos, episodes and tasks, one file each (what a small dataset gets)."""
    (dst / "data/chunk-000").mkdir(parents=True)
    pq.write_table(pa.concat_tables(tables), dst / "data/chunk-000/file-000.parquet")
    for k, parts in videos.items():
        write_video(_video_path(dst, k, 0, 0), np.concatenate(parts), fps, lossless=True)
    _write_episode_file(dst, rows, 0)
    tasks.to_parquet(dst / "meta/tasks.parquet")


def _write_info(root: Path, info: dict) -> None:
    (root / "meta").mkdir(parents=True, exist_ok=True)
    (root / "meta/info.json").write_text(json.dumps(info, indent=4))


# ------------------------------------------------------------------------------------------------
# the fixtures
# ------------------------------------------------------------------------------------------------


def make_legacy(root: Path) -> None:
    """Rewrite a dataset from ``write_lerobot`` into the layout the workbench wrote before (in place)."""
    import datasets

    info = _info(root)
    notes = json.loads((root / "meta/workbench.json").read_text())
    feats = info["features"]
    setup_names = feats["episode.camera_setup"]["names"]
    codes = feats["episode.camera_setup"]["info"]["codes"]
    legacy_meta: dict = {}
    matrix = {}
    for key, spec in list(feats.items()):
        if key.startswith("episode."):
            del feats[key]
        elif spec.get("names") and str(spec["names"][0]).endswith("[0,0]"):
            matrix[key] = [3, 3] if spec["shape"] == [9] else [4, 4]
            feats[key] = {"dtype": spec["dtype"], "shape": matrix[key], "names": None}
        elif key.startswith("observation.segmentation."):
            legacy_meta["segmentation_labels"] = spec.pop("info")["labels"]
        elif key == "observation.hand_keypoints":
            legacy_meta["skeleton"] = spec.pop("info")["skeleton"]
            matrix[key] = [spec["shape"][0] // 16, 4, 4]
            feats[key] = {"dtype": spec["dtype"], "shape": matrix[key], "names": None}
        elif spec["dtype"] == "video":
            spec["info"] = {"video.fps": float(info["fps"]), "video.codec": "h264", "video.pix_fmt": spec["info"]["video.pix_fmt"],
                            "video.is_depth_map": False}  # fmt: skip
    for f in sorted((root / "data").glob("chunk-*/file-*.parquet")):
        t = datasets.Dataset.from_parquet(str(f)).with_format("arrow")[:]
        data = {}
        hf = {}
        for name in t.column_names:
            if name.startswith("episode."):
                continue
            col = t.column(name)
            if name in matrix:
                data[name] = np.asarray(col.to_pylist()).reshape(len(col), *matrix[name])
                array = datasets.Array2D if len(matrix[name]) == 2 else datasets.Array3D
                hf[name] = array(shape=tuple(matrix[name]), dtype=feats[name]["dtype"])
            elif feats[name]["dtype"] == "image":
                data[name], hf[name] = col.to_pylist(), datasets.Image()
            elif feats[name]["shape"] == [1]:
                data[name], hf[name] = np.asarray(col.to_pylist()), datasets.Value(feats[name]["dtype"])
            else:
                data[name] = np.asarray(col.to_pylist())
                hf[name] = datasets.Sequence(datasets.Value(feats[name]["dtype"]), length=feats[name]["shape"][0])
        datasets.Dataset.from_dict(data, features=datasets.Features(hf)).to_parquet(str(f))
    rows = []
    for r in _episodes(root):
        note = notes["episodes"][str(r["episode_index"])]
        setups = [codes[int(c)] for c in r["stats/episode.camera_setup/min"]]
        success = int(r["stats/episode.success/min"][0])
        row = {k: v for k, v in r.items() if not k.startswith("stats/")}
        row.update({"workbench/task": note["task"], "workbench/instruction": note["instruction"],
                    "workbench/camera_setup": setups[0], "workbench/success": None if success < 0 else bool(success),
                    "workbench/source": note["source"],
                    "workbench/camera_setups": json.dumps(dict(zip(setup_names[1:], setups[1:], strict=True)))})  # fmt: skip
        rows.append(row)
    shutil.rmtree(root / "meta/episodes")
    path = root / "meta/episodes/chunk-000/file-000.parquet"
    path.parent.mkdir(parents=True)
    pd.DataFrame(rows).to_parquet(path)
    stats = json.loads((root / "meta/stats.json").read_text())
    old_stats = {k: {s: v for s, v in d.items() if s in ("mean", "std", "min", "max", "count")} for k, d in stats.items()
                 if k in feats and feats[k]["dtype"] not in ("video", "image") and k not in BOOK}  # fmt: skip
    for k, shape in matrix.items():
        old_stats[k] = {s: (np.asarray(v).reshape(shape).tolist() if s != "count" else v) for s, v in old_stats[k].items()}
    (root / "meta/stats.json").write_text(json.dumps(old_stats))
    info["fps"] = float(info["fps"])
    info["workbench"] = legacy_meta | {k: v for k, v in notes.items() if k != "episodes"}
    _write_info(root, info)
    (root / "meta/workbench.json").unlink()


def append_like_lerobot(root: Path, copies: list[int]) -> None:
    """Resume recording: episodes that copy the frames of episodes ``copies`` (positions), saved as
    LeRobot saves them — into the next data, video and episode files."""
    info = _info(root)
    eps = _episodes(root)
    last = eps[-1]
    keys = _video_keys(info)
    tasks = pd.read_parquet(root / "meta/tasks.parquet")
    fps = info["fps"]
    data_file, meta_file = int(last["data/file_index"]) + 1, int(last["meta/episodes/file_index"]) + 1
    start, first_ep = int(last["dataset_to_index"]), int(info["total_episodes"])
    tables, rows, videos, new_stats = [], [], {k: [] for k in keys}, []
    for n, pos in enumerate(copies):
        src = eps[pos]
        frames = _frames(root, src)
        T = frames.num_rows
        book = {"timestamp": pa.array(np.arange(T) / fps, pa.float32()), "frame_index": pa.array(np.arange(T)),
                "episode_index": pa.array(np.full(T, first_ep + n)), "index": pa.array(np.arange(start, start + T)),
                "task_index": pa.array(np.full(T, int(tasks.loc[src["tasks"][0], "task_index"])))}  # fmt: skip
        cols = [frames.column(c) if c not in book else book[c] for c in frames.column_names]
        frames = pa.Table.from_arrays(cols, schema=frames.schema)
        tables.append(frames)
        segs = {k: _segment(root, src, k) for k in keys}
        row: dict = {"episode_index": first_ep + n, "tasks": list(src["tasks"]), "length": T, "data/chunk_index": 0,
                     "data/file_index": data_file, "dataset_from_index": start, "dataset_to_index": start + T}  # fmt: skip
        for k in keys:
            row |= _add_segment(videos, k, segs[k], fps, data_file)
        stats = _episode_stats(info, frames, segs)
        new_stats.append(stats)
        rows.append(row | _stats_columns(stats) | {"meta/episodes/chunk_index": 0, "meta/episodes/file_index": meta_file})
        start += T
    pq.write_table(pa.concat_tables(tables), root / f"data/chunk-000/file-{data_file:03d}.parquet")
    for k in keys:
        write_video(_video_path(root, k, 0, data_file), np.concatenate(videos[k]), fps, lossless=True)
    _write_episode_file(root, rows, meta_file)
    old = json.loads((root / "meta/stats.json").read_text())
    merged = _pool(new_stats)
    for k, d in merged.items():  # aggregate_stats([self.stats, episode_stats]) keeps both sides' keys
        if k in old and {"mean", "std", "count"} <= set(old[k]) and np.shape(old[k]["mean"]) == np.shape(d["mean"]):
            merged[k] = _pool([{k: old[k]}, {k: d}])[k]
    (root / "meta/stats.json").write_text(json.dumps(old | merged))
    info["total_episodes"] += len(copies)
    info["total_frames"] = start
    info["splits"] = {"train": f"0:{info['total_episodes']}"}
    _write_info(root, info)


def delete_like_lerobot(src: Path, dst: Path, drop: list[int]) -> None:
    """delete_episodes: the kept episodes, renumbered, in a new dataset at ``dst``."""
    info = _info(src)
    eps = _episodes(src)
    keys = _video_keys(info)
    keep = [i for i in range(len(eps)) if i not in drop]
    old_tasks = pd.read_parquet(src / "meta/tasks.parquet")
    kept_tasks = sorted({t for i in keep for t in eps[i]["tasks"]})
    tasks = pd.DataFrame({"task_index": range(len(kept_tasks))}, index=kept_tasks)
    task_map = {int(old_tasks.loc[t, "task_index"]): i for i, t in enumerate(kept_tasks)}
    tables, rows, videos, stats, start = [], [], {k: [] for k in keys}, [], 0
    for new, old in enumerate(keep):
        r = eps[old]
        frames = _frames(src, r)
        T = frames.num_rows
        frames = frames.set_column(frames.schema.get_field_index("episode_index"), "episode_index", pa.array(np.full(T, new)))
        frames = frames.set_column(frames.schema.get_field_index("index"), "index", pa.array(np.arange(start, start + T)))
        ti = frames.schema.get_field_index("task_index")
        frames = frames.set_column(ti, "task_index", pa.array([task_map[int(t)] for t in frames.column("task_index").to_pylist()]))
        tables.append(frames)
        row: dict = {"episode_index": new, "tasks": list(r["tasks"]), "length": T, "data/chunk_index": 0, "data/file_index": 0,
                     "dataset_from_index": start, "dataset_to_index": start + T}  # fmt: skip
        for k in keys:
            row |= _add_segment(videos, k, _segment(src, r, k), info["fps"], 0)
        ep_stats = _episode_stats_from_row(r)
        stats.append(ep_stats)
        rows.append(row | _stats_columns(ep_stats) | {"meta/episodes/chunk_index": 0, "meta/episodes/file_index": 0})
        start += T
    _write_one_file_each(dst, tables, videos, rows, tasks, info["fps"])
    (dst / "meta/stats.json").write_text(json.dumps({k: v for k, v in _pool(stats).items() if k in info["features"]}))
    new_info = {k: info[k] for k in ("codebase_version", "robot_type")} | {
        "total_episodes": len(keep), "total_frames": start, "total_tasks": len(tasks), "chunks_size": 1000,
        "data_files_size_in_mb": 100, "video_files_size_in_mb": 200, "fps": info["fps"], "splits": {"train": f"0:{len(keep)}"},
        "data_path": info["data_path"], "video_path": info["video_path"], "features": info["features"]}  # fmt: skip
    _write_info(dst, new_info)


def aggregate_like_lerobot(srcs: list[Path], dst: Path) -> None:
    """aggregate_datasets: the sources one after the other in a new dataset at ``dst``."""
    infos = [_info(s) for s in srcs]
    info = infos[0]
    if any(i["features"] != info["features"] or i["fps"] != info["fps"] for i in infos):
        raise ValueError("Same features is expected")
    keys = _video_keys(info)
    all_tasks = pd.concat([pd.read_parquet(s / "meta/tasks.parquet") for s in srcs]).index.unique()
    tasks = pd.DataFrame({"task_index": range(len(all_tasks))}, index=all_tasks)
    tables, frames_rows, videos, stats = [], [], {k: [] for k in keys}, []
    n_eps = n_frames = 0
    for s in srcs:
        src_tasks = pd.read_parquet(s / "meta/tasks.parquet")
        eps = _episodes(s)
        for r in eps:
            frames = _frames(s, r)
            T = frames.num_rows
            for name, shift in (("episode_index", n_eps), ("index", n_frames)):
                i = frames.schema.get_field_index(name)
                frames = frames.set_column(i, name, pa.array(np.asarray(frames.column(name).to_pylist()) + shift))
            i = frames.schema.get_field_index("task_index")
            names = src_tasks.index.take(np.asarray(frames.column("task_index").to_pylist()))
            frames = frames.set_column(i, "task_index", pa.array(tasks.loc[names, "task_index"].to_numpy()))
            tables.append(frames)
            row = dict(r)  # every column kept, extras included
            row["episode_index"] += n_eps
            row["dataset_from_index"] += n_frames
            row["dataset_to_index"] += n_frames
            row |= {"data/chunk_index": 0, "data/file_index": 0, "meta/episodes/chunk_index": 0, "meta/episodes/file_index": 0}
            for k in keys:
                row |= _add_segment(videos, k, _segment(s, r, k), info["fps"], 0)
            frames_rows.append(row)
            stats.append(_episode_stats_from_row(r))
        n_eps += len(eps)
        n_frames += sum(r["length"] for r in eps)
    _write_one_file_each(dst, tables, videos, frames_rows, tasks, info["fps"])
    if all(stats):
        (dst / "meta/stats.json").write_text(json.dumps(_pool(stats)))
    new_info = {k: v for k, v in info.items() if k != "workbench"} | {
        "total_episodes": n_eps, "total_frames": n_frames, "total_tasks": len(tasks), "splits": {"train": f"0:{n_eps}"}}
    _write_info(dst, new_info)
