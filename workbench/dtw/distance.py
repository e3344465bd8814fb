"""DTW distances between action chunks: one pair, pairwise matrices, index pairs, exact top-k.

- exact DTW for one pair (:func:`dtw_distance`, :func:`dtw_path`);
- a compiled, multi-core, memory-bounded pairwise matrix (:func:`pairwise_dtw`);
- DTW of chosen index pairs (:func:`paired_dtw`);
- exact k-nearest-neighbour search with lower bounds and early abandoning (:func:`dtw_topk`).

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

import os
from collections.abc import Sequence
from enum import Enum

import numba
import numpy as np
import numpy.typing as npt

from workbench.dtw.kernels import (
    SLP_LOCK,
    _backtrack,
    _bound_survivors,
    _dtw_matrix,
    _dtw_scalar,
    _mirror_square,
    _pack_lanes,
    _paired_dtw,
    _pairwise_ragged,
    _pairwise_rows,
    _slp_vectorisation,
    _topk_brute,
    _topk_pruned,
)

__all__ = ["DTWCost", "FloatArray", "IntArray", "dtw_distance", "dtw_path", "dtw_topk", "paired_dtw", "pairwise_dtw"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class DTWCost(str, Enum):
    """Step cost summed along the warping path."""

    SQEUCLIDEAN = "sqeuclidean"  # ‖a − b‖², aeon's dtw_distance
    EUCLIDEAN = "euclidean"  # ‖a − b‖₂, CLASS §4.1


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


def _as_pair(x: npt.ArrayLike, y: npt.ArrayLike, window: int | None, cost: str | DTWCost) -> tuple[FloatArray, FloatArray, int, bool]:
    """Two sequences checked for one DTW: ``(x, y, effective radius, euclidean cost?)``."""
    euclid = _cost_flag(cost)
    _check_window(window)
    a = _as_sequence(x, "x")
    b = _as_sequence(y, "y")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"x and y must have the same D, got x D={a.shape[1]} and y D={b.shape[1]}")
    return a, b, _radius(window, a.shape[0], b.shape[0]), euclid


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
    a, b, r, euclid = _as_pair(x, y, window, cost)
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
    a, b, r, euclid = _as_pair(x, y, window, cost)
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
            with SLP_LOCK:
                _pairwise_ragged(Xr, xo, Yr, yo, w, euclid, r0, r1, symmetric, scratch)
        else:
            with _slp_vectorisation():
                _pairwise_rows(Xa, Yp, M, radius, euclid, r0, r1, symmetric, scratch)
        if symmetric:
            # The block holds j > i; mirror its own square, then the rows below it.
            with SLP_LOCK:
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


def paired_dtw(
    chunks: npt.ArrayLike,
    a: npt.ArrayLike,
    b: npt.ArrayLike,
    *,
    window: int | None = None,
    cost: str | DTWCost = "sqeuclidean",
) -> FloatArray:
    """DTW between ``chunks[a[i]]`` and ``chunks[b[i]]`` for every i: ``(P,)`` float64.

    ``chunks`` is an ``(N, T, D)`` batch of equal-length sequences; ``a`` and ``b`` are ``(P,)``
    indices into it (the pairs a sampled CDF or a neighbour list needs, without a full matrix).
    """
    euclid = _cost_flag(cost)
    _check_window(window)
    X = _as_batch(chunks, "chunks")
    ia = np.asarray(a, dtype=np.int64).ravel()
    ib = np.asarray(b, dtype=np.int64).ravel()
    if ia.shape != ib.shape:
        raise ValueError(f"a and b must have the same length, got {ia.size} and {ib.size}")
    n = X.shape[0]
    if ia.size and (min(ia.min(), ib.min()) < 0 or max(ia.max(), ib.max()) >= n):
        raise ValueError(f"pair indices must lie in [0, {n}) (the chunks)")
    r = _radius(window, X.shape[1], X.shape[1])
    with SLP_LOCK:
        return _paired_dtw(X, ia, ib, r, euclid)
