"""Nearest neighbours in embedding space: the one top-k selection and the one cosine top-k.

Every ranking of embeddings in the library goes through :func:`top_k` — the k-NN retrieval policy
(:mod:`workbench.eval.knn`), the neighbour comparison (:mod:`workbench.analysis.neighbours`) and the
DTW-neighbour masks there — so they all break ties the same way:

**Tie-break: among equal scores the lower corpus index comes first.** (Embeddings of duplicated
frames are exactly equal; without a rule the order would depend on ``argpartition``'s internals.)
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["cosine_topk", "top_k"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def _check_k(k: int, n: int, what: str) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise ValueError(f"k must be an int, got {k!r}")
    if k < 1 or k > n:
        raise ValueError(f"k must be in [1, {n}] (the size of {what}), got {k}")
    return int(k)


def top_k(scores: npt.ArrayLike, k: int, *, largest: bool = True) -> tuple[IntArray, FloatArray]:
    """Row-wise top-k of a ``(Q, N)`` score matrix, best first: ``(indices (Q, k), scores (Q, k))``.

    ``largest`` picks the highest scores (similarities), else the lowest (distances). Ties go to
    the lower column index. Excluded entries can be set to ``-inf`` (``largest``) or ``+inf``.
    """
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 2 or s.shape[1] == 0:
        raise ValueError(f"scores must be a (Q, N) array with N > 0, got shape {s.shape}")
    q, n = s.shape
    k = _check_k(k, n, "the corpus")
    key = -s if largest else s  # smaller key = better
    part = np.argpartition(key, k - 1, axis=1)[:, :k] if k < n else np.tile(np.arange(n), (q, 1))
    part_key = np.take_along_axis(key, part, 1)
    kth = part_key.max(axis=1)
    # rows where an entry outside the partition ties the k-th: take every candidate, then order
    crowded = (key <= kth[:, None]).sum(axis=1) > k
    order = np.lexsort((part, part_key), axis=1)  # by key, then by index
    idx = np.take_along_axis(part, order, 1)
    for r in np.flatnonzero(crowded):
        cand = np.flatnonzero(key[r] <= kth[r])
        idx[r] = cand[np.lexsort((cand, key[r, cand]))][:k]
    return idx.astype(np.int64), np.take_along_axis(s, idx, 1)


def _unit_rows(x: npt.ArrayLike, name: str) -> FloatArray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2 or 0 in a.shape:
        raise ValueError(f"{name} must be a non-empty (N, E) array, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or inf values")
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
    allowed: npt.ArrayLike | None = None,
) -> tuple[IntArray, FloatArray]:
    """k most cosine-similar corpus embeddings per query, most similar first (:func:`top_k`'s tie-break).

    Returns ``(indices (Q, k) int64, similarities (Q, k) float64)``. With ``exclude_self`` the
    query's own corpus entry is skipped: query q is corpus item ``query_indices[q]`` (default q,
    i.e. queries are the first Q corpus rows). ``allowed`` (Q, N) bool excludes more entries
    (e.g. the query's own episode); every row must keep at least k.
    """
    qe = _unit_rows(queries_emb, "queries_emb")
    ce = _unit_rows(corpus_emb, "corpus_emb")
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
    mask = None
    if allowed is not None:
        mask = np.asarray(allowed, dtype=bool)
        if mask.shape != (nq, m):
            raise ValueError(f"allowed must be ({nq}, {m}) booleans, got shape {mask.shape}")
    avail = m - (1 if exclude_self else 0)
    if mask is not None:
        ok = mask.copy()
        if self_idx is not None:
            ok[np.arange(nq), self_idx] = False
        avail = int(ok.sum(1).min())
    k = _check_k(k, avail, "the allowed corpus" if mask is not None else "corpus_emb minus the excluded self")
    out_i = np.empty((nq, k), dtype=np.int64)
    out_s = np.empty((nq, k), dtype=np.float64)
    step = max(1, (32 << 20) // (8 * m))  # ~32 MB of similarities at a time
    for q0 in range(0, nq, step):
        q1 = min(nq, q0 + step)
        s = qe[q0:q1] @ ce.T  # (b, M)
        if self_idx is not None:
            s[np.arange(q1 - q0), self_idx[q0:q1]] = -np.inf
        if mask is not None:
            s[~mask[q0:q1]] = -np.inf
        out_i[q0:q1], out_s[q0:q1] = top_k(s, k)
    return out_i, out_s
