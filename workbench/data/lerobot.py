"""LeRobot datasets: reader for v3.0 and v2.1, writer for both.

**v3.0** (LeRobot ``CODEBASE_VERSION = "v3.0"``)::

    meta/info.json                 schema (features), fps, path templates, totals
    meta/stats.json                per-feature mean/std/min/max/count
    meta/tasks.parquet             task string (index) → task_index
    meta/episodes/chunk-*/file-*.parquet
                                   one row per episode: length, tasks, dataset_from_index,
                                   dataset_to_index, data/chunk_index, data/file_index and, per
                                   video key, videos/<key>/{chunk_index,file_index,from_timestamp,to_timestamp}
    data/chunk-*/file-*.parquet    one row per frame; many episodes per file
    videos/<key>/chunk-*/file-*.mp4
                                   many episodes per file; an episode is a time segment

An episode is the row range ``[dataset_from_index, dataset_to_index)`` of the concatenated data files
(global ``index`` column) and the segment ``[from_timestamp, to_timestamp)`` of its video file.

**v2.1**: one parquet and one mp4 per episode (``data/chunk-000/episode_000000.parquet``,
``videos/chunk-000/<key>/episode_000000.mp4``), episodes and tasks in ``meta/episodes.jsonl`` and
``meta/tasks.jsonl``.

Tables are read through HF ``datasets`` (memory-mapped Arrow, as LeRobot does); mp4 is decoded with
PyAV. Feature keys this module writes and understands (others are kept as ``extras``):

=====================================  ======================================================
``action``                             ``Episode.actions``
``observation.state``                  ``Episode.state``
``observation.ee_pos`` / ``ee_quat``   end-effector position and scalar-last quaternion
``observation.gripper``                gripper opening
``observation.hand_keypoints``         ``(K, 4, 4)`` world transforms, ``hand_confidence`` ``(K,)``
``observation.images.<cam>``           RGB video
``observation.depth.<cam>``            16-bit PNG images, millimetres
``observation.segmentation.<cam>``     8-bit PNG label images
``observation.camera.<cam>.intrinsics`` / ``.extrinsics``  per-step 3×3 and 4×4 (camera-to-world, OpenCV)
=====================================  ======================================================

Episode-level fields LeRobot has no place for (short task name, camera setup, success, source) are
stored as extra ``workbench/*`` columns of the episodes table; dataset-level ones (skeleton,
segmentation labels, splits) under the ``workbench`` key of ``info.json``. Other LeRobot readers
ignore both.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from workbench.data.dataset import Dataset
from workbench.data.validate import raise_if_invalid
from workbench.data.video import VideoWriter, read_video_segment
from workbench.types import CameraSetup, CameraStream, DataError, Episode, EpisodeInfo, LazyFrames, Skeleton

__all__ = ["LeRobotDataset", "write_lerobot", "is_lerobot"]

V3 = "v3.0"
V21 = "v2.1"
INFO = "meta/info.json"
ACTION = "action"
STATE = "observation.state"
EE_POS = "observation.ee_pos"
EE_QUAT = "observation.ee_quat"
GRIPPER = "observation.gripper"
HAND_KP = "observation.hand_keypoints"
HAND_CONF = "observation.hand_confidence"
IMAGES = "observation.images."
DEPTH = "observation.depth."
SEG = "observation.segmentation."
CAMERA = "observation.camera."
EXTRA = "extra."
BOOKKEEPING = ("timestamp", "frame_index", "episode_index", "index", "task_index")
CHUNK_FILE = "chunk-{chunk_index:03d}/file-{file_index:03d}"
V3_DATA_PATH = "data/" + CHUNK_FILE + ".parquet"
V3_VIDEO_PATH = "videos/{video_key}/" + CHUNK_FILE + ".mp4"
V3_EPISODES_PATH = "meta/episodes/" + CHUNK_FILE + ".parquet"
V21_DATA_PATH = "data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet"
V21_VIDEO_PATH = "videos/chunk-{episode_chunk:03d}/{video_key}/episode_{episode_index:06d}.mp4"


def _hf():
    import datasets

    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()
    return datasets


def is_lerobot(path: Path) -> str | None:
    """The codebase version of a LeRobot dataset at ``path``, or None."""
    info = path / INFO
    if not info.is_file():
        return None
    try:
        version = str(json.loads(info.read_text()).get("codebase_version", ""))
    except (json.JSONDecodeError, UnicodeDecodeError, OSError) as e:
        raise DataError(info, f"info.json is not valid JSON: {e}") from e
    return version or None


# ------------------------------------------------------------------------------------------------
# PNG helpers for depth and segmentation images stored in the tables
# ------------------------------------------------------------------------------------------------


def _png_bytes(img: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(img)).save(buf, format="PNG", compress_level=9)
    return buf.getvalue()


def _decode_pngs(cells: list[Any], path: Path, episode: int, dtype: np.dtype) -> np.ndarray:
    from PIL import Image

    out = []
    for i, cell in enumerate(cells):
        raw = cell["bytes"] if isinstance(cell, dict) else cell
        try:
            out.append(np.asarray(Image.open(io.BytesIO(raw))).astype(dtype, copy=False))
        except Exception as e:  # PIL raises many types for broken bytes
            raise DataError(path, f"image at frame {i} cannot be decoded: {e}", episode=episode) from e
    return np.stack(out)


def _to_numpy(column) -> np.ndarray:
    """An Arrow column of fixed-shape (nested) lists → ``(N, *shape)`` array in its stored dtype.

    HF ``datasets``' numpy formatter casts float64 to float32; poses and camera matrices must come
    back exactly as written, so the conversion is done here.
    """
    import pyarrow as pa

    a = column.combine_chunks() if hasattr(column, "combine_chunks") else column
    shape: list[int] = []
    while True:
        if isinstance(a.type, pa.ExtensionType):
            a = a.storage
        elif pa.types.is_list(a.type) or pa.types.is_fixed_size_list(a.type) or pa.types.is_large_list(a.type):
            shape.append(len(a[0]) if len(a) else 0)
            a = a.flatten()
        else:
            break
    return a.to_numpy(zero_copy_only=False).reshape(len(column), *shape)


# ------------------------------------------------------------------------------------------------
# Reader
# ------------------------------------------------------------------------------------------------


class LeRobotDataset(Dataset):
    """A LeRobot v3.0 or v2.1 dataset on local disk; see the module docstring for the layout."""

    def __init__(self, path: str | Path, *, strict: bool = True) -> None:
        super().__init__(path, strict=strict)
        info_path = self.path / INFO
        try:
            self.meta: dict = json.loads(info_path.read_text())
        except FileNotFoundError as e:
            raise DataError(info_path, "missing; not a LeRobot dataset") from e
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise DataError(info_path, f"not valid JSON: {e}") from e
        self.version = str(self.meta.get("codebase_version", ""))
        if self.version not in (V3, V21, "v2.0"):
            raise DataError(info_path, f"unsupported codebase_version {self.version!r} (v3.0, v2.1 and v2.0 are read)")
        self.layout = "lerobot_v3" if self.version == V3 else "lerobot_v2"
        for key in ("features", "fps"):
            if key not in self.meta:
                raise DataError(info_path, f"has no {key!r} entry")
        self.features: dict[str, dict] = self.meta["features"]
        self.fps = float(self.meta["fps"])
        self.extra_meta: dict = self.meta.get("workbench", {})
        self.video_keys = [k for k, f in self.features.items() if f.get("dtype") == "video"]
        self.cameras = sorted({k[len(IMAGES):] for k in self.video_keys if k.startswith(IMAGES)} |
                              {k[len(IMAGES):] for k, f in self.features.items() if k.startswith(IMAGES) and f.get("dtype") == "image"})  # fmt: skip
        self._rows: dict[int, dict] = {}  # episode_index → its metadata row
        self._tables: dict[Path, tuple] = {}  # data file → (HF table, its global index column)
        if self.version == V3:
            self._list_v3()
        else:
            self._list_v21()

    # -- listing --------------------------------------------------------------------------------
    def _read_table(self, files: list[Path]):
        datasets = _hf()
        try:
            return datasets.Dataset.from_parquet([str(f) for f in files])
        except Exception as e:  # arrow raises several types for truncated or foreign files
            bad = self._first_unreadable(files) or files[0]
            raise DataError(bad, f"parquet file cannot be read (truncated or corrupt?): {e}") from e

    @staticmethod
    def _first_unreadable(files: list[Path]) -> Path | None:
        import pyarrow.parquet as pq

        for f in files:
            try:
                pq.read_metadata(f)
            except Exception:
                return f
        return None

    def _list_v3(self) -> None:
        ep_files = sorted((self.path / "meta" / "episodes").glob("chunk-*/file-*.parquet"))
        if not ep_files:
            raise DataError(self.path / "meta" / "episodes", "no episode metadata files (chunk-*/file-*.parquet)")
        eps = self._read_table(ep_files)
        cols = [c for c in eps.column_names if not c.startswith("stats/")]
        table = eps.select_columns(cols).to_pandas()
        data_files = sorted((self.path / "data").glob("chunk-*/file-*.parquet"))
        if not data_files:
            raise DataError(self.path / "data", "no data files (chunk-*/file-*.parquet)")
        self._data_rows = self._count_rows(data_files)
        for row in table.to_dict("records"):
            self._add_episode(row)

    def _count_rows(self, files: list[Path]) -> dict[Path, int]:
        import pyarrow.parquet as pq

        rows: dict[Path, int] = {}
        for f in files:
            try:
                rows[f] = pq.read_metadata(f).num_rows
            except Exception as e:
                self._fail(DataError(f, f"parquet file cannot be read (truncated or corrupt?): {e}"))
        return rows

    def _list_v21(self) -> None:
        p = self.path / "meta" / "episodes.jsonl"
        if not p.is_file():
            raise DataError(p, "missing (required by LeRobot v2.1)")
        self._data_rows = {}
        for n, line in enumerate(p.read_text().splitlines()):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                self._fail(DataError(p, f"line {n + 1} is not valid JSON: {e}"))
                continue
            self._add_episode(row)

    def _add_episode(self, row: dict) -> None:
        try:
            idx = int(row["episode_index"])
            length = int(row["length"])
        except (KeyError, TypeError, ValueError):
            self._fail(DataError(self.path / "meta", f"episode row without a valid episode_index/length: {row!r}"))
            return
        try:
            self._check_row(idx, length, row)
        except DataError as e:
            self._fail(e)
            return
        tasks = row.get("tasks")
        tasks = list(tasks) if tasks is not None else []
        instruction = str(row.get("workbench/instruction") or (tasks[0] if tasks else ""))
        success = row.get("workbench/success")
        self._rows[idx] = row
        self.infos.append(
            EpisodeInfo(
                index=idx,
                length=length,
                task=str(row.get("workbench/task") or instruction),
                instruction=instruction,
                camera_setup=str(row.get("workbench/camera_setup") or CameraSetup.UNKNOWN.value),
                success=None if success is None or pd.isna(success) else bool(success),
            )
        )

    def _check_row(self, idx: int, length: int, row: dict) -> None:
        if length <= 0:
            raise DataError(self.path / "meta", "episode is empty (length 0)", episode=idx)
        if self.version != V3:
            data = self.path / self._v21_path(self.meta.get("data_path", V21_DATA_PATH), idx)
            if not data.is_file():
                raise DataError(data, "data file is missing", episode=idx)
            return
        data = self.path / V3_DATA_PATH.format(chunk_index=int(row["data/chunk_index"]), file_index=int(row["data/file_index"]))
        if data not in self._data_rows:
            raise DataError(data, "data file is missing or unreadable", episode=idx)
        lo, hi = int(row["dataset_from_index"]), int(row["dataset_to_index"])
        if hi - lo != length:
            raise DataError(self.path / "meta/episodes", f"row range [{lo}, {hi}) does not match length {length}", episode=idx)
        for key in self.video_keys:
            v = self._video_file(row, key)
            if not v.is_file():
                raise DataError(v, "video file is missing", episode=idx)

    def _v21_path(self, template: str, idx: int, **kw) -> str:
        chunk = idx // int(self.meta.get("chunks_size", 1000))
        return template.format(episode_chunk=chunk, episode_index=idx, **kw)

    def _video_file(self, row: dict, key: str) -> Path:
        return self.path / V3_VIDEO_PATH.format(
            video_key=key,
            chunk_index=int(row[f"videos/{key}/chunk_index"]),
            file_index=int(row[f"videos/{key}/file_index"]),
        )

    # -- one episode ----------------------------------------------------------------------------
    def _frames_table(self, info: EpisodeInfo):
        """The episode's rows of the frame table (HF ``datasets``, memory-mapped)."""
        row = self._rows[info.index]
        if self.version == V3:
            f = self.path / V3_DATA_PATH.format(chunk_index=int(row["data/chunk_index"]), file_index=int(row["data/file_index"]))
            if f not in self._tables:
                table = self._read_table([f])
                self._tables[f] = (table, _to_numpy(table.with_format("arrow")["index"]))
            table, idx = self._tables[f]
            lo, hi = int(row["dataset_from_index"]), int(row["dataset_to_index"])
            sel = np.flatnonzero((idx >= lo) & (idx < hi))
            if len(sel) != info.length:
                raise DataError(f, f"has {len(sel)} rows for the episode's index range [{lo}, {hi}), expected {info.length}", episode=info.index)
            return f, table.select(sel)
        f = self.path / self._v21_path(self.meta.get("data_path", V21_DATA_PATH), info.index)
        table = self._read_table([f])
        if len(table) != info.length:
            raise DataError(f, f"has {len(table)} rows, episodes.jsonl says {info.length}", episode=info.index)
        return f, table

    def _load(self, info: EpisodeInfo) -> Episode:
        datasets = _hf()
        f, table = self._frames_table(info)
        names = table.column_names
        image_cols = [c for c in names if isinstance(table.features[c], datasets.Image)]
        for c in image_cols:
            table = table.cast_column(c, datasets.Image(decode=False))
        arrow = table.with_format("arrow")[:]
        cols = {c: _to_numpy(arrow[c]) for c in names if c not in image_cols}

        def get(key: str) -> np.ndarray | None:
            if key not in cols:
                return None
            a = np.asarray(cols[key])
            return a.reshape(len(a), -1)[:, 0] if key == GRIPPER else a

        if ACTION not in cols:
            raise DataError(f, "has no 'action' column", episode=info.index)
        row = self._rows[info.index]
        cameras: dict[str, CameraStream] = {}
        for cam in self.cameras:
            cameras[cam] = self._camera(cam, info, row, cols, table, image_cols, f)
        extras = {k[len(EXTRA):]: np.asarray(v) for k, v in cols.items() if k.startswith(EXTRA)}
        skeleton = Skeleton.from_dict(self.extra_meta["skeleton"]) if "skeleton" in self.extra_meta else None
        ep = Episode(
            index=info.index,
            actions=np.asarray(cols[ACTION]),
            fps=self.fps,
            timestamps=np.asarray(cols["timestamp"], dtype=np.float64) if "timestamp" in cols else None,
            cameras=cameras,
            ee_pos=get(EE_POS),
            ee_quat=get(EE_QUAT),
            gripper=get(GRIPPER),
            hand_keypoints=get(HAND_KP),
            hand_confidence=get(HAND_CONF),
            skeleton=skeleton,
            state=get(STATE),
            instruction=info.instruction,
            task=info.task,
            camera_setup=info.camera_setup,
            success=info.success,
            source=str(row.get("workbench/source") or f"lerobot {self.version}"),
            extras=extras,
        )
        raise_if_invalid(ep, f)
        return ep

    def _camera(self, cam, info, row, cols, table, image_cols, f) -> CameraStream:
        key = IMAGES + cam
        n = info.length
        if key in image_cols:  # images stored in the table instead of a video
            cells = table.select_columns([key])[key]
            rgb = LazyFrames(n, lambda cells=cells: _decode_pngs(cells, f, info.index, np.uint8))
        elif self.version == V3:
            video = self._video_file(row, key)
            t0 = float(row[f"videos/{key}/from_timestamp"])
            rgb = LazyFrames(n, lambda: read_video_segment(video, t0, n, episode=info.index))
        else:
            video = self.path / self._v21_path(self.meta.get("video_path", V21_VIDEO_PATH), info.index, video_key=key)
            if not video.is_file():
                raise DataError(video, "video file is missing", episode=info.index)
            rgb = LazyFrames(n, lambda: read_video_segment(video, 0.0, n, episode=info.index))

        def pngs(col: str, dtype) -> LazyFrames | None:
            if col not in image_cols:
                return None
            cells = table.select_columns([col])[col]
            return LazyFrames(n, lambda: _decode_pngs(cells, f, info.index, dtype))

        setups = json.loads(row.get("workbench/camera_setups") or "{}")
        seg_labels = tuple(self.extra_meta.get("segmentation_labels", ()))
        return CameraStream(
            name=cam,
            rgb=rgb,
            depth=pngs(DEPTH + cam, np.uint16),
            segmentation=pngs(SEG + cam, np.uint8),
            intrinsics=cols.get(f"{CAMERA}{cam}.intrinsics"),
            extrinsics=cols.get(f"{CAMERA}{cam}.extrinsics"),
            setup=setups.get(cam, CameraSetup.UNKNOWN.value),
            segmentation_labels=seg_labels,
        )

    def _summary(self) -> dict:
        mods = set()
        if any(k.startswith(IMAGES) for k in self.features):
            mods.add("rgb")
        if any(k.startswith(DEPTH) for k in self.features):
            mods.add("depth")
        if any(k.startswith(SEG) for k in self.features):
            mods.add("segmentation")
        if EE_POS in self.features:
            mods.add("ee_pose")
        if HAND_KP in self.features:
            mods.add("hand_pose")
        if STATE in self.features:
            mods.add("state")
        shape = self.features.get(ACTION, {}).get("shape", [0])
        return {"cameras": self.cameras, "fps": self.fps, "action_dim": int(np.prod(shape)), "modalities": mods}

    def stats(self) -> dict:
        """``meta/stats.json`` as nested dicts of numpy arrays (empty if absent)."""
        p = self.path / "meta" / "stats.json"
        if not p.is_file():
            return {}
        try:
            raw = json.loads(p.read_text())
        except json.JSONDecodeError as e:
            raise DataError(p, f"not valid JSON: {e}") from e
        return {k: {s: np.asarray(v) for s, v in d.items()} for k, d in raw.items()}


# ------------------------------------------------------------------------------------------------
# Writer
# ------------------------------------------------------------------------------------------------


def _feature(dtype: np.dtype, shape: tuple[int, ...]) -> dict:
    return {"dtype": np.dtype(dtype).name, "shape": list(shape) or [1], "names": None}


def _hf_feature(spec: dict):
    datasets = _hf()
    dtype, shape = spec["dtype"], tuple(spec["shape"])
    if dtype == "image":
        return datasets.Image()
    if shape == (1,):
        return datasets.Value(dtype)
    if len(shape) == 1:
        return datasets.Sequence(datasets.Value(dtype), length=shape[0])
    return {2: datasets.Array2D, 3: datasets.Array3D, 4: datasets.Array4D}[len(shape)](shape=shape, dtype=dtype)


def _episode_columns(ep: Episode) -> dict[str, np.ndarray]:
    """The episode's per-step numeric streams under their LeRobot feature keys."""
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
        _write(episodes, tmp, version=version, fps=fps, robot_type=robot_type, crf=crf, lossless=lossless,
               episodes_per_file=episodes_per_file, splits=splits, extra_meta=extra_meta or {},
               progress=tqdm if progress else None)  # fmt: skip
        if root.exists():
            root.rmdir()
        os.replace(tmp, root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return root


def _write(episodes, root: Path, *, version, fps, robot_type, crf, lossless, episodes_per_file, splits, extra_meta, progress) -> None:
    datasets = _hf()
    features: dict[str, dict] | None = None
    tasks: dict[str, int] = {}
    ep_rows: list[dict] = []
    frame_buf: dict[str, list] = {}
    file_index = 0
    eps_in_file = 0
    writers: dict[str, VideoWriter] = {}
    video_frames: dict[str, int] = {}
    global_index = 0
    skeleton: Skeleton | None = None
    seg_labels: tuple[str, ...] = ()
    stats_acc: dict[str, list[np.ndarray]] = {}
    it = progress(episodes, desc=f"write {root.name.split('.')[1] if root.name.startswith('.') else root.name}") if progress else episodes

    def flush_data(path: Path) -> None:
        if not frame_buf:
            return
        hf_feats = datasets.Features({k: _hf_feature(features[k]) for k in frame_buf})
        data = {k: (v if features[k]["dtype"] == "image" else np.concatenate(v)) for k, v in frame_buf.items()}
        path.parent.mkdir(parents=True, exist_ok=True)
        datasets.Dataset.from_dict(data, features=hf_feats).to_parquet(str(path))
        frame_buf.clear()

    def close_videos() -> None:
        for w in writers.values():
            w.close()
        writers.clear()
        video_frames.clear()

    for ep in it:
        raise_if_invalid(ep, root)
        T = len(ep)
        fps = fps or ep.fps
        cols = _episode_columns(ep)
        if features is None:
            features = {k: _feature(v.dtype, v.shape[1:]) for k, v in cols.items()}
            for name, cam in ep.cameras.items():
                h, w = cam.rgb[0].shape[:2]
                features[IMAGES + name] = {
                    "dtype": "video", "shape": [h, w, 3], "names": ["height", "width", "channels"],
                    "info": {"video.fps": fps, "video.codec": "h264", "video.pix_fmt": "rgb24" if lossless else "yuv420p",
                             "video.is_depth_map": False},
                }  # fmt: skip
                if cam.depth is not None:
                    features[DEPTH + name] = {"dtype": "image", "shape": [h, w, 1], "names": ["height", "width", "channels"],
                                              "info": {"units": "millimetres", "png": "16-bit"}}  # fmt: skip
                if cam.segmentation is not None:
                    features[SEG + name] = {"dtype": "image", "shape": [h, w, 1], "names": ["height", "width", "channels"]}
                    seg_labels = cam.segmentation_labels
            features.update({
                "timestamp": _feature(np.float32, ()), "frame_index": _feature(np.int64, ()),
                "episode_index": _feature(np.int64, ()), "index": _feature(np.int64, ()), "task_index": _feature(np.int64, ()),
            })  # fmt: skip
            skeleton = ep.skeleton
        schema = {k for k, f in features.items() if f["dtype"] not in ("video",)}
        have = set(cols) | {DEPTH + n for n, c in ep.cameras.items() if c.depth is not None} | \
            {SEG + n for n, c in ep.cameras.items() if c.segmentation is not None} | set(BOOKKEEPING)  # fmt: skip
        if have != schema or {IMAGES + n for n in ep.cameras} != {k for k, f in features.items() if f["dtype"] == "video"}:
            raise DataError(root, f"episode streams differ from the first episode's: {sorted(have ^ schema)}", episode=ep.index)
        for k, v in cols.items():
            if list(v.shape[1:] or (1,)) != features[k]["shape"]:
                raise DataError(root, f"{k} has shape {v.shape[1:]}, the first episode had {features[k]['shape']}", episode=ep.index)
        instruction = ep.instruction or ep.task
        task_index = tasks.setdefault(instruction, len(tasks))

        if version == V3 and episodes_per_file and eps_in_file == episodes_per_file:
            flush_data(root / V3_DATA_PATH.format(chunk_index=0, file_index=file_index))
            close_videos()
            file_index += 1
            eps_in_file = 0
        book = {
            "timestamp": (np.arange(T) / fps).astype(np.float32) if ep.timestamps is None else ep.timestamps.astype(np.float32),
            "frame_index": np.arange(T, dtype=np.int64),
            "episode_index": np.full(T, ep.index, dtype=np.int64),
            "index": np.arange(global_index, global_index + T, dtype=np.int64),
            "task_index": np.full(T, task_index, dtype=np.int64),
        }
        row: dict[str, Any] = {
            "episode_index": ep.index, "tasks": [instruction], "length": T,
            "workbench/task": ep.task, "workbench/instruction": ep.instruction,
            "workbench/camera_setup": ep.camera_setup.value,
            "workbench/success": ep.success, "workbench/source": ep.source,
            "workbench/camera_setups": json.dumps({n: c.setup.value for n, c in ep.cameras.items()}),
        }  # fmt: skip
        if version == V3:
            row.update({"data/chunk_index": 0, "data/file_index": file_index,
                        "dataset_from_index": global_index, "dataset_to_index": global_index + T,
                        "meta/episodes/chunk_index": 0, "meta/episodes/file_index": 0})  # fmt: skip
        for k, v in {**cols, **book}.items():
            frame_buf.setdefault(k, []).append(v)
            if k in cols and np.issubdtype(v.dtype, np.number):
                stats_acc.setdefault(k, []).append(v.reshape(T, -1).astype(np.float64))
        for name, cam in ep.cameras.items():
            if cam.depth is not None:
                frame_buf.setdefault(DEPTH + name, []).extend({"bytes": _png_bytes(d), "path": None} for d in cam.depth.load())
            if cam.segmentation is not None:
                frame_buf.setdefault(SEG + name, []).extend({"bytes": _png_bytes(s), "path": None} for s in cam.segmentation.load())
            key = IMAGES + name
            frames = cam.rgb.load()
            if version == V3:
                if key not in writers:
                    writers[key] = VideoWriter(root / V3_VIDEO_PATH.format(video_key=key, chunk_index=0, file_index=file_index),
                                               fps, crf=crf, lossless=lossless)  # fmt: skip
                    video_frames[key] = 0
                start = video_frames[key]
                for fr in frames:
                    writers[key].write(fr)
                video_frames[key] += T
                row.update({f"videos/{key}/chunk_index": 0, f"videos/{key}/file_index": file_index,
                            f"videos/{key}/from_timestamp": start / fps, f"videos/{key}/to_timestamp": (start + T) / fps})  # fmt: skip
            else:
                with VideoWriter(root / V21_VIDEO_PATH.format(episode_chunk=0, video_key=key, episode_index=ep.index),
                                 fps, crf=crf, lossless=lossless) as w:  # fmt: skip
                    for fr in frames:
                        w.write(fr)
        if version == V21:
            flush_data(root / V21_DATA_PATH.format(episode_chunk=0, episode_index=ep.index))
        ep_rows.append(row)
        global_index += T
        eps_in_file += 1

    if features is None:
        raise DataError(root, "no episodes to write")
    if version == V3:
        flush_data(root / V3_DATA_PATH.format(chunk_index=0, file_index=file_index))
        close_videos()
    stats = {k: {"mean": np.concatenate(v).mean(0).reshape(features[k]["shape"]).tolist(),
                 "std": np.concatenate(v).std(0).reshape(features[k]["shape"]).tolist(),
                 "min": np.concatenate(v).min(0).reshape(features[k]["shape"]).tolist(),
                 "max": np.concatenate(v).max(0).reshape(features[k]["shape"]).tolist(),
                 "count": [int(sum(len(a) for a in v))]} for k, v in stats_acc.items()}  # fmt: skip
    meta = root / "meta"
    meta.mkdir(parents=True, exist_ok=True)
    (meta / "stats.json").write_text(json.dumps(stats, indent=2))
    n_eps = len(ep_rows)
    wb_meta: dict[str, Any] = dict(extra_meta)
    if skeleton is not None:
        wb_meta["skeleton"] = skeleton.to_dict()
    if seg_labels:
        wb_meta["segmentation_labels"] = list(seg_labels)
    if splits:
        wb_meta["splits"] = splits
    info: dict[str, Any] = {
        "codebase_version": version, "robot_type": robot_type,
        "total_episodes": n_eps, "total_frames": global_index, "total_tasks": len(tasks),
        "chunks_size": 1000, "fps": fps, "splits": {"train": f"0:{n_eps}"},
        "features": features, "workbench": wb_meta,
    }  # fmt: skip
    if version == V3:
        info.update({"data_files_size_in_mb": 100, "video_files_size_in_mb": 500,
                     "data_path": V3_DATA_PATH, "video_path": V3_VIDEO_PATH})  # fmt: skip
        tdf = pd.DataFrame({"task_index": list(tasks.values())}, index=pd.Index(list(tasks), name="task"))
        tdf.to_parquet(meta / "tasks.parquet")
        ep_path = root / V3_EPISODES_PATH.format(chunk_index=0, file_index=0)
        ep_path.parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame(ep_rows).to_parquet(ep_path)
    else:
        info.update({"total_chunks": 1, "total_videos": n_eps * len(writers or [k for k in features if features[k]["dtype"] == "video"]),
                     "data_path": V21_DATA_PATH, "video_path": V21_VIDEO_PATH})  # fmt: skip
        (meta / "tasks.jsonl").write_text("".join(json.dumps({"task_index": i, "task": t}) + "\n" for t, i in tasks.items()))
        (meta / "episodes.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ep_rows))
    (meta / "info.json").write_text(json.dumps(info, indent=2))
