"""Read a LeRobot v3.0 or v2.1 dataset: ours, LeRobot's own, or what LeRobot's tools made of ours.

Episode files are read one at a time, so files with different columns (what a LeRobot append to an
older workbench dataset leaves behind) load side by side. Datasets written before the flat-feature
layout (2-D camera matrices, float fps, ``workbench/*`` episode columns, a ``workbench`` key in
``info.json``) keep loading.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from workbench.data.dataset import Dataset
from workbench.data.lerobot.schema import (
    ACTION,
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
    SETUP_CODES,
    SIDECAR,
    STATE,
    STATS,
    SUCCESS_CODES,
    V3,
    V3_DATA_PATH,
    V3_VIDEO_PATH,
    V21,
    V21_DATA_PATH,
    V21_VIDEO_PATH,
    stored_shape,
)
from workbench.data.validate import raise_if_invalid
from workbench.data.video import video_frames
from workbench.types import CameraSetup, CameraStream, DataError, Episode, EpisodeInfo, LazyFrames, Skeleton

__all__ = ["LeRobotDataset", "is_lerobot"]

# per-episode stats that carry per-episode facts (min == max over a constant column)
_FACTS = (f"stats/{EP_SUCCESS}/min", f"stats/{EP_SETUP}/min")
_LEGACY = "workbench/"  # episode columns of datasets written before the facts moved into data columns


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


def _png_cells(column) -> list[Any]:
    """The encoded bytes of each frame of an image column (a ``{bytes, path}`` struct or plain binary)."""
    import pyarrow as pa

    a = column.combine_chunks() if hasattr(column, "combine_chunks") else column
    if pa.types.is_struct(a.type):
        a = a.field("bytes")
    return a.to_pylist()


def _to_numpy(column) -> np.ndarray:
    """An Arrow column of fixed-shape (nested) lists → ``(N, *shape)`` array in its stored dtype.

    Done here rather than through a numpy formatter (HF ``datasets``' casts float64 to float32):
    poses and camera matrices must come back exactly as written.
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


def _cell(row: dict, key: str):
    """A row's value, None where the row's file has no such column (pandas fills those with NaN)."""
    v = row.get(key)
    return None if v is None or (isinstance(v, float) and np.isnan(v)) else v


def _unreadable(path: Path, e: Exception) -> DataError:
    """The error for a parquet file that will not load: truncated only if its footer is unreadable."""
    import pyarrow.parquet as pq

    try:
        pq.read_metadata(path)
    except Exception:
        return DataError(path, f"parquet file cannot be read (truncated or corrupt?): {e}")
    return DataError(path, f"parquet file cannot be read: {e}")


class LeRobotDataset(Dataset):
    """A LeRobot v3.0 or v2.1 dataset on local disk; see :mod:`workbench.data.lerobot` for the layout."""

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
        self.sidecar = self._read_sidecar()
        # dataset-level notes: ours beside the dataset, or (older datasets) inside info.json
        self.extra_meta: dict = {k: v for k, v in self.sidecar.items() if k != "episodes"} or self.meta.get("workbench", {})
        self.video_keys = [k for k, f in self.features.items() if f.get("dtype") == "video"]
        self.cameras = sorted({k[len(IMAGES):] for k, f in self.features.items() if k.startswith(IMAGES) and f.get("dtype") in ("video", "image")})
        self._rows: dict[int, dict] = {}  # episode_index → its metadata row
        self._tables: dict[Path, tuple] = {}  # data file → (Arrow table, its global index column)
        self._task_of = {n.get("instruction"): n.get("task") for n in self.sidecar.get("episodes", {}).values() if n.get("task")}
        if self.version == V3:
            self._list_v3()
        else:
            self._list_v21()

    def _read_sidecar(self) -> dict:
        p = self.path / SIDECAR
        if not p.is_file():
            return {}
        try:
            return json.loads(p.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise DataError(p, f"not valid JSON: {e}") from e

    # -- listing --------------------------------------------------------------------------------
    def _read_table(self, path: Path):
        """The whole frame table of one data file, read with plain pyarrow (memory-mapped).

        HF ``datasets`` was used here before; its ``select``/``cast_column`` deep-copy the table's
        replay history on every call (~0.25 s per episode, 11 s to open the 48-episode sample), and
        ``from_parquet`` converts each file into its own cache on first read.
        """
        import pyarrow.parquet as pq

        try:
            return pq.read_table(path, memory_map=True)
        except Exception as e:  # arrow raises several types for truncated or foreign files
            raise _unreadable(path, e) from e

    def _image_columns(self, table) -> list[str]:
        """Columns holding PNG images (depth, segmentation, or RGB stored in the table): the
        ``image`` features of info.json, or any ``{bytes, path}`` struct column (HF's Image)."""
        import pyarrow as pa

        out = []
        for field in table.schema:
            t = field.type
            is_struct_image = pa.types.is_struct(t) and t.get_field_index("bytes") >= 0
            if self.features.get(field.name, {}).get("dtype") == "image" or is_struct_image:
                out.append(field.name)
        return out

    def _episode_columns(self) -> list[str]:
        cols = ["episode_index", "length", "tasks", "data/chunk_index", "data/file_index", "dataset_from_index", "dataset_to_index"]
        for key in self.video_keys:
            cols += [f"videos/{key}/{c}" for c in ("chunk_index", "file_index", "from_timestamp")]
        return cols

    def _list_v3(self) -> None:
        import pyarrow.parquet as pq

        ep_files = sorted((self.path / "meta" / "episodes").glob("chunk-*/file-*.parquet"))
        if not ep_files:
            raise DataError(self.path / "meta" / "episodes", "no episode metadata files (chunk-*/file-*.parquet)")
        required = self._episode_columns()
        parts = []
        for f in ep_files:  # one file at a time: files appended by other writers may have other columns
            try:
                names = pq.read_schema(f).names
                keep = [c for c in names if not c.startswith("stats/") or c in _FACTS]
                parts.append(pq.read_table(f, columns=keep).to_pandas())
            except Exception as e:
                raise _unreadable(f, e) from e
            missing = [c for c in required if c not in names]
            if missing:
                others = "" if len(ep_files) == 1 else f" (its columns differ from the other episode files': {len(names)} columns)"
                raise DataError(f, f"episode metadata has no column(s) {missing}{others}")
        table = pd.concat(parts, ignore_index=True)
        if _LEGACY + "task" in table:  # an older dataset that LeRobot appended to: name the new episodes' tasks too
            known = table.dropna(subset=[_LEGACY + "task", _LEGACY + "instruction"])
            self._task_of.update(zip(known[_LEGACY + "instruction"], known[_LEGACY + "task"], strict=True))
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

    def _read_jsonl(self, p: Path) -> list[dict]:
        out = []
        for n, line in enumerate(p.read_text().splitlines()):
            if not line.strip():
                continue
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError as e:
                self._fail(DataError(p, f"line {n + 1} is not valid JSON: {e}"))
        return out

    def _list_v21(self) -> None:
        p = self.path / "meta" / "episodes.jsonl"
        if not p.is_file():
            raise DataError(p, "missing (required by LeRobot v2.1)")
        self._data_rows = {}
        facts: dict[int, dict] = {}
        s = self.path / "meta" / "episodes_stats.jsonl"
        if s.is_file():
            for r in self._read_jsonl(s):
                st = r.get("stats", {})
                facts[r.get("episode_index")] = {f"stats/{k}/min": st[k]["min"] for k in (EP_SUCCESS, EP_SETUP) if k in st}
        for row in self._read_jsonl(p):
            self._add_episode({**facts.get(row.get("episode_index"), {}), **row})

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
        instruction = str(_cell(row, _LEGACY + "instruction") or (tasks[0] if tasks else ""))
        self._rows[idx] = row
        self.infos.append(
            EpisodeInfo(
                index=idx,
                length=length,
                task=self._note(idx, instruction, "task") or self._task_of.get(instruction) or _task_from(instruction),
                instruction=instruction,
                camera_setup=self._setups(row).get("episode", CameraSetup.UNKNOWN.value),
                success=self._success(row),
            )
        )

    def _note(self, idx: int, instruction: str, key: str) -> str | None:
        """A per-episode note of ours: the legacy column, else the sidecar's entry if it is still the
        same episode (LeRobot's tools renumber episodes; the instruction tells)."""
        legacy = _cell(self._rows.get(idx, {}), _LEGACY + key)
        if legacy:
            return str(legacy)
        note = self.sidecar.get("episodes", {}).get(str(idx))
        return note.get(key) if note and note.get("instruction") == instruction else None

    @staticmethod
    def _success(row: dict) -> bool | None:
        v = _cell(row, _FACTS[0])
        if v is None:
            legacy = _cell(row, _LEGACY + "success")
            return None if legacy is None else bool(legacy)
        return SUCCESS_CODES.get(int(np.asarray(v).reshape(-1)[0]))

    def _setups(self, row: dict, column: np.ndarray | None = None) -> dict[str, str]:
        """The episode's and each camera's setup: from the code column (its first frame, or its
        per-episode stats at listing time), or the legacy columns."""
        if _cell(row, _LEGACY + "camera_setup") is not None:
            out = json.loads(_cell(row, _LEGACY + "camera_setups") or "{}")
            return {"episode": str(row[_LEGACY + "camera_setup"]), **out}
        codes = column[0] if column is not None else _cell(row, _FACTS[1])
        names = self.features.get(EP_SETUP, {}).get("names") or []
        if codes is None or len(names) != len(np.asarray(codes).reshape(-1)):
            return {}
        return {n: SETUP_CODES[int(c)] if 0 <= int(c) < len(SETUP_CODES) else CameraSetup.UNKNOWN.value
                for n, c in zip(names, np.asarray(codes).reshape(-1), strict=True)}  # fmt: skip

    def _check_row(self, idx: int, length: int, row: dict) -> None:
        if length <= 0:
            raise DataError(self.path / "meta", "episode is empty (length 0)", episode=idx)
        if self.version != V3:
            data = self.path / self._v21_path(self.meta.get("data_path", V21_DATA_PATH), idx)
            if not data.is_file():
                raise DataError(data, "data file is missing", episode=idx)
            return
        data = self._data_file(row)
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

    def _data_file(self, row: dict) -> Path:
        return self.path / V3_DATA_PATH.format(chunk_index=int(row["data/chunk_index"]), file_index=int(row["data/file_index"]))

    def _video_file(self, row: dict, key: str) -> Path:
        return self.path / V3_VIDEO_PATH.format(
            video_key=key,
            chunk_index=int(row[f"videos/{key}/chunk_index"]),
            file_index=int(row[f"videos/{key}/file_index"]),
        )

    # -- one episode ----------------------------------------------------------------------------
    def _frames_table(self, info: EpisodeInfo):
        """The episode's rows of the frame table (an Arrow table; a zero-copy slice where the rows are contiguous)."""
        row = self._rows[info.index]
        if self.version == V3:
            f = self._data_file(row)
            if f not in self._tables:
                table = self._read_table(f)
                if "index" not in table.column_names:
                    raise DataError(f, "has no 'index' column (the global frame index LeRobot v3.0 writes)", episode=info.index)
                self._tables[f] = (table, _to_numpy(table.column("index")))
            table, idx = self._tables[f]
            lo, hi = int(row["dataset_from_index"]), int(row["dataset_to_index"])
            sel = np.flatnonzero((idx >= lo) & (idx < hi))
            if len(sel) != info.length:
                raise DataError(f, f"has {len(sel)} rows for the episode's index range [{lo}, {hi}), expected {info.length}", episode=info.index)
            if len(sel) and sel[-1] - sel[0] + 1 == len(sel):  # the usual case: one contiguous run of rows, no copy
                return f, table.slice(int(sel[0]), len(sel))
            return f, table.take(sel)
        f = self.path / self._v21_path(self.meta.get("data_path", V21_DATA_PATH), info.index)
        table = self._read_table(f)
        if len(table) != info.length:
            raise DataError(f, f"has {len(table)} rows, episodes.jsonl says {info.length}", episode=info.index)
        return f, table

    def _columns(self, arrow, names: list[str]) -> dict[str, np.ndarray]:
        """Numeric columns as arrays, flat features reshaped to the layout their names give."""
        cols = {}
        for c in names:
            a = _to_numpy(arrow[c])
            spec = self.features.get(c)
            if spec is not None and a.ndim == 2 and len(shape := stored_shape(spec)) > 1:
                a = a.reshape(len(a), *shape)
            cols[c] = a
        return cols

    def _load(self, info: EpisodeInfo) -> Episode:
        f, table = self._frames_table(info)
        names = table.column_names
        image_cols = self._image_columns(table)
        cols = self._columns(table, [c for c in names if c not in image_cols])

        def get(key: str) -> np.ndarray | None:
            if key not in cols:
                return None
            a = np.asarray(cols[key])
            return a.reshape(len(a), -1)[:, 0] if key == GRIPPER else a

        if ACTION not in cols:
            raise DataError(f, "has no 'action' column", episode=info.index)
        row = self._rows[info.index]
        setups = self._setups(row, cols.get(EP_SETUP))
        success = SUCCESS_CODES.get(int(cols[EP_SUCCESS].reshape(-1)[0])) if EP_SUCCESS in cols else info.success
        cameras = {cam: self._camera(cam, info, row, cols, table, image_cols, f, setups) for cam in self.cameras}
        extras = {k[len(EXTRA):]: np.asarray(v) for k, v in cols.items() if k.startswith(EXTRA)}
        ep = Episode(
            index=info.index,
            actions=np.asarray(cols[ACTION]),
            fps=self.fps,
            timestamps=np.asarray(cols["timestamp"], dtype=np.float64).reshape(-1) if "timestamp" in cols else None,
            cameras=cameras,
            ee_pos=get(EE_POS),
            ee_quat=get(EE_QUAT),
            gripper=get(GRIPPER),
            hand_keypoints=get(HAND_KP),
            hand_confidence=get(HAND_CONF),
            skeleton=self._skeleton(),
            state=get(STATE),
            instruction=info.instruction,
            task=info.task,
            camera_setup=setups.get("episode", info.camera_setup),
            success=success,
            source=self._note(info.index, info.instruction, "source") or f"lerobot {self.version}",
            extras=extras,
            objects=tuple(self._note(info.index, info.instruction, "objects") or ()),
        )
        raise_if_invalid(ep, f)
        return ep

    def _skeleton(self) -> Skeleton | None:
        d = self.features.get(HAND_KP, {}).get("info", {}).get("skeleton") or self.extra_meta.get("skeleton")
        return Skeleton.from_dict(d) if d else None

    def _camera(self, cam, info, row, cols, table, image_cols, f, setups) -> CameraStream:
        key = IMAGES + cam
        n = info.length
        if key in image_cols:  # images stored in the table instead of a video
            cells = table.column(key)
            rgb = LazyFrames(n, lambda cells=cells: _decode_pngs(_png_cells(cells), f, info.index, np.uint8))
        elif self.version == V3:
            video = self._video_file(row, key)
            t0 = float(row[f"videos/{key}/from_timestamp"])
            rgb = video_frames(video, t0, n, self.fps, episode=info.index)
        else:
            video = self.path / self._v21_path(self.meta.get("video_path", V21_VIDEO_PATH), info.index, video_key=key)
            if not video.is_file():
                raise DataError(video, "video file is missing", episode=info.index)
            rgb = video_frames(video, 0.0, n, self.fps, episode=info.index)

        def pngs(col: str, dtype) -> LazyFrames | None:
            if col not in image_cols:
                return None
            cells = table.column(col)
            return LazyFrames(n, lambda: _decode_pngs(_png_cells(cells), f, info.index, dtype))

        labels = self.features.get(SEG + cam, {}).get("info", {}).get("labels") or self.extra_meta.get("segmentation_labels", ())
        return CameraStream(
            name=cam,
            rgb=rgb,
            depth=pngs(DEPTH + cam, np.uint16),
            segmentation=pngs(SEG + cam, np.uint8),
            intrinsics=cols.get(f"{CAMERA}{cam}.intrinsics"),
            extrinsics=cols.get(f"{CAMERA}{cam}.extrinsics"),
            setup=setups.get(cam, CameraSetup.UNKNOWN.value),
            segmentation_labels=tuple(labels),
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
        p = self.path / STATS
        if not p.is_file():
            return {}
        try:
            raw = json.loads(p.read_text())
        except json.JSONDecodeError as e:
            raise DataError(p, f"not valid JSON: {e}") from e
        return {k: {s: np.asarray(v) for s, v in d.items()} for k, d in raw.items()}


def _task_from(instruction: str) -> str:
    """A task named again from its instruction when the dataset's notes are gone (LeRobot's tools
    rewrite a dataset without ``meta/workbench.json``): the simulator's templates, else the text."""
    from workbench.sim.instructions import task_of_instruction

    return task_of_instruction(instruction) or instruction
