"""Per-dimension mean/std normalisation of chunks, computed on the training split.

CAIP App. C.1: "action targets … are normalized independently per dimension using mean and standard
deviation statistics computed over the training set". Padded steps (mask False) are left out of the
statistics. Statistics are stored with a dataset when the workbench writes it
(:func:`save_stats`), and otherwise computed on the fly, never written into a dataset it reads.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from workbench.atomic import atomic_write_text
from workbench.types import EpisodeInfo

__all__ = ["CHUNK_HORIZON", "NormStats", "compute_norm_stats", "split_episodes", "save_stats", "load_stats", "STATS_FILE",
           "stats_file", "write_dataset_stats"]

CHUNK_HORIZON = 16  # CLASS App. B: DTW horizon 16; the horizon of the statistics written beside a dataset

STATS_FILE = "workbench_stats.json"


@dataclass(frozen=True)
class NormStats:
    """Mean and standard deviation per dimension; ``std`` is floored at ``eps`` when applied."""

    mean: np.ndarray
    std: np.ndarray
    count: int
    eps: float = 1e-6

    def normalize(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / np.maximum(self.std, self.eps)).astype(np.float32)

    def unnormalize(self, x: np.ndarray) -> np.ndarray:
        return (x * np.maximum(self.std, self.eps) + self.mean).astype(np.float32)

    def to_dict(self) -> dict:
        return {"mean": self.mean.tolist(), "std": self.std.tolist(), "count": self.count, "eps": self.eps}

    @classmethod
    def from_dict(cls, d: dict) -> NormStats:
        return cls(np.asarray(d["mean"], dtype=np.float64), np.asarray(d["std"], dtype=np.float64), int(d["count"]), float(d.get("eps", 1e-6)))


def compute_norm_stats(values: np.ndarray, mask: np.ndarray | None = None) -> NormStats:
    """Statistics over every valid step of ``values`` ``(N, H, D)`` (or ``(N, D)``), per dimension."""
    v = np.asarray(values, dtype=np.float64)
    flat = v.reshape(-1, v.shape[-1])
    if mask is not None:
        flat = flat[np.asarray(mask).reshape(-1)]
    if len(flat) == 0:
        raise ValueError("no valid steps to compute statistics on")
    return NormStats(flat.mean(0), flat.std(0), int(len(flat)))



def split_episodes(infos: Sequence[EpisodeInfo], val_fraction: float = 0.25, seed: int = 0) -> dict[str, list[int]]:
    """A train/val split of episode indices, stratified by task and deterministic from ``seed``.

    Every task with at least two episodes keeps at least one in each split.
    """
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    rng = np.random.default_rng(seed)
    by_task: dict[str, list[int]] = {}
    for info in infos:
        by_task.setdefault(info.task, []).append(info.index)
    train, val = [], []
    for task in sorted(by_task):
        idx = sorted(by_task[task])
        rng.shuffle(idx)
        n_val = int(round(len(idx) * val_fraction))
        if val_fraction > 0 and len(idx) >= 2:
            n_val = min(max(n_val, 1), len(idx) - 1)
        val += idx[:n_val]
        train += idx[n_val:]
    return {"train": sorted(train), "val": sorted(val)}


def save_stats(path: str | Path, stats: dict[str, NormStats], meta: dict | None = None) -> Path:
    """Write named statistics (e.g. ``"ee/h16"``) to a JSON file, atomically."""
    path = Path(path)
    atomic_write_text(path, json.dumps({"meta": meta or {}, "stats": {k: v.to_dict() for k, v in stats.items()}}, indent=1))
    return path


def load_stats(path: str | Path) -> dict[str, NormStats]:
    from workbench.types import DataError

    path = Path(path)
    try:
        raw = json.loads(path.read_text())
        return {k: NormStats.from_dict(v) for k, v in raw["stats"].items()}
    except FileNotFoundError:
        return {}
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise DataError(path, f"statistics file is malformed: {e}") from e


def stats_file(ds) -> Path:
    """Where the workbench keeps a dataset's split and chunk statistics (a file of ours)."""
    if ds.layout.startswith("lerobot"):
        return ds.path / "meta" / "workbench_stats.json"
    return (ds.path.parent if ds.path.is_file() else ds.path) / "workbench_stats.json"


def write_dataset_stats(path: Path, kinds: tuple[str, ...], seed: int) -> None:
    """The seeded train/val split and per-kind chunk statistics on the training split, beside the data."""
    from workbench.data.chunks import dataset_chunks
    from workbench.data.layouts import load_dataset

    ds = load_dataset(path)
    split = split_episodes(ds.infos, val_fraction=0.25, seed=seed)
    train = [ds.episode(i) for i in split["train"]]
    stats = {}
    for kind in kinds:
        ch = dataset_chunks(train, kind, CHUNK_HORIZON)
        stats[f"{kind}/h{CHUNK_HORIZON}"] = compute_norm_stats(ch.values, ch.mask)
    save_stats(stats_file(ds), stats, meta={"splits": split, "seed": seed, "horizon": CHUNK_HORIZON})
