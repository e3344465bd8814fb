"""The compiled DTW kernels (numba): scalar and eight-lane dynamic programmes, pairwise blocks,
lower bounds and the pruned top-k search. Private to :mod:`workbench.dtw`; call them through
:mod:`workbench.dtw.distance`, which validates inputs and holds :data:`SLP_LOCK` around them.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import numba
import numpy as np
from numba import njit, prange

# Number of candidate sequences aligned side by side in the vectorised kernels.  Eight float64
# lanes fill one AVX-512 register (two AVX2 ones); the DP recurrence is a serial chain along a
# row, so running eight independent pairs in lock-step is what keeps the FP units busy.
_LANES = 8
_INF = np.inf
# Relative slack on lower bounds so that rounding can never prune a true tie.
_LB_SLACK = 1.0 - 1e-12


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
SLP_LOCK = threading.RLock()


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
    with SLP_LOCK:
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
