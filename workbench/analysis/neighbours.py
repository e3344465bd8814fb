"""Embedding neighbours against action neighbours for query frames (CLASS App. J.2, Fig. 14/15).

For each query frame: its top-k frames by cosine similarity of the image embeddings, and its top-k
frames by DTW distance between the action chunks that follow them (the supervision CLASS uses,
§4.1). Their overlap@k says how far the embedding orders frames by future behaviour; the mean DTW of
the embedding neighbours relative to random pairs (< 1 = better than chance) says the same without
requiring exact matches. The result carries ``(episode, time)`` references of every neighbour so
the app can show a query with its top-8 images (Fig. 14).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from workbench.analysis.embeddings import Embeddings
from workbench.dtw import (
    NeighbourOverlap,
    RelativeDTW,
    cosine_topk,
    dtw_distance,
    dtw_topk,
    overlap_at_k,
    pairwise_dtw,
    relative_dtw_of_neighbours,
)

__all__ = ["NeighbourComparison", "compare_neighbours"]


@dataclass(frozen=True)
class NeighbourComparison:
    """Top-k neighbours of each query by embedding and by action DTW.

    All indices are rows of the embeddings; ``*_refs`` are ``(episode, time)`` pairs for images.
    """

    queries: npt.NDArray[np.int64]  # (Q,)
    embedding_indices: npt.NDArray[np.int64]  # (Q, k) most similar first
    embedding_similarity: npt.NDArray[np.float64]  # (Q, k) cosine
    embedding_dtw: npt.NDArray[np.float64]  # (Q, k) DTW between the query's chunk and each neighbour's
    dtw_indices: npt.NDArray[np.int64]  # (Q, k) closest first
    dtw_distances: npt.NDArray[np.float64]  # (Q, k)
    overlap: NeighbourOverlap  # overlap@k of the two lists
    relative_dtw: RelativeDTW  # mean DTW of embedding neighbours / random pairs
    query_refs: npt.NDArray[np.int64]  # (Q, 2)
    embedding_refs: npt.NDArray[np.int64]  # (Q, k, 2)
    dtw_refs: npt.NDArray[np.int64]  # (Q, k, 2)

    @property
    def k(self) -> int:
        return int(self.embedding_indices.shape[1])


def _masked_topk(score: np.ndarray, k: int, largest: bool) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise top-k of a (Q, N) matrix with excluded entries at ∓inf; ties to the lower index."""
    key = -score if largest else score
    idx = np.argsort(key, axis=1, kind="stable")[:, :k]
    return idx.astype(np.int64), np.take_along_axis(score, idx, 1)


def compare_neighbours(
    embeddings: Embeddings,
    queries: npt.ArrayLike,
    k: int = 8,
    *,
    exclude_same_episode: bool = False,
    window: int | None = None,
    cost: str = "sqeuclidean",
    n_random: int | None = None,
    seed: int = 0,
) -> NeighbourComparison:
    """Embedding (cosine) vs action (DTW of the following chunks) neighbours of rows ``queries``.

    The query itself is never its own neighbour. With ``exclude_same_episode`` frames of the
    query's own episode are excluded too (its temporal neighbours are trivially similar in both
    spaces; CLASS Fig. 14 looks for other demonstrations and viewpoints).
    """
    q = np.asarray(queries, dtype=np.int64).ravel()
    n = len(embeddings)
    if q.size == 0 or q.min() < 0 or q.max() >= n:
        raise ValueError(f"queries must be non-empty row indices in [0, {n})")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive int, got {k!r}")
    chunks = np.asarray(embeddings.chunks, dtype=np.float64)  # (N, H, D)
    ep = embeddings.episode
    if exclude_same_episode:
        allowed = ep[None, :] != ep[q][:, None]  # (Q, N)
    else:
        allowed = np.ones((q.size, n), dtype=bool)
    allowed[np.arange(q.size), q] = False
    if int(allowed.sum(1).min()) < k:
        raise ValueError(f"k={k} exceeds the {int(allowed.sum(1).min())} candidate frames of some query")

    if exclude_same_episode:
        v = embeddings.vectors.astype(np.float64)
        v = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
        sim = np.where(allowed, v[q] @ v.T, -np.inf)
        e_idx, e_sim = _masked_topk(sim, k, largest=True)
        d = np.where(allowed, pairwise_dtw(chunks[q], chunks, window=window, cost=cost), np.inf)
        d_idx, d_dist = _masked_topk(d, k, largest=False)
    else:
        e_idx, e_sim = cosine_topk(embeddings.vectors[q], embeddings.vectors, k, exclude_self=True, query_indices=q)
        # the engine's exact top-k; one extra so the query (distance 0) can be dropped
        i_all, d_all = dtw_topk(chunks[q], chunks, min(k + 1, n), window=window, cost=cost)
        d_idx = np.empty((q.size, k), np.int64)
        d_dist = np.empty((q.size, k))
        for r in range(q.size):
            keep = i_all[r] != q[r]
            d_idx[r], d_dist[r] = i_all[r][keep][:k], d_all[r][keep][:k]
    rel = relative_dtw_of_neighbours(chunks, e_idx, query_indices=q, n_random=n_random, seed=seed, window=window, cost=cost)
    e_dtw = np.array([[dtw_distance(chunks[qq], chunks[j], window=window, cost=cost) for j in row] for qq, row in zip(q, e_idx)])
    refs = np.stack([embeddings.episode, embeddings.time], axis=1).astype(np.int64)  # (N, 2)
    return NeighbourComparison(
        queries=q, embedding_indices=e_idx, embedding_similarity=np.asarray(e_sim, dtype=np.float64),
        embedding_dtw=e_dtw, dtw_indices=d_idx, dtw_distances=np.asarray(d_dist, dtype=np.float64),
        overlap=overlap_at_k(e_idx, d_idx, k), relative_dtw=rel,
        query_refs=refs[q], embedding_refs=refs[e_idx], dtw_refs=refs[d_idx],
    )  # fmt: skip
