"""Write episodes as a LeRobot v3.0 or v2.1 dataset, the way LeRobot itself writes one.

The steps, in order: build the feature specs from the first episode (:func:`build_features`),
turn each episode into per-frame columns (:func:`frame_columns`) and per-episode statistics
(:func:`episode_stats`), store frames and videos in the version's layout (:class:`V3Store` or
:class:`V21Store`), then write the metadata (:func:`write_metadata`).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from workbench.data.lerobot.schema import (
    ACTION,
    BOOKKEEPING,
    CAMERA,
    DEPTH,
    EE_POS,
    EE_QUAT,
    EP_SETUP,
    EP_SUCCESS,
    EXTRA,
    GRIPPER,
    HAND_CONF,
    HAND_KP,
    IMAGES,
    INFO,
    SEG,
    SIDECAR,
    STATE,
    STATS,
    V3,
    V3_DATA_PATH,
    V3_EPISODES_PATH,
    V3_VIDEO_PATH,
    V21,
    V21_DATA_PATH,
    V21_VIDEO_PATH,
    bookkeeping_features,
    episode_features,
    hf_datasets,
    image_feature,
    numeric_feature,
    setup_code,
    success_code,
)
from workbench.data.lerobot.stats import aggregate_stats, feature_stats, image_stats, sample_frame_indices, to_json
from workbench.data.validate import raise_if_invalid
from workbench.data.video import VideoWriter, video_info
from workbench.types import DataError, Episode

__all__ = ["write_lerobot"]

CHUNKS_SIZE = 1000
DATA_FILES_SIZE_IN_MB = 100
VIDEO_FILES_SIZE_IN_MB = 200


def png_bytes(img: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(img)).save(buf, format="PNG", compress_level=9)
    return buf.getvalue()


# ------------------------------------------------------------------------------------------------
# Step 1: feature specs
# ------------------------------------------------------------------------------------------------


def numeric_columns(ep: Episode) -> dict[str, np.ndarray]:
    """The episode's per-step numeric streams under their feature keys, in their own shapes."""
    cols: dict[str, np.ndarray] = {ACTION: ep.actions}
    for key, a in ((STATE, ep.state), (EE_POS, ep.ee_pos), (EE_QUAT, ep.ee_quat), (GRIPPER, ep.gripper),
                   (HAND_KP, ep.hand_keypoints), (HAND_CONF, ep.hand_confidence)):  # fmt: skip
        if a is not None:
            cols[key] = np.asarray(a)
    for name, cam in ep.cameras.items():
        if cam.intrinsics is not None:
            cols[f"{CAMERA}{name}.intrinsics"] = cam.intrinsics
        if cam.extrinsics is not None:
            cols[f"{CAMERA}{name}.extrinsics"] = cam.extrinsics
    for k, v in ep.extras.items():
        cols[EXTRA + k] = np.asarray(v)
    return cols


def build_features(ep: Episode) -> dict[str, dict]:
    """``info.json``'s ``features`` for episodes shaped like ``ep``: numeric streams (flat, 1-D), the
    per-episode columns, each camera's video, depth and segmentation, then LeRobot's bookkeeping."""
    features = {k: numeric_feature(k, v.dtype, v.shape[1:]) for k, v in numeric_columns(ep).items()}
    if ep.skeleton is not None and HAND_KP in features:
        features[HAND_KP]["info"] = {"skeleton": ep.skeleton.to_dict()}
    features.update(episode_features(list(ep.cameras)))
    for name, cam in ep.cameras.items():
        h, w = cam.rgb[0].shape[:2]
        features[IMAGES + name] = image_feature(h, w, video=True)  # its info is read off the first file written
        if cam.depth is not None:
            features[DEPTH + name] = image_feature(h, w, {"units": "millimetres", "png": "16-bit"}, video=False)
        if cam.segmentation is not None:
            features[SEG + name] = image_feature(h, w, {"labels": list(cam.segmentation_labels)}, video=False)
    features.update(bookkeeping_features())
    return features


def check_same_streams(ep: Episode, features: dict[str, dict], root: Path) -> None:
    """Every episode must carry the first one's streams with the same shapes."""
    cols = numeric_columns(ep)
    have = set(cols) | {DEPTH + n for n, c in ep.cameras.items() if c.depth is not None} | \
        {SEG + n for n, c in ep.cameras.items() if c.segmentation is not None} | {IMAGES + n for n in ep.cameras}  # fmt: skip
    want = {k for k in features if k not in BOOKKEEPING and k not in (EP_SUCCESS, EP_SETUP)}
    if have != want:
        raise DataError(root, f"episode streams differ from the first episode's: {sorted(have ^ want)}", episode=ep.index)
    for k, v in cols.items():
        if [int(np.prod(v.shape[1:]))] != features[k]["shape"]:
            raise DataError(root, f"{k} has shape {v.shape[1:]}, the first episode had {features[k]['shape']}", episode=ep.index)


# ------------------------------------------------------------------------------------------------
# Step 2: one episode's columns and statistics
# ------------------------------------------------------------------------------------------------


def frame_columns(ep: Episode, features: dict[str, dict], *, task_index: int, first_index: int, fps: int) -> dict[str, Any]:
    """The episode's rows of the frame table: numeric streams flattened, per-episode codes, PNG cells
    for depth and segmentation, and the bookkeeping columns (``index`` continues from ``first_index``)."""
    T = len(ep)
    cols: dict[str, Any] = {k: v.reshape(T, -1) if v.ndim > 2 else v for k, v in numeric_columns(ep).items()}
    cols[EP_SUCCESS] = np.full(T, success_code(ep.success), dtype=np.int64)
    setups = [setup_code(ep.camera_setup.value)] + [setup_code(c.setup.value) for c in ep.cameras.values()]
    cols[EP_SETUP] = np.tile(np.array(setups, dtype=np.int64), (T, 1))
    for name, cam in ep.cameras.items():
        if cam.depth is not None:
            cols[DEPTH + name] = [{"bytes": png_bytes(d), "path": None} for d in cam.depth.load()]
        if cam.segmentation is not None:
            cols[SEG + name] = [{"bytes": png_bytes(s), "path": None} for s in cam.segmentation.load()]
    cols["timestamp"] = (np.arange(T) / fps if ep.timestamps is None else ep.timestamps).astype(np.float32)
    cols["frame_index"] = np.arange(T, dtype=np.int64)
    cols["episode_index"] = np.full(T, ep.index, dtype=np.int64)
    cols["index"] = np.arange(first_index, first_index + T, dtype=np.int64)
    cols["task_index"] = np.full(T, task_index, dtype=np.int64)
    # a one-value feature is a plain column (HF ``Value``), whatever shape the episode gave it
    return {k: cols[k].reshape(T) if features[k]["shape"] == [1] and features[k]["dtype"] != "image" else cols[k]
            for k in features if k in cols}  # fmt: skip


def _png_as_rgb(cells: list[dict], picks: np.ndarray) -> np.ndarray:
    """Sampled PNG cells as PIL's RGB conversion makes them (LeRobot's image loader converts so)."""
    from PIL import Image

    return np.stack([np.asarray(Image.open(io.BytesIO(cells[i]["bytes"])).convert("RGB")) for i in picks])


def episode_stats(ep: Episode, cols: dict[str, Any], features: dict[str, dict]) -> dict[str, dict[str, np.ndarray]]:
    """Per-feature statistics of one episode, every feature included (see :mod:`.stats`)."""
    picks = sample_frame_indices(len(ep))
    out = {}
    for key, spec in features.items():
        if spec["dtype"] == "video":
            out[key] = image_stats(ep.cameras[key[len(IMAGES):]].rgb.load()[picks])
        elif spec["dtype"] == "image":
            out[key] = image_stats(_png_as_rgb(cols[key], picks))
        else:
            out[key] = feature_stats(cols[key])
    return out


# ------------------------------------------------------------------------------------------------
# Step 3: frames and videos on disk
# ------------------------------------------------------------------------------------------------


def write_table(cols: dict[str, list], features: dict[str, dict], path: Path) -> None:
    """One data parquet with HF ``datasets`` feature types, as LeRobot writes it."""
    datasets = hf_datasets()

    def hf_type(spec: dict):
        if spec["dtype"] == "image":
            return datasets.Image()
        if spec["shape"] == [1]:
            return datasets.Value(spec["dtype"])
        return datasets.Sequence(datasets.Value(spec["dtype"]), length=spec["shape"][0])

    data = {k: (list(chain.from_iterable(v)) if features[k]["dtype"] == "image" else np.concatenate(v)) for k, v in cols.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    datasets.Dataset.from_dict(data, features=datasets.Features({k: hf_type(features[k]) for k in cols})).to_parquet(str(path))


class V3Store:
    """LeRobot v3.0: many episodes per data file and per video file, a new file every ``per_file``
    episodes; each episode's video segment starts on a key frame."""

    def __init__(self, root: Path, features: dict[str, dict], fps: int, *, crf: int, lossless: bool, per_file: int | None):
        self.root, self.features, self.fps = root, features, fps
        self.crf, self.lossless, self.per_file = crf, lossless, per_file
        self.file_index, self.in_file = 0, 0
        self.buffer: dict[str, list] = {}
        self.videos: dict[str, VideoWriter] = {}

    def add(self, ep: Episode, cols: dict[str, Any]) -> dict[str, Any]:
        """Store the episode; its location columns of the episodes table."""
        if self.per_file and self.in_file == self.per_file:
            self.close_file()
            self.file_index += 1
        T = len(ep)
        lo = int(cols["index"][0])
        for k, v in cols.items():
            self.buffer.setdefault(k, []).append(v)
        where: dict[str, Any] = {"data/chunk_index": 0, "data/file_index": self.file_index,
                                 "dataset_from_index": lo, "dataset_to_index": lo + T}  # fmt: skip
        for name, cam in ep.cameras.items():
            key = IMAGES + name
            if key not in self.videos:
                path = self.root / V3_VIDEO_PATH.format(video_key=key, chunk_index=0, file_index=self.file_index)
                self.videos[key] = VideoWriter(path, self.fps, crf=self.crf, lossless=self.lossless)
            w = self.videos[key]
            start = w.frames_written
            for i, fr in enumerate(cam.rgb.load()):
                w.write(fr, keyframe=i == 0)
            where.update({f"videos/{key}/chunk_index": 0, f"videos/{key}/file_index": self.file_index,
                          f"videos/{key}/from_timestamp": start / self.fps, f"videos/{key}/to_timestamp": (start + T) / self.fps})  # fmt: skip
        self.in_file += 1
        return where

    def close_file(self) -> None:
        if self.buffer:
            write_table(self.buffer, self.features, self.root / V3_DATA_PATH.format(chunk_index=0, file_index=self.file_index))
            self.buffer = {}
        for w in self.videos.values():
            w.close()
        self.videos = {}
        self.in_file = 0

    def first_video(self, key: str) -> Path:
        return self.root / V3_VIDEO_PATH.format(video_key=key, chunk_index=0, file_index=0)


class V21Store:
    """LeRobot v2.1: one data parquet and one mp4 per camera for each episode."""

    def __init__(self, root: Path, features: dict[str, dict], fps: int, *, crf: int, lossless: bool):
        self.root, self.features, self.fps, self.crf, self.lossless = root, features, fps, crf, lossless
        self.first: int | None = None

    def add(self, ep: Episode, cols: dict[str, Any]) -> dict[str, Any]:
        self.first = ep.index if self.first is None else self.first
        write_table({k: [v] for k, v in cols.items()}, self.features,
                    self.root / V21_DATA_PATH.format(episode_chunk=ep.index // CHUNKS_SIZE, episode_index=ep.index))  # fmt: skip
        for name, cam in ep.cameras.items():
            path = self.root / V21_VIDEO_PATH.format(episode_chunk=ep.index // CHUNKS_SIZE, video_key=IMAGES + name, episode_index=ep.index)
            with VideoWriter(path, self.fps, crf=self.crf, lossless=self.lossless) as w:
                for fr in cam.rgb.load():
                    w.write(fr)
        return {}

    def close_file(self) -> None:
        pass

    def first_video(self, key: str) -> Path:
        first = self.first or 0
        return self.root / V21_VIDEO_PATH.format(episode_chunk=first // CHUNKS_SIZE, video_key=key, episode_index=first)


# ------------------------------------------------------------------------------------------------
# Step 4: metadata
# ------------------------------------------------------------------------------------------------


def episode_row(ep: Episode, instruction: str, where: dict[str, Any], stats: dict[str, dict[str, np.ndarray]]) -> dict[str, Any]:
    """One row of ``meta/episodes``: exactly LeRobot's columns, in its order, so a dataset LeRobot
    appends to keeps one schema across its episode files."""
    row: dict[str, Any] = {"episode_index": ep.index, "tasks": [instruction], "length": len(ep), **where}
    for key, s in to_json(stats).items():
        row.update({f"stats/{key}/{name}": v for name, v in s.items()})
    return row


def write_metadata(root: Path, *, version: str, features: dict, fps: int, robot_type: str, tasks: dict[str, int],
                   rows: list[dict], stats: list[dict], sidecar: dict) -> None:  # fmt: skip
    """``info.json``, ``stats.json``, the tasks and episodes tables of the version, and our sidecar."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    meta = root / "meta"
    meta.mkdir(parents=True, exist_ok=True)
    n_eps, n_frames = len(rows), sum(r["length"] for r in rows)
    (root / STATS).write_text(json.dumps(to_json(aggregate_stats(stats)), indent=4))
    if version == V3:
        pd.DataFrame({"task_index": list(tasks.values())}, index=pd.Index(list(tasks), name="task")).to_parquet(meta / "tasks.parquet")
        for r in rows:
            r.update({"meta/episodes/chunk_index": 0, "meta/episodes/file_index": 0})
        path = root / V3_EPISODES_PATH.format(chunk_index=0, file_index=0)
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(rows), path)  # plain Python values: the types LeRobot's writer gets
        info = {"codebase_version": V3, "robot_type": robot_type, "total_episodes": n_eps, "total_frames": n_frames,
                "total_tasks": len(tasks), "chunks_size": CHUNKS_SIZE, "data_files_size_in_mb": DATA_FILES_SIZE_IN_MB,
                "video_files_size_in_mb": VIDEO_FILES_SIZE_IN_MB, "fps": fps, "splits": {"train": f"0:{n_eps}"},
                "data_path": V3_DATA_PATH, "video_path": V3_VIDEO_PATH, "features": features}  # fmt: skip
    else:
        lines = lambda items: "".join(json.dumps(x) + "\n" for x in items)  # noqa: E731
        (meta / "tasks.jsonl").write_text(lines({"task_index": i, "task": t} for t, i in tasks.items()))
        (meta / "episodes.jsonl").write_text(lines({k: r[k] for k in ("episode_index", "tasks", "length")} for r in rows))
        (meta / "episodes_stats.jsonl").write_text(
            lines({"episode_index": r["episode_index"], "stats": to_json(s)} for r, s in zip(rows, stats, strict=True)))
        n_videos = sum(f["dtype"] == "video" for f in features.values())
        info = {"codebase_version": V21, "robot_type": robot_type, "total_episodes": n_eps, "total_frames": n_frames,
                "total_tasks": len(tasks), "total_videos": n_eps * n_videos, "total_chunks": 1 + max(r["episode_index"] for r in rows) // CHUNKS_SIZE,
                "chunks_size": CHUNKS_SIZE, "fps": fps, "splits": {"train": f"0:{n_eps}"},
                "data_path": V21_DATA_PATH, "video_path": V21_VIDEO_PATH if n_videos else None, "features": features}  # fmt: skip
    (root / INFO).write_text(json.dumps(info, indent=4))
    (root / SIDECAR).write_text(json.dumps(sidecar, indent=2))


# ------------------------------------------------------------------------------------------------
# The entry point
# ------------------------------------------------------------------------------------------------


def _integer_fps(fps: float, root: Path) -> int:
    if abs(fps - round(fps)) > 1e-6 or fps <= 0:
        raise DataError(root, f"LeRobot stores fps as a positive integer; the episodes run at {fps}")
    return int(round(fps))


def write_lerobot(
    episodes: Iterable[Episode],
    root: str | Path,
    *,
    version: str = V3,
    fps: float | None = None,
    robot_type: str = "unknown",
    crf: int = 23,
    lossless: bool = False,
    episodes_per_file: int | None = None,
    splits: dict[str, list[int]] | None = None,
    extra_meta: dict | None = None,
    progress: bool = False,
) -> Path:
    """Write episodes as a LeRobot dataset (v3.0 by default, or v2.1) at ``root``.

    The dataset is assembled in a temporary folder beside ``root`` and renamed into place at the
    end, so a crash never leaves half a dataset; an existing ``root`` is refused rather than written
    into. ``episodes_per_file`` (v3.0) starts new data and video files every N episodes, as LeRobot
    does when a file reaches its size limit. ``lossless`` stores RGB bit-exactly (libx264rgb, crf 0).
    ``fps`` (default: the first episode's) must be a whole number, as LeRobot requires.

    What LeRobot has no field for goes where its tools keep it: camera matrices are flat features
    whose ``names`` give the layout, segmentation labels and the hand skeleton sit in their
    feature's ``info``, success and camera setups are per-frame code columns. The short task name,
    the source and ``splits``/``extra_meta`` go to ``meta/workbench.json``, which LeRobot ignores.
    """
    from tqdm.auto import tqdm

    if version not in (V3, V21):
        raise ValueError(f"version must be {V3!r} or {V21!r}, got {version!r}")
    root = Path(root)
    if root.exists() and any(root.iterdir()):
        raise FileExistsError(f"{root} already exists and is not empty; refusing to write into it")
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.", dir=root.parent))
    try:
        it = tqdm(episodes, desc=f"write {root.name}") if progress else episodes
        _write(it, tmp, version=version, fps=fps, robot_type=robot_type, crf=crf, lossless=lossless,
               per_file=episodes_per_file, sidecar={**(extra_meta or {}), **({"splits": splits} if splits else {})})  # fmt: skip
        if root.exists():
            root.rmdir()
        os.replace(tmp, root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return root


def _write(episodes: Iterable[Episode], root: Path, *, version: str, fps: float | None, robot_type: str, crf: int,
           lossless: bool, per_file: int | None, sidecar: dict) -> None:  # fmt: skip
    features: dict[str, dict] | None = None
    store: V3Store | V21Store | None = None
    tasks: dict[str, int] = {}
    rows: list[dict] = []
    stats: list[dict] = []
    notes: dict[str, dict] = {}
    frames = 0
    for ep in episodes:
        raise_if_invalid(ep, root)
        if features is None:
            fps = _integer_fps(fps or ep.fps, root)
            features = build_features(ep)
            store = (V3Store(root, features, fps, crf=crf, lossless=lossless, per_file=per_file) if version == V3
                     else V21Store(root, features, fps, crf=crf, lossless=lossless))  # fmt: skip
        check_same_streams(ep, features, root)
        instruction = ep.instruction or ep.task
        cols = frame_columns(ep, features, task_index=tasks.setdefault(instruction, len(tasks)), first_index=frames, fps=fps)
        ep_stats = episode_stats(ep, cols, features)
        where = store.add(ep, cols)
        rows.append(episode_row(ep, instruction, where, ep_stats))
        stats.append(ep_stats)
        notes[str(ep.index)] = {"task": ep.task, "instruction": instruction, "source": ep.source,
                                **({"objects": list(ep.objects)} if ep.objects else {})}  # fmt: skip
        frames += len(ep)
    if features is None or store is None:
        raise DataError(root, "no episodes to write")
    store.close_file()
    for key, spec in features.items():
        if spec["dtype"] == "video":
            spec["info"] = video_info(store.first_video(key))
    write_metadata(root, version=version, features=features, fps=int(fps), robot_type=robot_type, tasks=tasks,
                   rows=rows, stats=stats, sidecar={"episodes": notes, **sidecar})  # fmt: skip
