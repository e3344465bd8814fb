"""Dynamic time warping between action chunks, and the positive pairs CLASS builds from it.

CLASS (paper 003) supervises a visual encoder with action-sequence similarity: two observations
are a positive pair when the DTW distance between the action chunks that follow them is below a
global quantile threshold K % (§4.1), and each positive is weighted by ``1 - CDF(DTW)`` where the
CDF is the empirical one over all anchor-positive distances (§4.2).  App. B computes the distances
with aeon on chunks of horizon 16 (orientation scaled by 0.5) and sketches an online variant that
estimates the CDF from a sample of pairs for datasets too large for a full matrix.

This module holds:

- exact DTW for one pair (:func:`dtw_distance`, :func:`dtw_path`);
- a compiled, multi-core, memory-bounded pairwise matrix (:func:`pairwise_dtw`);
- exact k-nearest-neighbour search with lower bounds and early abandoning (:func:`dtw_topk`);
- CLASS positive pairs and soft weights (:func:`positive_pairs`, :class:`PositivePairs`,
  :func:`estimate_threshold`, :func:`soft_weights_matrix`);
- embedding-side comparisons shown next to the DTW neighbours (:func:`cosine_topk`,
  :func:`overlap_at_k`, :func:`relative_dtw_of_neighbours`).

Conventions
-----------
Sequences are ``(T, D)`` float arrays (time first).  ``cost="sqeuclidean"`` sums squared
Euclidean step costs along the warping path (aeon's ``dtw_distance``); ``cost="euclidean"`` sums
Euclidean norms, the CLASS formula ``min_Γ Σ_(p,q)∈Γ ‖a_p − b_q‖₂`` (§4.1).  dtaidistance and
tslearn report the square root of the ``"sqeuclidean"`` total.

``window`` is a Sakoe–Chiba radius in steps: cell ``(i, j)`` is allowed when ``|i − j| ≤ r``.
When the two lengths differ by more than ``window`` no monotone path from ``(0, 0)`` to
``(n−1, m−1)`` would fit in that band, so the radius is widened to ``max(window, |n − m|)``.
For equal lengths this is the band of aeon's ``window=r/T``, dtaidistance's ``window=r+1`` and
tslearn's ``sakoe_chiba_radius=r``; for unequal lengths the three peers place their bands
differently (aeon along the rectangle's diagonal, dtaidistance and tslearn shifted by n − m), so
they agree with this module only without a window.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum

import numba
import numpy as np
import numpy.typing as npt
from numba import njit, prange
from scipy import sparse

__all__ = [
    "DTWCost",
    "NeighbourOverlap",
    "PositivePairs",
    "RelativeDTW",
    "ThresholdEstimate",
    "cosine_topk",
    "dtw_distance",
    "dtw_path",
    "dtw_topk",
    "estimate_threshold",
    "overlap_at_k",
    "pairwise_dtw",
    "positive_pairs",
    "relative_dtw_of_neighbours",
    "scale_orientation",
    "soft_weights_matrix",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class DTWCost(str, Enum):
    """Step cost summed along the warping path."""

    SQEUCLIDEAN = "sqeuclidean"  # ‖a − b‖², aeon's dtw_distance
    EUCLIDEAN = "euclidean"  # ‖a − b‖₂, CLASS §4.1


# Number of candidate sequences aligned side by side in the vectorised kernels.  Eight float64
# lanes fill one AVX-512 register (two AVX2 ones); the DP recurrence is a serial chain along a
# row, so running eight independent pairs in lock-step is what keeps the FP units busy.
_LANES = 8
_INF = np.inf
# Relative slack on lower bounds so that rounding can never prune a true tie.
_LB_SLACK = 1.0 - 1e-12


# ----------------------------------------------------------------------------------------------
# Validation
# ----------------------------------------------------------------------------------------------


def _cost_flag(cost: str | DTWCost) -> bool:
    """Return True for the Euclidean step cost, False for squared Euclidean."""
    try:
        return DTWCost(cost) is DTWCost.EUCLIDEAN
    except ValueError:
        choices = ", ".join(repr(c.value) for c in DTWCost)
        raise ValueError(f"cost must be one of {choices}, got {cost!r}") from None


def _check_window(window: int | None) -> None:
    if window is None:
        return
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)):
        raise ValueError(f"window must be a non-negative int (Sakoe-Chiba radius) or None, got {window!r}")
    if window < 0:
        raise ValueError(f"window must be >= 0, got {window}")


def _radius(window: int | None, n: int, m: int) -> int:
    """Effective Sakoe–Chiba radius: wide enough that a path from (0,0) to (n−1,m−1) exists."""
    if window is None:
        return max(n, m)
    return max(int(window), abs(n - m))


def _check_finite(a: np.ndarray, name: str) -> None:
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or inf values")


def _as_sequence(x: npt.ArrayLike, name: str) -> FloatArray:
    """One sequence as a C-contiguous float64 ``(T, D)`` array; 1-D input is read as ``D = 1``."""
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2:
        raise ValueError(f"{name} must be a (T, D) array, got shape {a.shape}")
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"{name} must be non-empty, got shape {a.shape}")
    _check_finite(a, name)
    return np.ascontiguousarray(a)


def _as_batch(x: npt.ArrayLike, name: str) -> FloatArray:
    """A batch of equal-length sequences as a C-contiguous float64 ``(N, T, D)`` array."""
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 3:
        raise ValueError(f"{name} must be an (N, T, D) array, got shape {a.shape}")
    if 0 in a.shape:
        raise ValueError(f"{name} must be non-empty, got shape {a.shape}")
    _check_finite(a, name)
    return np.ascontiguousarray(a)


def _as_ragged(xs: Sequence[npt.ArrayLike], name: str) -> tuple[FloatArray, IntArray]:
    """A list of ``(T_i, D)`` sequences packed into one ``(ΣT_i, D)`` array plus offsets."""
    seqs = [_as_sequence(x, f"{name}[{i}]") for i, x in enumerate(xs)]
    if not seqs:
        raise ValueError(f"{name} must contain at least one sequence")
    dims = {s.shape[1] for s in seqs}
    if len(dims) != 1:
        raise ValueError(f"all sequences in {name} must have the same D, got {sorted(dims)}")
    offsets = np.zeros(len(seqs) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([s.shape[0] for s in seqs])
    return np.ascontiguousarray(np.concatenate(seqs, axis=0)), offsets


def _check_k(k: int, n: int, name_n: str) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise ValueError(f"k must be an int, got {k!r}")
    if k < 1 or k > n:
        raise ValueError(f"k must be in [1, {n}] (the size of {name_n}), got {k}")
    return int(k)


# ----------------------------------------------------------------------------------------------
# Compiled kernels
# ----------------------------------------------------------------------------------------------
# fastmath without "reassoc"/"contract": min/max may skip NaN handling (inputs are checked
# finite) but every sum keeps its order, so the scalar and the vectorised kernels give the same
# bits and a top-k search returns exactly what the full matrix would.
_FM = {"nnan", "ninf", "nsz"}

# Re-entrant: it also serialises every call into a parallel kernel, so two threads (two Streamlit
# sessions) never split the two cores between them, and a numba build whose only threading layer
# is workqueue (not thread-safe) does not abort.
_SLP_LOCK = threading.RLock()


@contextmanager
def _slp_vectorisation() -> Iterator[None]:
    """Compile (on first call) the lane kernels with LLVM's SLP vectoriser switched on.

    The lane kernels keep eight independent DP chains in scalar locals; only the SLP vectoriser
    packs them into SIMD registers (about 4x faster than scalar code on AVX-512).  Numba turns
    SLP off by default since 0.57 because of miscompilations in other code (numba PR #8852), so
    it is enabled only while our own kernels are dispatched — their output is checked against a
    plain dynamic programme in tests/test_dtw.py — and restored afterwards.  The setting is read
    when a pass manager is built, i.e. only when a kernel is compiled, not loaded from cache.
    """
    with _SLP_LOCK:
        old = numba.core.config.SLP_VECTORIZE
        numba.core.config.SLP_VECTORIZE = 1
        try:
            yield
        finally:
            numba.core.config.SLP_VECTORIZE = old


@njit(cache=True, fastmath=_FM, inline="always")
def _step_cost(x, i, y, j, euclid):
    acc = 0.0
    for d in range(x.shape[1]):
        t = x[i, d] - y[j, d]
        acc += t * t
    if euclid:
        return math.sqrt(acc)
    return acc


@njit(cache=True, fastmath=_FM)
def _dtw_scalar(x, y, radius, euclid, threshold):
    """DTW of one pair with a rolling one-row buffer; returns inf once a row exceeds threshold.

    ``buf[j + 1]`` holds the accumulated cost of cell (i, j); ``buf[0]`` is the virtual column
    j = −1, which is 0 only before the first row so that the path must start at (0, 0).
    """
    n = x.shape[0]
    m = y.shape[0]
    buf = np.full(m + 1, np.inf)
    buf[0] = 0.0
    for i in range(n):
        lo = max(0, i - radius)
        hi = min(m - 1, i + radius)
        diag = buf[lo]
        if lo == 0:
            buf[0] = np.inf
        left = np.inf
        row_min = np.inf
        for j in range(lo, hi + 1):
            up = buf[j + 1]
            best = min(min(diag, up), left)
            v = _step_cost(x, i, y, j, euclid) + best
            diag = up
            buf[j + 1] = v
            left = v
            row_min = min(row_min, v)
        if row_min > threshold:
            return np.inf
    return buf[m]


@njit(cache=True, fastmath=_FM)
def _dtw_matrix(x, y, radius, euclid):
    """Full accumulated-cost matrix (for the path); cells outside the band stay inf."""
    n = x.shape[0]
    m = y.shape[0]
    acc = np.full((n, m), np.inf)
    for i in range(n):
        lo = max(0, i - radius)
        hi = min(m - 1, i + radius)
        for j in range(lo, hi + 1):
            c = _step_cost(x, i, y, j, euclid)
            if i == 0 and j == 0:
                acc[i, j] = c
                continue
            best = np.inf
            if i > 0 and j > 0:
                best = acc[i - 1, j - 1]
            if i > 0:
                best = min(best, acc[i - 1, j])
            if j > 0:
                best = min(best, acc[i, j - 1])
            acc[i, j] = c + best
    return acc


@njit(cache=True)
def _backtrack(acc):
    n, m = acc.shape
    path = np.empty((n + m - 1, 2), dtype=np.int64)
    i = n - 1
    j = m - 1
    k = 0
    path[k, 0] = i
    path[k, 1] = j
    while i > 0 or j > 0:
        if i == 0:
            j -= 1
        elif j == 0:
            i -= 1
        else:
            # Prefer the diagonal on ties: the shortest of the optimal paths.
            d = acc[i - 1, j - 1]
            u = acc[i - 1, j]
            l = acc[i, j - 1]
            if d <= u and d <= l:
                i -= 1
                j -= 1
            elif u <= l:
                i -= 1
            else:
                j -= 1
        k += 1
        path[k, 0] = i
        path[k, 1] = j
    return path[: k + 1][::-1].copy()


@njit(cache=True)
def _pack_lanes(Y):
    """(M, T, D) -> (ceil(M/L), T, D, L): candidate b*L + l sits in lane l of block b.

    The tail block is padded with copies of the last sequence; their results are ignored.
    """
    M, T, D = Y.shape
    B = (M + _LANES - 1) // _LANES
    out = np.empty((B, T, D, _LANES))
    for b in range(B):
        for l in range(_LANES):
            c = min(b * _LANES + l, M - 1)
            for t in range(T):
                for d in range(D):
                    out[b, t, d, l] = Y[c, t, d]
    return out


@njit(cache=True, fastmath=_FM, inline="always")
def _dtw_lanes(x, yb, radius, euclid, threshold, buf, out):
    """DTW of query ``x`` (n, D) against the 8 candidates of one packed block ``yb`` (m, D, 8).

    Same recurrence as :func:`_dtw_scalar`, run in lock-step over the lanes.  Returns False
    (``out`` then undefined) as soon as every lane's row minimum exceeds ``threshold`` — the
    early abandon used by top-k search.

    The lanes are spelled out as scalar locals on purpose: LLVM cannot prove that small scratch
    arrays do not alias the inputs, so loop-over-lane code kept the accumulators in memory and
    ran 4-5x slower; eight independent scalars are packed by the SLP vectoriser into one
    register, and the DP chain (diagonal, left) never leaves registers.
    """
    n = x.shape[0]
    m = yb.shape[0]
    for j in range(m + 1):
        for l in range(_LANES):
            buf[j, l] = np.inf
    for l in range(_LANES):
        buf[0, l] = 0.0
    inf = np.inf
    for i in range(n):
        lo = max(0, i - radius)
        hi = min(m - 1, i + radius)
        g0 = buf[lo, 0]
        g1 = buf[lo, 1]
        g2 = buf[lo, 2]
        g3 = buf[lo, 3]
        g4 = buf[lo, 4]
        g5 = buf[lo, 5]
        g6 = buf[lo, 6]
        g7 = buf[lo, 7]
        if lo == 0:
            for l in range(_LANES):
                buf[0, l] = inf
        f0 = f1 = f2 = f3 = f4 = f5 = f6 = f7 = inf
        for j in range(lo, hi + 1):
            a0, a1, a2, a3, a4, a5, a6, a7 = _lane_corner(x, i, yb[j], euclid)
            u0 = buf[j + 1, 0]
            u1 = buf[j + 1, 1]
            u2 = buf[j + 1, 2]
            u3 = buf[j + 1, 3]
            u4 = buf[j + 1, 4]
            u5 = buf[j + 1, 5]
            u6 = buf[j + 1, 6]
            u7 = buf[j + 1, 7]
            f0 = a0 + min(min(g0, u0), f0)
            f1 = a1 + min(min(g1, u1), f1)
            f2 = a2 + min(min(g2, u2), f2)
            f3 = a3 + min(min(g3, u3), f3)
            f4 = a4 + min(min(g4, u4), f4)
            f5 = a5 + min(min(g5, u5), f5)
            f6 = a6 + min(min(g6, u6), f6)
            f7 = a7 + min(min(g7, u7), f7)
            g0 = u0
            g1 = u1
            g2 = u2
            g3 = u3
            g4 = u4
            g5 = u5
            g6 = u6
            g7 = u7
            buf[j + 1, 0] = f0
            buf[j + 1, 1] = f1
            buf[j + 1, 2] = f2
            buf[j + 1, 3] = f3
            buf[j + 1, 4] = f4
            buf[j + 1, 5] = f5
            buf[j + 1, 6] = f6
            buf[j + 1, 7] = f7
        if threshold < inf:
            row_min = inf
            for j in range(lo + 1, hi + 2):
                for l in range(_LANES):
                    row_min = min(row_min, buf[j, l])
            if row_min > threshold:
                return False
    for l in range(_LANES):
        out[l] = buf[m, l]
    return True


@njit(cache=True, parallel=True, fastmath=_FM)
def _pairwise_rows(X, Yp, M, radius, euclid, r0, r1, symmetric, out):
    """Rows ``r0:r1`` of the distance matrix into ``out`` (r1 − r0, M).

    In the symmetric case only columns j > i are computed (the caller mirrors them); row i then
    costs M − 1 − i pairs, so iteration p handles rows r0 + p and r1 − 1 − p together and every
    iteration carries the same work — prange's static split keeps both cores equally busy.
    """
    n_rows = r1 - r0
    m = Yp.shape[1]
    n_iter = (n_rows + 1) // 2 if symmetric else n_rows
    for p in prange(n_iter):
        buf = np.empty((m + 1, _LANES))
        res = np.empty(_LANES)
        for side in range(2):
            if side == 0:
                i = r0 + p
            else:
                if not symmetric:
                    break
                i = r1 - 1 - p
                if i == r0 + p:
                    break
            x = X[i]
            b0 = (i + 1) // _LANES if symmetric else 0
            for b in range(b0, Yp.shape[0]):
                _dtw_lanes(x, Yp[b], radius, euclid, np.inf, buf, res)
                for l in range(_LANES):
                    j = b * _LANES + l
                    if j < M and (not symmetric or j > i):
                        out[i - r0, j] = res[l]


@njit(cache=True, parallel=True)
def _mirror_square(block, r0):
    """Fill the lower triangle and zero diagonal of the square ``block[:, r0:r0 + rows]``."""
    rows = block.shape[0]
    for a in prange(rows):
        block[a, r0 + a] = 0.0
        for b in range(a):
            block[a, r0 + b] = block[b, r0 + a]


@njit(cache=True, parallel=True, fastmath=_FM)
def _pairwise_ragged(X, xo, Y, yo, window, euclid, r0, r1, symmetric, out):
    """Variable-length version of :func:`_pairwise_rows` using the scalar kernel."""
    n_rows = r1 - r0
    M = yo.shape[0] - 1
    n_iter = (n_rows + 1) // 2 if symmetric else n_rows
    for p in prange(n_iter):
        for side in range(2):
            if side == 0:
                i = r0 + p
            else:
                if not symmetric:
                    break
                i = r1 - 1 - p
                if i == r0 + p:
                    break
            x = X[xo[i] : xo[i + 1]]
            j0 = i + 1 if symmetric else 0
            for j in range(j0, M):
                y = Y[yo[j] : yo[j + 1]]
                n = x.shape[0]
                mm = y.shape[0]
                r = max(n, mm) if window < 0 else max(window, abs(n - mm))
                out[i - r0, j] = _dtw_scalar(x, y, r, euclid, np.inf)


@njit(cache=True, parallel=True, fastmath=_FM)
def _paired_dtw(X, a, b, radius, euclid):
    """DTW of the pairs (X[a[p]], X[b[p]]) for equal-length X."""
    out = np.empty(a.shape[0])
    for p in prange(a.shape[0]):
        out[p] = _dtw_scalar(X[a[p]], X[b[p]], radius, euclid, np.inf)
    return out


@njit(cache=True, inline="always")
def _topk_insert(best_d, best_i, k, d, idx):
    """Insert (d, idx) into the ascending arrays if it beats the k-th; ties go to lower index."""
    last = k - 1
    if d > best_d[last] or (d == best_d[last] and idx >= best_i[last]):
        return
    pos = last
    while pos > 0 and (best_d[pos - 1] > d or (best_d[pos - 1] == d and best_i[pos - 1] > idx)):
        best_d[pos] = best_d[pos - 1]
        best_i[pos] = best_i[pos - 1]
        pos -= 1
    best_d[pos] = d
    best_i[pos] = idx


@njit(cache=True, parallel=True, fastmath=_FM)
def _topk_brute(Q, Yp, M, k, radius, euclid, out_i, out_d):
    """Exact top-k by evaluating every candidate with the lane kernel."""
    m = Yp.shape[1]
    for q in prange(Q.shape[0]):
        buf = np.empty((m + 1, _LANES))
        res = np.empty(_LANES)
        best_d = np.full(k, np.inf)
        best_i = np.full(k, M, dtype=np.int64)
        x = Q[q]
        for b in range(Yp.shape[0]):
            _dtw_lanes(x, Yp[b], radius, euclid, np.inf, buf, res)
            for l in range(_LANES):
                j = b * _LANES + l
                if j < M:
                    _topk_insert(best_d, best_i, k, res[l], j)
        for t in range(k):
            out_i[q, t] = best_i[t]
            out_d[q, t] = best_d[t]


@njit(cache=True, fastmath=_FM, inline="always")
def _lane_corner(x, i, yj, euclid):
    """Step cost between x[i] and the 8 lanes of one packed time step ``yj`` (D, 8)."""
    a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = 0.0
    for d in range(x.shape[1]):
        xv = x[i, d]
        t0 = xv - yj[d, 0]
        t1 = xv - yj[d, 1]
        t2 = xv - yj[d, 2]
        t3 = xv - yj[d, 3]
        t4 = xv - yj[d, 4]
        t5 = xv - yj[d, 5]
        t6 = xv - yj[d, 6]
        t7 = xv - yj[d, 7]
        a0 += t0 * t0
        a1 += t1 * t1
        a2 += t2 * t2
        a3 += t3 * t3
        a4 += t4 * t4
        a5 += t5 * t5
        a6 += t6 * t6
        a7 += t7 * t7
    if euclid:
        return (math.sqrt(a0), math.sqrt(a1), math.sqrt(a2), math.sqrt(a3),
                math.sqrt(a4), math.sqrt(a5), math.sqrt(a6), math.sqrt(a7))
    return (a0, a1, a2, a3, a4, a5, a6, a7)


@njit(cache=True, fastmath=_FM, inline="always")
def _lane_box_gap(lo, hi, yj, euclid):
    """Distance from the 8 lanes of ``yj`` (D, 8) to the box [lo, hi] (D,)."""
    a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = 0.0
    for d in range(lo.shape[0]):
        l_ = lo[d]
        h_ = hi[d]
        c0 = yj[d, 0]
        c1 = yj[d, 1]
        c2 = yj[d, 2]
        c3 = yj[d, 3]
        c4 = yj[d, 4]
        c5 = yj[d, 5]
        c6 = yj[d, 6]
        c7 = yj[d, 7]
        t0 = max(max(l_ - c0, c0 - h_), 0.0)
        t1 = max(max(l_ - c1, c1 - h_), 0.0)
        t2 = max(max(l_ - c2, c2 - h_), 0.0)
        t3 = max(max(l_ - c3, c3 - h_), 0.0)
        t4 = max(max(l_ - c4, c4 - h_), 0.0)
        t5 = max(max(l_ - c5, c5 - h_), 0.0)
        t6 = max(max(l_ - c6, c6 - h_), 0.0)
        t7 = max(max(l_ - c7, c7 - h_), 0.0)
        a0 += t0 * t0
        a1 += t1 * t1
        a2 += t2 * t2
        a3 += t3 * t3
        a4 += t4 * t4
        a5 += t5 * t5
        a6 += t6 * t6
        a7 += t7 * t7
    if euclid:
        return (math.sqrt(a0), math.sqrt(a1), math.sqrt(a2), math.sqrt(a3),
                math.sqrt(a4), math.sqrt(a5), math.sqrt(a6), math.sqrt(a7))
    return (a0, a1, a2, a3, a4, a5, a6, a7)


@njit(cache=True, fastmath=_FM, inline="always")
def _lower_bounds(x, Yp, M, radius, euclid, lb):
    """LB_Kim (first and last cells) + LB_Keogh over the query envelope, for every candidate.

    Every warping path contains (0, 0), (n−1, m−1) and at least one cell in each column j; in
    column j the rows are limited to |i − j| ≤ r, so that cell costs at least the distance from
    the candidate's point to the box [min, max] of the query over those rows (per dimension;
    for the Euclidean cost the norm of that gap vector).  Columns 0 and m−1 use their exact
    corner cells instead, which are distinct path cells from the interior columns.
    """
    n, D = x.shape
    m = Yp.shape[1]
    # Envelope of the query over the rows a column j may align with.
    env_lo = np.empty((m, D))
    env_hi = np.empty((m, D))
    for j in range(m):
        i0 = max(0, j - radius)
        i1 = min(n - 1, j + radius)
        for d in range(D):
            lo = x[i0, d]
            hi = x[i0, d]
            for i in range(i0 + 1, i1 + 1):
                lo = min(lo, x[i, d])
                hi = max(hi, x[i, d])
            env_lo[j, d] = lo
            env_hi[j, d] = hi
    for b in range(Yp.shape[0]):
        yb = Yp[b]
        s0, s1, s2, s3, s4, s5, s6, s7 = _lane_corner(x, 0, yb[0], euclid)
        if n > 1 or m > 1:  # (n−1, m−1) is a second cell unless both have length 1
            e0, e1, e2, e3, e4, e5, e6, e7 = _lane_corner(x, n - 1, yb[m - 1], euclid)
            s0 += e0
            s1 += e1
            s2 += e2
            s3 += e3
            s4 += e4
            s5 += e5
            s6 += e6
            s7 += e7
        for j in range(1, m - 1):
            e0, e1, e2, e3, e4, e5, e6, e7 = _lane_box_gap(env_lo[j], env_hi[j], yb[j], euclid)
            s0 += e0
            s1 += e1
            s2 += e2
            s3 += e3
            s4 += e4
            s5 += e5
            s6 += e6
            s7 += e7
        base = b * _LANES
        tot = (s0, s1, s2, s3, s4, s5, s6, s7)
        for l in range(_LANES):
            if base + l < M:
                lb[base + l] = tot[l] * _LB_SLACK


@njit(cache=True, parallel=True, fastmath=_FM)
def _bound_survivors(Q, Yp, M, radius, euclid, kth):
    """Per query, how many candidates have a lower bound <= its true k-th best distance.

    No pruned search can evaluate fewer candidates, so this decides whether pruning can pay.
    """
    out = np.empty(Q.shape[0], dtype=np.int64)
    for q in prange(Q.shape[0]):
        lb = np.empty(M)
        _lower_bounds(Q[q], Yp, M, radius, euclid, lb)
        out[q] = np.sum(lb <= kth[q])
    return out


@njit(cache=True, parallel=True, fastmath=_FM)
def _topk_pruned(Q, Y, Yp, k, radius, euclid, out_i, out_d, evaluated):
    """Exact top-k with lower bounds and early abandoning.

    Per query: lower bounds for every candidate; exact DTW for the candidates with the k
    smallest bounds gives a first k-th best; then one sweep over the corpus evaluates, eight
    at a time in the lane kernel, only candidates whose bound does not exceed the running k-th
    best, abandoning a group once all its lanes' row minima exceed it.  No sort of the corpus.
    """
    M, m, D = Y.shape
    for q in prange(Q.shape[0]):
        x = Q[q]
        lb = np.empty(M)
        _lower_bounds(x, Yp, M, radius, euclid, lb)
        seed_bound = np.partition(lb, k - 1)[k - 1]
        buf = np.empty((m + 1, _LANES))
        res = np.empty(_LANES)
        group = np.empty((m, D, _LANES))
        ids = np.empty(_LANES, dtype=np.int64)
        best_d = np.full(k, np.inf)
        best_i = np.full(k, M, dtype=np.int64)
        count = 0
        # Pass 0 evaluates the seeds (bound <= seed_bound), pass 1 everything else that may
        # still beat the running k-th best.
        for sweep in range(2):
            g = 0
            c = 0
            while c <= M:
                take = False
                if c < M:
                    is_seed = lb[c] <= seed_bound
                    if sweep == 0:
                        take = is_seed
                    else:
                        take = (not is_seed) and lb[c] <= best_d[k - 1]
                if take:
                    ids[g] = c
                    g += 1
                if g == _LANES or (c == M and g > 0):
                    for l in range(g, _LANES):
                        ids[l] = ids[0]
                    for t in range(m):
                        for d in range(D):
                            for l in range(_LANES):
                                group[t, d, l] = Y[ids[l], t, d]
                    count += g
                    if _dtw_lanes(x, group, radius, euclid, best_d[k - 1], buf, res):
                        for l in range(g):
                            _topk_insert(best_d, best_i, k, res[l], ids[l])
                    g = 0
                c += 1
        evaluated[q] = count
        for t in range(k):
            out_i[q, t] = best_i[t]
            out_d[q, t] = best_d[t]


# ----------------------------------------------------------------------------------------------
# Single pairs
# ----------------------------------------------------------------------------------------------


def dtw_distance(
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    *,
    window: int | None = None,
    cost: str | DTWCost = "sqeuclidean",
) -> float:
    """DTW distance between two ``(T, D)`` sequences (CLASS §4.1).

    ``min_Γ Σ_(p,q)∈Γ c(a_p, b_q)`` over monotone, continuous alignments Γ from (0, 0) to
    (n−1, m−1), with ``c = ‖a − b‖²`` (``cost="sqeuclidean"``, aeon's convention) or
    ``c = ‖a − b‖₂`` (``cost="euclidean"``, the formula printed in CLASS §4.1).  ``window`` is a
    Sakoe–Chiba radius in steps, widened to ``|n − m|`` when the lengths differ (see the module
    docstring).  1-D inputs are read as one channel.
    """
    euclid = _cost_flag(cost)
    _check_window(window)
    a = _as_sequence(x, "x")
    b = _as_sequence(y, "y")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"x and y must have the same D, got x D={a.shape[1]} and y D={b.shape[1]}")
    r = _radius(window, a.shape[0], b.shape[0])
    return float(_dtw_scalar(a, b, r, euclid, np.inf))


def dtw_path(
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    *,
    window: int | None = None,
    cost: str | DTWCost = "sqeuclidean",
) -> tuple[float, IntArray]:
    """DTW distance and one optimal alignment as an ``(L, 2)`` int array of (i, j) cells.

    Same conventions as :func:`dtw_distance`.  The path runs from (0, 0) to (n−1, m−1) in
    unit steps (i+1, j), (i, j+1) or (i+1, j+1); among equally good predecessors the diagonal
    is preferred, then the step in x.
    """
    euclid = _cost_flag(cost)
    _check_window(window)
    a = _as_sequence(x, "x")
    b = _as_sequence(y, "y")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"x and y must have the same D, got x D={a.shape[1]} and y D={b.shape[1]}")
    r = _radius(window, a.shape[0], b.shape[0])
    acc = _dtw_matrix(a, b, r, euclid)
    return float(acc[-1, -1]), _backtrack(acc)


# ----------------------------------------------------------------------------------------------
# Pairwise matrices
# ----------------------------------------------------------------------------------------------


def _same_shapes(seqs: object) -> bool:
    return isinstance(seqs, (list, tuple)) and len({np.shape(q) for q in seqs}) == 1


def _default_block(n_cols: int) -> int:
    # About 64 MiB of float64 scratch per block, but never fewer rows than keep every core busy.
    return max(4 * numba.get_num_threads(), (64 << 20) // (8 * max(n_cols, 1)))


def pairwise_dtw(
    X: npt.ArrayLike | Sequence[npt.ArrayLike],
    Y: npt.ArrayLike | Sequence[npt.ArrayLike] | None = None,
    *,
    window: int | None = None,
    cost: str | DTWCost = "sqeuclidean",
    out: np.ndarray | None = None,
    memmap_path: str | os.PathLike[str] | None = None,
    block: int | None = None,
) -> np.ndarray:
    """All DTW distances between the chunks of ``X`` and ``Y`` (or within ``X``), shape (N, M).

    CLASS §4.1 computes "pairwise DTW distances across all action sequences in the dataset";
    this is that matrix.  ``X`` is an ``(N, T, D)`` array of equal-length chunks (or a list of
    ``(T_i, D)`` arrays of varying length, evaluated with the scalar kernel).  With ``Y=None``
    only the pairs i < j are computed and mirrored; the diagonal is 0.

    The work runs on every numba thread and in row blocks of ``block`` rows (default: about
    64 MiB of scratch), so memory beyond the result stays bounded.  The result is written into
    ``out`` when given (any float array of shape (N, M), e.g. an ``np.memmap``); otherwise into a
    float32 ``np.memmap`` at ``memmap_path`` when given; otherwise into a new float64 array.
    For a matrix too large for RAM pass ``memmap_path`` (App. B notes the quadratic cost).
    """
    euclid = _cost_flag(cost)
    _check_window(window)
    symmetric = Y is None
    ragged = not isinstance(X, np.ndarray) and isinstance(X, (list, tuple))
    if ragged and _same_shapes(X) and (symmetric or (_same_shapes(Y) and np.shape(Y[0])[1:] == np.shape(X[0])[1:])):
        # Equal lengths after all: the vectorised kernel applies (validation happens below).
        X = np.stack([_as_sequence(x, f"X[{i}]") for i, x in enumerate(X)])
        if not symmetric and isinstance(Y, (list, tuple)):
            Y = np.stack([_as_sequence(y, f"Y[{i}]") for i, y in enumerate(Y)])
        ragged = False
    if ragged:
        Xr, xo = _as_ragged(X, "X")
        if symmetric:
            Yr, yo = Xr, xo
        else:
            if not isinstance(Y, (list, tuple)):
                Y = list(np.asarray(Y, dtype=np.float64))
            Yr, yo = _as_ragged(Y, "Y")
            if Yr.shape[1] != Xr.shape[1]:
                raise ValueError(f"X and Y must have the same D, got {Xr.shape[1]} and {Yr.shape[1]}")
        N, M = xo.shape[0] - 1, yo.shape[0] - 1
    else:
        Xa = _as_batch(X, "X")
        Ya = Xa if symmetric else _as_batch(Y, "Y")
        if Ya.shape[2] != Xa.shape[2]:
            raise ValueError(f"X and Y must have the same D, got {Xa.shape[2]} and {Ya.shape[2]}")
        N, M = Xa.shape[0], Ya.shape[0]
        radius = _radius(window, Xa.shape[1], Ya.shape[1])
        Yp = _pack_lanes(Ya)

    if out is not None:
        if out.shape != (N, M):
            raise ValueError(f"out must have shape {(N, M)}, got {out.shape}")
        if not np.issubdtype(out.dtype, np.floating):
            raise ValueError(f"out must be a float array, got dtype {out.dtype}")
        result = out
    elif memmap_path is not None:
        result = np.memmap(memmap_path, dtype=np.float32, mode="w+", shape=(N, M))
    else:
        result = np.empty((N, M), dtype=np.float64)

    if block is None:
        block = _default_block(M)
    elif isinstance(block, bool) or not isinstance(block, (int, np.integer)) or block < 1:
        raise ValueError(f"block must be a positive int, got {block!r}")

    for r0 in range(0, N, block):
        r1 = min(N, r0 + block)
        # Every entry that is copied out below is written by a kernel or by _mirror_square.
        scratch = np.empty((r1 - r0, M), dtype=np.float64)
        if ragged:
            w = -1 if window is None else int(window)
            with _SLP_LOCK:
                _pairwise_ragged(Xr, xo, Yr, yo, w, euclid, r0, r1, symmetric, scratch)
        else:
            with _slp_vectorisation():
                _pairwise_rows(Xa, Yp, M, radius, euclid, r0, r1, symmetric, scratch)
        if symmetric:
            # The block holds j > i; mirror its own square, then the rows below it.
            with _SLP_LOCK:
                _mirror_square(scratch, r0)
            result[r0:r1, r0:] = scratch[:, r0:]
            if r1 < N:
                result[r1:, r0:r1] = scratch[:, r1:].T
        else:
            result[r0:r1] = scratch
    if isinstance(result, np.memmap):
        result.flush()
    return result


# ----------------------------------------------------------------------------------------------
# Top-k search
# ----------------------------------------------------------------------------------------------

# Pruning evaluates a candidate at about twice the brute-force cost (it gathers the candidates
# into lanes) plus the bounds; it pays when under ~20 % of the corpus survives the ideal bound
# (measured on 2 cores, T=16, D=10; see benchmarks/README.md).
_PRUNE_BREAK_EVEN = 0.2


def dtw_topk(
    queries: npt.ArrayLike,
    corpus: npt.ArrayLike,
    k: int,
    *,
    window: int | None = None,
    cost: str | DTWCost = "sqeuclidean",
    strategy: str = "auto",
) -> tuple[IntArray, FloatArray]:
    """Exact k nearest corpus chunks of each query under DTW, sorted ascending.

    Returns ``(indices (Q, k) int64, distances (Q, k) float64)``; equal distances are ordered by
    lower corpus index, so the answer is the first k columns of a stable argsort of the full
    matrix.  ``strategy="prune"`` bounds every candidate with LB_Kim + a multivariate LB_Keogh
    envelope and evaluates only those that can still enter the top k, in bound order with early
    abandoning against the running k-th best; ``"brute"`` evaluates every pair without storing
    the matrix; ``"auto"`` answers a first batch of queries by brute force, counts how many
    candidates the bounds would have let through given the true k-th distances, and prunes the
    remaining queries only when fewer than 20 % would (on unstructured data, e.g. random or
    high-dimensional chunks, the bounds are too loose to pay for themselves).
    Parallel across queries.  Used for the CLASS nearest-neighbour views (App. J.2).
    """
    euclid = _cost_flag(cost)
    _check_window(window)
    if strategy not in ("auto", "prune", "brute"):
        raise ValueError(f"strategy must be 'auto', 'prune' or 'brute', got {strategy!r}")
    Qa = _as_batch(queries, "queries")
    Ca = _as_batch(corpus, "corpus")
    if Qa.shape[2] != Ca.shape[2]:
        raise ValueError(f"queries and corpus must have the same D, got {Qa.shape[2]} and {Ca.shape[2]}")
    M = Ca.shape[0]
    k = _check_k(k, M, "corpus")
    radius = _radius(window, Qa.shape[1], Ca.shape[1])
    Yp = _pack_lanes(Ca)
    nq = Qa.shape[0]
    out_i = np.empty((nq, k), dtype=np.int64)
    out_d = np.empty((nq, k), dtype=np.float64)
    with _slp_vectorisation():
        if strategy == "brute":
            _topk_brute(Qa, Yp, M, k, radius, euclid, out_i, out_d)
            return out_i, out_d
        evaluated = np.zeros(nq, dtype=np.int64)
        if strategy == "prune":
            _topk_pruned(Qa, Ca, Yp, k, radius, euclid, out_i, out_d, evaluated)
            return out_i, out_d
        # "auto": brute force on a first batch (answers kept), then count how many candidates
        # the bounds could not have excluded even with the final k-th best known up front.
        first = min(nq, 4 * numba.get_num_threads())
        _topk_brute(Qa[:first], Yp, M, k, radius, euclid, out_i[:first], out_d[:first])
        if first < nq:
            survivors = _bound_survivors(Qa[:first], Yp, M, radius, euclid, out_d[:first, k - 1])
            rest_i, rest_d = out_i[first:], out_d[first:]
            if survivors.mean() > _PRUNE_BREAK_EVEN * M:
                _topk_brute(Qa[first:], Yp, M, k, radius, euclid, rest_i, rest_d)
            else:
                _topk_pruned(Qa[first:], Ca, Yp, k, radius, euclid, rest_i, rest_d, evaluated[first:])
    return out_i, out_d


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
    with _SLP_LOCK:
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


@dataclass(frozen=True)
class NeighbourOverlap:
    """Overlap@k between two neighbour lists: |A_k ∩ B_k| / k per query and on average."""

    per_query: FloatArray  # (Q,)
    mean: float
    k: int


@dataclass(frozen=True)
class RelativeDTW:
    """Mean DTW from each query to its embedding neighbours, relative to random pairs.

    ``ratio`` < 1 means the embedding puts together chunks whose actions are closer than
    chance — the behavioural grounding CLASS aims for (§4.2, App. J.2).
    """

    neighbour_mean: float  # mean DTW(query, embedding neighbour)
    random_mean: float  # mean DTW(query, random other chunk)
    ratio: float  # neighbour_mean / random_mean
    per_query: FloatArray  # (Q,) mean DTW to each query's neighbours


def _as_embeddings(x: npt.ArrayLike, name: str) -> FloatArray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2 or 0 in a.shape:
        raise ValueError(f"{name} must be a non-empty (N, E) array, got shape {a.shape}")
    _check_finite(a, name)
    norms = np.linalg.norm(a, axis=1, keepdims=True)
    if np.any(norms == 0):
        raise ValueError(f"{name} has zero-norm rows; cosine similarity is undefined for them")
    return a / norms


def cosine_topk(
    queries_emb: npt.ArrayLike,
    corpus_emb: npt.ArrayLike,
    k: int,
    *,
    exclude_self: bool = False,
    query_indices: npt.ArrayLike | None = None,
) -> tuple[IntArray, FloatArray]:
    """k most cosine-similar corpus embeddings per query, most similar first.

    Returns ``(indices (Q, k) int64, similarities (Q, k) float64)``; ties go to the lower
    corpus index.  With ``exclude_self`` the query's own corpus entry is skipped: query q is
    corpus item ``query_indices[q]`` (default q, i.e. queries are the first Q corpus rows).
    """
    qe = _as_embeddings(queries_emb, "queries_emb")
    ce = _as_embeddings(corpus_emb, "corpus_emb")
    if qe.shape[1] != ce.shape[1]:
        raise ValueError(f"queries_emb and corpus_emb must have the same width, got {qe.shape[1]} and {ce.shape[1]}")
    nq, m = qe.shape[0], ce.shape[0]
    self_idx = None
    if exclude_self:
        self_idx = np.arange(nq) if query_indices is None else np.asarray(query_indices)
        if self_idx.shape != (nq,) or not np.issubdtype(self_idx.dtype, np.integer):
            raise ValueError(f"query_indices must be {nq} integers, got shape {self_idx.shape}")
        if self_idx.min() < 0 or self_idx.max() >= m:
            raise ValueError(f"query_indices must lie in [0, {m}) (the corpus rows)")
    elif query_indices is not None:
        raise ValueError("query_indices is only used with exclude_self=True")
    k = _check_k(k, m - (1 if exclude_self else 0), "corpus_emb minus the excluded self")
    out_i = np.empty((nq, k), dtype=np.int64)
    out_s = np.empty((nq, k), dtype=np.float64)
    step = max(1, (32 << 20) // (8 * m))
    for q0 in range(0, nq, step):
        q1 = min(nq, q0 + step)
        s = qe[q0:q1] @ ce.T  # (b, M)
        if self_idx is not None:
            s[np.arange(q1 - q0), self_idx[q0:q1]] = -np.inf
        part = np.argpartition(-s, k - 1, axis=1)[:, :k]
        kth = np.take_along_axis(s, part, 1).min(axis=1)
        for r in range(q1 - q0):
            # Candidates: everything at least as similar as the k-th (more than k on ties).
            cand = np.flatnonzero(s[r] >= kth[r])
            order = cand[np.lexsort((cand, -s[r, cand]))][:k]
            out_i[q0 + r] = order
            out_s[q0 + r] = s[r, order]
    return out_i, out_s


def _as_neighbours(x: npt.ArrayLike, name: str) -> IntArray:
    a = np.asarray(x)
    if a.ndim != 2 or 0 in a.shape or not np.issubdtype(a.dtype, np.integer):
        raise ValueError(f"{name} must be a non-empty (Q, k) integer array, got shape {a.shape} dtype {a.dtype}")
    s = np.sort(a, axis=1)
    if np.any(s[:, 1:] == s[:, :-1]):
        raise ValueError(f"{name} has repeated indices within a row")
    return a.astype(np.int64)


def overlap_at_k(
    neighbours_a: npt.ArrayLike, neighbours_b: npt.ArrayLike, k: int | None = None
) -> NeighbourOverlap:
    """Fraction of the first k neighbours two lists share, per query and on average.

    Used to compare embedding neighbours (:func:`cosine_topk`) with DTW neighbours
    (:func:`dtw_topk`) of the same queries.  ``k`` defaults to the shorter list.
    """
    a = _as_neighbours(neighbours_a, "neighbours_a")
    b = _as_neighbours(neighbours_b, "neighbours_b")
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"neighbours_a and neighbours_b must have the same number of queries, got {a.shape[0]} and {b.shape[0]}")
    kmax = min(a.shape[1], b.shape[1])
    k = kmax if k is None else _check_k(k, kmax, "the shorter neighbour list")
    shared = (a[:, :k, None] == b[:, None, :k]).any(axis=2).sum(axis=1)
    per = shared / k
    return NeighbourOverlap(per_query=per, mean=float(per.mean()), k=k)


def relative_dtw_of_neighbours(
    chunks: npt.ArrayLike,
    neighbours: npt.ArrayLike,
    *,
    query_indices: npt.ArrayLike | None = None,
    n_random: int | None = None,
    seed: int = 0,
    window: int | None = None,
    cost: str | DTWCost = "sqeuclidean",
) -> RelativeDTW:
    """Mean DTW between queries and their embedding neighbours, relative to random pairs.

    ``chunks`` (N, T, D) are the action chunks behind the embeddings; ``neighbours`` (Q, k)
    are corpus indices (e.g. from :func:`cosine_topk`); query q is chunk ``query_indices[q]``
    (default q).  The baseline pairs each query with ``n_random`` (default k) chunks drawn
    uniformly among the others, with a fixed ``seed``.
    """
    euclid = _cost_flag(cost)
    _check_window(window)
    X = _as_batch(chunks, "chunks")
    nb = _as_neighbours(neighbours, "neighbours")
    n = X.shape[0]
    nq, k = nb.shape
    if n < 2:
        raise ValueError("chunks must hold at least 2 chunks")
    qi = np.arange(nq) if query_indices is None else np.asarray(query_indices)
    if qi.shape != (nq,) or not np.issubdtype(qi.dtype, np.integer) or qi.min() < 0 or qi.max() >= n:
        raise ValueError(f"query_indices must be {nq} integers in [0, {n})")
    if nb.min() < 0 or nb.max() >= n:
        raise ValueError(f"neighbours must lie in [0, {n}) (the chunk indices)")
    if n_random is None:
        n_random = k
    elif isinstance(n_random, bool) or not isinstance(n_random, (int, np.integer)) or n_random < 1:
        raise ValueError(f"n_random must be a positive int, got {n_random!r}")
    r = _radius(window, X.shape[1], X.shape[1])
    qa = np.repeat(qi, k).astype(np.int64)
    with _SLP_LOCK:
        dn = _paired_dtw(X, qa, nb.ravel(), r, euclid).reshape(nq, k)
    rng = np.random.default_rng(seed)
    ra = np.repeat(qi, n_random).astype(np.int64)
    # Uniform over the other n − 1 chunks: draw from n − 1 and skip the query itself.
    rb = rng.integers(0, n - 1, size=ra.size)
    rb = (rb + (rb >= ra)).astype(np.int64)
    with _SLP_LOCK:
        dr = _paired_dtw(X, ra, rb, r, euclid)
    neighbour_mean = float(dn.mean())
    random_mean = float(dr.mean())
    ratio = neighbour_mean / random_mean if random_mean > 0 else float("nan")
    return RelativeDTW(
        neighbour_mean=neighbour_mean, random_mean=random_mean, ratio=ratio, per_query=dn.mean(axis=1)
    )
