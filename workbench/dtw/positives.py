"""The positive pairs CLASS builds from DTW, and their soft weights.

CLASS (paper 003) supervises a visual encoder with action-sequence similarity: two observations
are a positive pair when the DTW distance between the action chunks that follow them is below a
global quantile threshold K % (§4.1), and each positive is weighted by ``1 - CDF(DTW)`` where the
CDF is the empirical one over all anchor-positive distances (§4.2).  App. B computes the distances
with aeon on chunks of horizon 16 (orientation scaled by 0.5, :func:`scale_orientation`) and
sketches an online variant that estimates the CDF from a sample of pairs for datasets too large
for a full matrix (:func:`estimate_threshold`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import sparse

from workbench.dtw.distance import (
    SLP_LOCK,
    DTWCost,
    FloatArray,
    IntArray,
    _as_batch,
    _check_finite,
    _check_window,
    _cost_flag,
    _radius,
    pairwise_dtw,
)
from workbench.dtw.kernels import _paired_dtw

__all__ = ["PositivePairs", "ThresholdEstimate", "estimate_threshold", "positive_pairs", "scale_orientation",
           "soft_weights_matrix"]  # fmt: skip


# ----------------------------------------------------------------------------------------------
# CLASS positive pairs and soft weights
# ----------------------------------------------------------------------------------------------


def scale_orientation(
    chunks: npt.ArrayLike, orientation: slice = slice(3, 9), factor: float = 0.5
) -> FloatArray:
    """Copy of end-effector chunks with the orientation channels multiplied by ``factor``.

    CLASS App. B: for 10-D end-effector actions (3-D position, 6-D rotation, 1-D gripper) the
    orientation is scaled by 0.5 before DTW "to balance the influence of position and
    orientation".  ``orientation`` selects the channels of the last axis.
    """
    a = np.array(chunks, dtype=np.float64, copy=True)
    if a.ndim < 2:
        raise ValueError(f"chunks must have a channel axis, got shape {a.shape}")
    if not np.isfinite(factor):
        raise ValueError(f"factor must be finite, got {factor}")
    a[..., orientation] *= factor
    return a


def _check_quantile(quantile: float) -> float:
    q = float(quantile)
    if not (0.0 < q <= 100.0):
        raise ValueError(f"quantile is K in percent and must be in (0, 100], got {quantile!r}")
    return q


@dataclass(frozen=True)
class _Exclusion:
    """Pairs from the same episode at most ``gap`` steps apart (never positives, not counted)."""

    episode_ids: npt.NDArray[np.int64]
    time_index: npt.NDArray[np.int64]
    gap: int

    def mask(self, rows: IntArray, cols: IntArray | slice) -> npt.NDArray[np.bool_]:
        same = self.episode_ids[rows][:, None] == self.episode_ids[cols][None, :]
        close = np.abs(self.time_index[rows][:, None] - self.time_index[cols][None, :]) <= self.gap
        return same & close

    def pairs(self, a: IntArray, b: IntArray) -> npt.NDArray[np.bool_]:
        same = self.episode_ids[a] == self.episode_ids[b]
        return same & (np.abs(self.time_index[a] - self.time_index[b]) <= self.gap)


def _make_exclusion(
    n: int, gap: int | None, episode_ids: npt.ArrayLike | None, time_index: npt.ArrayLike | None
) -> _Exclusion | None:
    if gap is None:
        return None
    if isinstance(gap, bool) or not isinstance(gap, (int, np.integer)) or gap < 0:
        raise ValueError(f"exclude_same_episode_within must be a non-negative int or None, got {gap!r}")
    if episode_ids is None or time_index is None:
        raise ValueError("exclude_same_episode_within needs both episode_ids and time_index")
    ep = np.asarray(episode_ids)
    ti = np.asarray(time_index)
    if ep.shape != (n,):
        raise ValueError(f"episode_ids must have shape ({n},), got {ep.shape}")
    if ti.shape != (n,):
        raise ValueError(f"time_index must have shape ({n},), got {ti.shape}")
    if not np.issubdtype(ti.dtype, np.number) or not np.all(np.isfinite(ti)):
        raise ValueError("time_index must be finite numbers")
    return _Exclusion(ep, ti.astype(np.int64), int(gap))


def _empirical_survival(sorted_reference: FloatArray, d: npt.ArrayLike) -> FloatArray:
    """1 − CDF(d) with the empirical CDF of ``sorted_reference`` (CLASS §4.2)."""
    return 1.0 - np.searchsorted(sorted_reference, d, side="right") / sorted_reference.size


@dataclass(frozen=True)
class PositivePairs:
    """CLASS positive pairs (§4.1) with their soft weights (§4.2).

    Both orders of a pair are listed (each item is an anchor), sorted by anchor then positive.
    ``weights[p] = 1 − CDF(distances[p])`` where the CDF is the empirical one over all
    anchor-positive distances, so the closest pairs weigh almost 1 and the pairs at the threshold
    weigh 0; non-positive pairs have weight 0.
    """

    anchors: IntArray  # (P,) anchor index i
    positives: IntArray  # (P,) positive index j, j != i
    distances: FloatArray  # (P,) DTW(i, j) <= threshold
    weights: FloatArray  # (P,) 1 - CDF(DTW(i, j)), in [0, 1)
    threshold: float  # the K % quantile of the candidate pair distances
    quantile: float  # K, in percent
    n_items: int  # N, the number of chunks
    sampled: bool  # True when the threshold came from a random sample of pairs (App. B)

    def cdf(self, distances: npt.ArrayLike) -> FloatArray:
        """Empirical CDF over the anchor-positive distances, evaluated at ``distances``."""
        ref = np.sort(self.distances)
        return np.searchsorted(ref, np.asarray(distances, dtype=np.float64), side="right") / ref.size

    def to_csr(self) -> sparse.csr_matrix:
        """(N, N) sparse matrix of weights w_ij (zero weights of boundary pairs are kept)."""
        n = self.n_items
        return sparse.csr_matrix((self.weights, (self.anchors, self.positives)), shape=(n, n))

    def to_dense(self) -> FloatArray:
        """(N, N) dense weight matrix; only for small N."""
        w = np.zeros((self.n_items, self.n_items))
        w[self.anchors, self.positives] = self.weights
        return w

    def batch_weights(self, indices: npt.ArrayLike) -> FloatArray:
        """(B, B) weights w_ij among the chunks ``indices`` of a training batch (Eq. 1).

        The diagonal is 0 (an item is not its own DTW positive; the loss adds the augmented
        view itself).  Repeated indices get the weights of the underlying pair.
        """
        idx = np.asarray(indices)
        if idx.ndim != 1 or not np.issubdtype(idx.dtype, np.integer):
            raise ValueError(f"indices must be a 1-D integer array, got shape {idx.shape} dtype {idx.dtype}")
        if idx.size and (idx.min() < 0 or idx.max() >= self.n_items):
            raise ValueError(f"indices must lie in [0, {self.n_items}), got range [{idx.min()}, {idx.max()}]")
        w = self.to_csr()[idx][:, idx].toarray()
        np.fill_diagonal(w, 0.0)
        return w


@dataclass(frozen=True)
class ThresholdEstimate:
    """Threshold and reference CDF estimated from a random sample of pairs (CLASS App. B)."""

    threshold: float  # K % quantile of the sampled pair distances
    quantile: float  # K, in percent
    reference: FloatArray  # sorted sampled distances <= threshold: the anchor-positive CDF
    n_pairs: int  # number of pairs sampled

    def weights(self, distances: npt.ArrayLike) -> FloatArray:
        """w = 1 − CDF(d) for d ≤ threshold, else 0 (§4.2)."""
        d = np.asarray(distances, dtype=np.float64)
        return np.where(d <= self.threshold, _empirical_survival(self.reference, d), 0.0)


def _as_distances_or_chunks(data: npt.ArrayLike, name: str) -> tuple[np.ndarray, bool]:
    """Return (array, is_matrix); a memmap matrix stays a memmap."""
    a = data if isinstance(data, np.ndarray) else np.asarray(data, dtype=np.float64)
    if a.ndim == 2:
        if a.shape[0] != a.shape[1] or a.shape[0] < 2:
            raise ValueError(f"{name} as a distance matrix must be square (N, N) with N >= 2, got {a.shape}")
        return a, True
    if a.ndim == 3:
        if a.shape[0] < 2:
            raise ValueError(f"{name} as chunks needs at least 2 chunks, got shape {a.shape}")
        return _as_batch(a, name), False
    raise ValueError(f"{name} must be an (N, N) distance matrix or (N, T, D) chunks, got shape {a.shape}")


def _sample_pair_distances(
    data: np.ndarray,
    is_matrix: bool,
    n_pairs: int,
    seed: int,
    exclusion: _Exclusion | None,
    window: int | None,
    euclid: bool,
) -> FloatArray:
    n = data.shape[0]
    rng = np.random.default_rng(seed)
    a_parts, b_parts, have = [], [], 0
    for _ in range(100):
        a = rng.integers(0, n, size=2 * (n_pairs - have) + 16)
        b = rng.integers(0, n, size=a.size)
        keep = a != b
        if exclusion is not None:
            keep &= ~exclusion.pairs(a, b)
        a_parts.append(a[keep])
        b_parts.append(b[keep])
        have += int(keep.sum())
        if have >= n_pairs:
            break
    if have == 0:
        raise ValueError("no pair of distinct, non-excluded chunks to sample")
    a = np.concatenate(a_parts)[:n_pairs]
    b = np.concatenate(b_parts)[:n_pairs]
    if is_matrix:
        d = np.asarray(data[a, b], dtype=np.float64)
        _check_finite(d, "distances")
        return d
    r = _radius(window, data.shape[1], data.shape[1])
    with SLP_LOCK:
        return _paired_dtw(data, a.astype(np.int64), b.astype(np.int64), r, euclid)


def estimate_threshold(
    data: npt.ArrayLike,
    quantile: float,
    *,
    n_pairs: int = 100_000,
    seed: int = 0,
    window: int | None = None,
    cost: str | DTWCost = "sqeuclidean",
    exclude_same_episode_within: int | None = None,
    episode_ids: npt.ArrayLike | None = None,
    time_index: npt.ArrayLike | None = None,
) -> ThresholdEstimate:
    """K % threshold and the anchor-positive CDF from ``n_pairs`` random pairs (CLASS App. B).

    App. B's online strategy for datasets too large for a full matrix: "estimate the CDF from a
    data sample and compute pairwise distances on-the-fly within training batches".  Pairs are
    drawn uniformly with replacement among distinct, non-excluded items; the threshold's
    sampling error shrinks like 1/sqrt(n_pairs · K/100).  Use with :func:`soft_weights_matrix`.
    ``data`` is an (N, N) distance matrix or (N, T, D) chunks.
    """
    q = _check_quantile(quantile)
    euclid = _cost_flag(cost)
    _check_window(window)
    if isinstance(n_pairs, bool) or not isinstance(n_pairs, (int, np.integer)) or n_pairs < 1:
        raise ValueError(f"n_pairs must be a positive int, got {n_pairs!r}")
    arr, is_matrix = _as_distances_or_chunks(data, "data")
    excl = _make_exclusion(arr.shape[0], exclude_same_episode_within, episode_ids, time_index)
    d = _sample_pair_distances(arr, is_matrix, int(n_pairs), seed, excl, window, euclid)
    thr = float(np.quantile(d, q / 100.0))
    ref = np.sort(d[d <= thr])
    return ThresholdEstimate(threshold=thr, quantile=q, reference=ref, n_pairs=int(d.size))


def soft_weights_matrix(
    data: npt.ArrayLike,
    reference: PositivePairs | ThresholdEstimate,
    *,
    window: int | None = None,
    cost: str | DTWCost = "sqeuclidean",
) -> FloatArray:
    """Dense (B, B) soft positive weights w_ij for one batch, computed on the fly (§4.2, App. B).

    ``data`` is the batch's (B, B) DTW matrix or its (B, T, D) chunks (then DTW is computed
    here with ``window``/``cost``, which must match how ``reference`` was built).  Pairs above
    the reference threshold and the diagonal get 0; the others ``1 − CDF(d)`` with the
    reference's anchor-positive CDF.  For stored pairs, :meth:`PositivePairs.batch_weights`
    gives the same numbers without recomputing DTW.
    """
    arr, is_matrix = _as_distances_or_chunks(data, "data")
    if is_matrix:
        d = np.asarray(arr, dtype=np.float64)
        _check_finite(d, "data")
    else:
        d = pairwise_dtw(arr, window=window, cost=cost)
    if isinstance(reference, PositivePairs):
        thr, ref = reference.threshold, np.sort(reference.distances)
    elif isinstance(reference, ThresholdEstimate):
        thr, ref = reference.threshold, reference.reference
    else:
        raise ValueError(f"reference must be PositivePairs or ThresholdEstimate, got {type(reference).__name__}")
    if ref.size == 0:
        raise ValueError("reference has no anchor-positive distances")
    w = np.where(d <= thr, _empirical_survival(ref, d), 0.0)
    np.fill_diagonal(w, 0.0)
    return w


def positive_pairs(
    data: npt.ArrayLike,
    quantile: float,
    *,
    window: int | None = None,
    cost: str | DTWCost = "sqeuclidean",
    exclude_same_episode_within: int | None = None,
    episode_ids: npt.ArrayLike | None = None,
    time_index: npt.ArrayLike | None = None,
    sample_pairs: int | None = None,
    seed: int = 0,
    block: int | None = None,
) -> PositivePairs:
    """CLASS positive pairs under a global K % quantile threshold, with soft weights.

    §4.1: "positive pairs are defined as those with distances below a fixed quantile threshold
    K" over the pairwise DTW distances of all chunks; §4.2: ``w_ij = 1 − CDF(DTW(i, j))`` with
    the empirical CDF over all anchor-positive distances.

    ``data`` is an (N, N) distance matrix (an ``np.memmap`` from :func:`pairwise_dtw` works and
    is read in row blocks) or (N, T, D) chunks, whose matrix is then computed here.  Candidate
    pairs are all i != j, minus, when ``exclude_same_episode_within`` is given, the pairs from
    the same episode (``episode_ids``) whose ``time_index`` differ by at most that many steps —
    near-duplicate neighbouring chunks that would otherwise dominate the positives.  Excluded
    pairs neither count towards the quantile nor become positives.  The threshold is
    ``np.quantile`` (linear interpolation) of the candidate distances with each unordered pair
    counted once; a pair is positive when its distance is <= the threshold.

    The exact threshold needs every candidate distance in memory (N²/2 floats).  For large N
    pass ``sample_pairs``: the threshold is then the quantile of that many random pairs (the
    sampling of App. B's online strategy, see :func:`estimate_threshold`); with chunk input the
    matrix is then streamed in row blocks and only the positives are kept, so memory stays
    O(positives + block · N).
    """
    q = _check_quantile(quantile)
    euclid = _cost_flag(cost)
    _check_window(window)
    arr, is_matrix = _as_distances_or_chunks(data, "data")
    n = arr.shape[0]
    excl = _make_exclusion(n, exclude_same_episode_within, episode_ids, time_index)
    if sample_pairs is not None and (
        isinstance(sample_pairs, bool) or not isinstance(sample_pairs, (int, np.integer)) or sample_pairs < 1
    ):
        raise ValueError(f"sample_pairs must be a positive int or None, got {sample_pairs!r}")
    if block is None:
        block = max(1, (32 << 20) // (8 * n))
    elif isinstance(block, bool) or not isinstance(block, (int, np.integer)) or block < 1:
        raise ValueError(f"block must be a positive int, got {block!r}")

    if not is_matrix and sample_pairs is None:
        arr, is_matrix = pairwise_dtw(arr, window=window, cost=cost), True

    def row_blocks():
        """Yield (r0, r1, distances of rows r0:r1 against all columns) as float64."""
        for r0 in range(0, n, block):
            r1 = min(n, r0 + block)
            if is_matrix:
                rows = np.asarray(arr[r0:r1], dtype=np.float64)
                _check_finite(rows, "data")
            else:
                rows = pairwise_dtw(arr[r0:r1], arr, window=window, cost=cost)
            yield r0, r1, rows

    def candidate_mask(r0: int, r1: int) -> npt.NDArray[np.bool_]:
        rows = np.arange(r0, r1)
        mask = rows[:, None] != np.arange(n)[None, :]
        if excl is not None:
            mask &= ~excl.mask(rows, slice(None))
        return mask

    if sample_pairs is None:
        upper = []
        for r0, r1, rows in row_blocks():
            m = candidate_mask(r0, r1) & (np.arange(r0, r1)[:, None] < np.arange(n)[None, :])
            upper.append(rows[m])
        values = np.concatenate(upper)
        if values.size == 0:
            raise ValueError("no candidate pairs left after excluding self and same-episode pairs")
        threshold = float(np.quantile(values, q / 100.0))
        del values, upper
    else:
        d = _sample_pair_distances(arr, is_matrix, int(sample_pairs), seed, excl, window, euclid)
        threshold = float(np.quantile(d, q / 100.0))

    a_parts, b_parts, d_parts = [], [], []
    for r0, r1, rows in row_blocks():
        ii, jj = np.nonzero((rows <= threshold) & candidate_mask(r0, r1))
        a_parts.append(ii + r0)
        b_parts.append(jj)
        d_parts.append(rows[ii, jj])
    anchors = np.concatenate(a_parts).astype(np.int64)
    positives = np.concatenate(b_parts).astype(np.int64)
    distances = np.concatenate(d_parts).astype(np.float64)
    if distances.size == 0:
        weights = distances.copy()
    else:
        weights = _empirical_survival(np.sort(distances), distances)
    return PositivePairs(
        anchors=anchors,
        positives=positives,
        distances=distances,
        weights=weights,
        threshold=threshold,
        quantile=q,
        n_items=n,
        sampled=sample_pairs is not None,
    )


# ----------------------------------------------------------------------------------------------
# Embedding-side comparison
# ----------------------------------------------------------------------------------------------
