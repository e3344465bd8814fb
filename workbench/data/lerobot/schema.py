"""Feature keys, paths and feature specs of the LeRobot datasets the workbench writes and reads.

Names and shapes only; nothing here reads or writes files.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from workbench.types import CameraSetup

V3 = "v3.0"
V21 = "v2.1"
INFO = "meta/info.json"
STATS = "meta/stats.json"
SIDECAR = "meta/workbench.json"  # our own notes; LeRobot ignores it and its tools do not copy it

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
# Per-episode facts stored as constant per-frame columns: data columns are the one place every
# LeRobot tool (delete_episodes, aggregate_datasets, resume) keeps, and their per-episode stats
# (min == max) give the value at listing time without reading the frames.
EP_SUCCESS = "episode.success"
EP_SETUP = "episode.camera_setup"
BOOKKEEPING = ("timestamp", "frame_index", "episode_index", "index", "task_index")

CHUNK_FILE = "chunk-{chunk_index:03d}/file-{file_index:03d}"
V3_DATA_PATH = "data/" + CHUNK_FILE + ".parquet"
V3_VIDEO_PATH = "videos/{video_key}/" + CHUNK_FILE + ".mp4"
V3_EPISODES_PATH = "meta/episodes/" + CHUNK_FILE + ".parquet"
V21_DATA_PATH = "data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet"
V21_VIDEO_PATH = "videos/chunk-{episode_chunk:03d}/{video_key}/episode_{episode_index:06d}.mp4"

# Codes of the per-episode columns. The tables are fixed (not per dataset) so two workbench datasets
# have equal ``features`` and ``aggregate_datasets`` accepts them.
SETUP_CODES: tuple[str, ...] = (CameraSetup.UNKNOWN.value, CameraSetup.FIXED.value, CameraSetup.RANDOM.value,
                                CameraSetup.DYNAMIC.value, CameraSetup.WRIST.value)  # fmt: skip
SUCCESS_CODES = {1: True, 0: False, -1: None}

_MATRIX_SYMBOL = {".intrinsics": "K", ".extrinsics": "T_world_camera"}
_NAME = re.compile(r"^(?P<sym>.+)\[(?P<idx>\d+(?:,\d+)*)\]$")


def flat_names(symbol: str, shape: Sequence[int]) -> list[str]:
    """Row-major names of a flattened array, ``K[0,0] … K[2,2]``: the layout travels with the feature."""
    return [f"{symbol}[{','.join(map(str, i))}]" for i in np.ndindex(*shape)]


def shape_from_names(names) -> tuple[int, ...] | None:
    """The array shape that :func:`flat_names` encoded, or None when ``names`` are not such names."""
    if not isinstance(names, list) or len(names) < 2:
        return None
    idx = []
    for n in names:
        m = _NAME.match(n) if isinstance(n, str) else None
        if m is None:
            return None
        idx.append(tuple(int(i) for i in m["idx"].split(",")))
    shape = tuple(max(i[d] for i in idx) + 1 for d in range(len(idx[0])))
    if len(shape) < 2 or idx != list(np.ndindex(*shape)):
        return None
    return shape


def numeric_feature(key: str, dtype: np.dtype, shape: tuple[int, ...]) -> dict:
    """The spec of a per-step numeric stream: 1-D always (LeRobot's tools and Rerun read no 2-D features);
    an array of several dimensions is stored flat with names saying its layout."""
    dtype = np.dtype(dtype).name
    if len(shape) <= 1:
        return {"dtype": dtype, "shape": [int(shape[0]) if shape else 1], "names": None}
    symbol = next((s for suffix, s in _MATRIX_SYMBOL.items() if key.endswith(suffix)), "T" if key == HAND_KP else "x")
    return {"dtype": dtype, "shape": [int(np.prod(shape))], "names": flat_names(symbol, shape)}


def stored_shape(spec: dict) -> tuple[int, ...]:
    """Per-frame shape the reader hands out: the names' layout for a flattened feature, else ``shape``."""
    return shape_from_names(spec.get("names")) or tuple(spec["shape"])


def episode_features(cameras: Sequence[str]) -> dict[str, dict]:
    """Specs of the per-episode columns (success; the episode's and each camera's setup)."""
    codes = {str(k): ("unknown" if v is None else str(v).lower()) for k, v in SUCCESS_CODES.items()}
    return {
        EP_SUCCESS: {"dtype": "int64", "shape": [1], "names": None, "info": {"codes": codes}},
        EP_SETUP: {"dtype": "int64", "shape": [1 + len(cameras)], "names": ["episode", *cameras],
                   "info": {"codes": list(SETUP_CODES)}},
    }  # fmt: skip


def image_feature(h: int, w: int, info: dict | None = None, *, video: bool) -> dict:
    """A camera stream: RGB video (3 channels) or one-channel PNG images (depth, segmentation)."""
    spec = {"dtype": "video" if video else "image", "shape": [h, w, 3 if video else 1],
            "names": ["height", "width", "channels"]}  # fmt: skip
    if info:
        spec["info"] = info
    return spec


def bookkeeping_features() -> dict[str, dict]:
    return {"timestamp": {"dtype": "float32", "shape": [1], "names": None},
            **{k: {"dtype": "int64", "shape": [1], "names": None} for k in BOOKKEEPING[1:]}}  # fmt: skip


def setup_code(setup: str) -> int:
    return SETUP_CODES.index(setup) if setup in SETUP_CODES else 0


def success_code(success: bool | None) -> int:
    return -1 if success is None else int(bool(success))


def hf_datasets():
    """HF ``datasets``, quiet (it reads and writes the tables, as in LeRobot)."""
    import datasets

    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()
    return datasets
