"""Precomputed DTW neighbour tables: what the Neighbours view asks of DTW, for every row at once.

The view (CLASS App. J.2, Fig. 14) shows a query frame's top-k action neighbours — DTW between the
action chunks that follow the frames (§4.1) — CLASS's K % positive threshold from random pairs
(App. B) and how many frames fall within it. All three depend on the action chunks only, not on
the run, so one table serves every run that cuts the same chunks from the same dataset.

A table is keyed by the content of what it was computed from (the chunks' bytes, their episodes,
the DTW window and cost, the number of random pairs), never by a path or a time: the tables
shipped beside the samples (``data_samples/neighbours/``, written by
``scripts/precompute_samples.py``) hit on a fresh clone, and a dataset that changes misses, so the
view computes live. A table holds exactly what the live computation gives (same functions, same
seeds), which ``tests/test_neighbour_table.py`` checks.
"""

from __future__ import annotations

import hashlib
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from workbench.analysis.similarity import top_k
from workbench.atomic import atomic_path
from workbench.data.catalog import DEFAULT_ROOT

__all__ = ["NeighbourTable", "QUANTILES", "SHIPPED_TABLES", "compute_neighbour_table", "load_neighbour_table",
           "neighbour_table_key", "save_neighbour_table"]  # fmt: skip

SHIPPED_TABLES = DEFAULT_ROOT / "neighbours"  # the tables of the shipped samples
QUANTILES = tuple(float(q) for q in np.arange(1, 51) / 2)  # K % = 0.5, 1.0, …, 25.0: the view's slider
_VERSION = "dtw-neighbours-v1"  # bump when what a table holds or how it is computed changes


@dataclass(frozen=True)
class NeighbourTable:
    """Top-k DTW neighbours among other episodes' rows, K % thresholds and positive counts per row."""

    key: str
    dtw_indices: npt.NDArray[np.int64]  # (N, k) closest first, rows of other episodes only
    dtw_distances: npt.NDArray[np.float64]  # (N, k)
    quantiles: npt.NDArray[np.float64]  # (Q,) K in percent
    thresholds: npt.NDArray[np.float64]  # (Q,) the K % quantile of the random pairs' DTW
    positives: npt.NDArray[np.int64]  # (N, Q) rows other than the row itself within each threshold

    @property
    def k(self) -> int:
        return int(self.dtw_indices.shape[1])

    def _q(self, quantile: float) -> int | None:
        hit = np.flatnonzero(np.isclose(self.quantiles, float(quantile)))
        return int(hit[0]) if hit.size else None

    def threshold(self, quantile: float) -> float | None:
        """The K % threshold, or None when the table was not made for this K."""
        q = self._q(quantile)
        return None if q is None else float(self.thresholds[q])

    def positives_of(self, row: int, quantile: float) -> int | None:
        q = self._q(quantile)
        return None if q is None else int(self.positives[row, q])


def neighbour_table_key(chunks: npt.ArrayLike, episode: npt.ArrayLike, *, window: int | None, cost: str,
                        n_pairs: int = 20_000) -> str:  # fmt: skip
    """Content hash of everything a table depends on (see the module docstring)."""
    c = np.ascontiguousarray(chunks, dtype=np.float64)
    e = np.ascontiguousarray(episode, dtype=np.int64)
    h = hashlib.sha256(f"{_VERSION}|{c.shape}|{window}|{cost}|{n_pairs}|".encode())
    h.update(c.tobytes())
    h.update(e.tobytes())
    return h.hexdigest()[:24]


def compute_neighbour_table(chunks: npt.ArrayLike, episode: npt.ArrayLike, *, k: int = 16, window: int | None = None,
                            cost: str = "sqeuclidean", n_pairs: int = 20_000, quantiles=QUANTILES,
                            block: int = 256) -> NeighbourTable:  # fmt: skip
    """The table of ``chunks`` (N, H, D) with per-row ``episode`` ids (N,).

    Row by row it is what :func:`~workbench.analysis.neighbours.compare_neighbours` with
    ``exclude_same_episode`` and :func:`~workbench.dtw.estimate_threshold` give: the DTW rows come
    from the same :func:`~workbench.dtw.pairwise_dtw` call per query block, ranked by the same
    :func:`~workbench.analysis.similarity.top_k`.
    """
    from workbench.dtw import estimate_threshold, pairwise_dtw

    X = np.asarray(chunks, dtype=np.float64)
    ep = np.asarray(episode)
    n = len(X)
    qs = np.asarray(quantiles, dtype=np.float64)
    thr = np.array([estimate_threshold(X, q, n_pairs=n_pairs, window=window, cost=cost).threshold for q in qs])
    idx = np.empty((n, k), np.int64)
    dist = np.empty((n, k))
    pos = np.empty((n, len(qs)), np.int64)
    for r0 in range(0, n, block):
        rows = np.arange(r0, min(r0 + block, n))
        d = pairwise_dtw(X[rows], X, window=window, cost=cost)  # (B, N)
        near = d[:, :, None] <= thr[None, None, :]
        near[np.arange(len(rows)), rows] = False  # a row is not its own positive
        pos[rows] = near.sum(axis=1)
        allowed = ep[None, :] != ep[rows][:, None]
        idx[rows], dist[rows] = top_k(np.where(allowed, d, np.inf), k, largest=False)
    return NeighbourTable(neighbour_table_key(X, ep, window=window, cost=cost, n_pairs=n_pairs), idx, dist, qs, thr, pos)


def save_neighbour_table(table: NeighbourTable, folder: str | Path) -> Path:
    """Write ``<folder>/<key>.npz`` atomically: compressed, indices as int16 where they fit,
    distances as float32 (the view shows three significant digits; the ranking is stored)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"{table.key}.npz"
    small = np.int16 if len(table.dtw_indices) < 2**15 else np.int32
    with atomic_path(out) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, dtw_indices=table.dtw_indices.astype(small), dtw_distances=table.dtw_distances.astype(np.float32),
                            quantiles=table.quantiles, thresholds=table.thresholds,
                            positives=table.positives.astype(np.uint16 if table.positives.max(initial=0) < 2**16 else np.int64))  # fmt: skip
    return out


def load_neighbour_table(folder: str | Path, key: str) -> NeighbourTable | None:
    """The table ``key`` in ``folder``, or None when there is none (or it cannot be read: the
    caller then computes live, as for a stale key). Read without unpickling."""
    p = Path(folder) / f"{key}.npz"
    if not p.is_file():
        return None
    try:
        with np.load(p, allow_pickle=False) as z:
            return NeighbourTable(key, z["dtw_indices"].astype(np.int64), z["dtw_distances"].astype(np.float64),
                                  z["quantiles"].astype(np.float64), z["thresholds"].astype(np.float64),
                                  z["positives"].astype(np.int64))  # fmt: skip
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return None
