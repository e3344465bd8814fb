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
from workbench.analysis.similarity import _check_k, cosine_topk, top_k
from workbench.dtw import DTWCost, dtw_distance, dtw_topk, paired_dtw, pairwise_dtw
from workbench.stats import Interval, bootstrap_interval

__all__ = ["NeighbourComparison", "NeighbourOverlap", "RelativeDTW", "ViewpointSpan", "camera_view_directions",
           "compare_neighbours", "cosine_topk", "neighbours_from_table", "overlap_at_k", "relative_dtw_of_neighbours", "viewpoint_span"]  # fmt: skip

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


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
    X = np.asarray(chunks, dtype=np.float64)
    if X.ndim != 3 or 0 in X.shape:
        raise ValueError(f"chunks must be a non-empty (N, T, D) array, got shape {X.shape}")
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
    qa = np.repeat(qi, k).astype(np.int64)
    dn = paired_dtw(X, qa, nb.ravel(), window=window, cost=cost).reshape(nq, k)
    rng = np.random.default_rng(seed)
    ra = np.repeat(qi, n_random).astype(np.int64)
    # Uniform over the other n − 1 chunks: draw from n − 1 and skip the query itself.
    rb = rng.integers(0, n - 1, size=ra.size)
    rb = (rb + (rb >= ra)).astype(np.int64)
    dr = paired_dtw(X, ra, rb, window=window, cost=cost)
    neighbour_mean = float(dn.mean())
    random_mean = float(dr.mean())
    ratio = neighbour_mean / random_mean if random_mean > 0 else float("nan")
    return RelativeDTW(
        neighbour_mean=neighbour_mean, random_mean=random_mean, ratio=ratio, per_query=dn.mean(axis=1)
    )


@dataclass(frozen=True)
class NeighbourComparison:
    """Top-k neighbours of each query by embedding and by action DTW.

    All indices are rows of the embeddings; ``*_refs`` are ``(episode, time)`` pairs for images.
    """

    queries: npt.NDArray[np.int64]  # (Q,)
    embedding_indices: npt.NDArray[np.int64]  # (Q, k) most similar first
    embedding_similarity: npt.NDArray[np.float64]  # (Q, k) cosine
    embedding_dtw: npt.NDArray[np.float64] | None  # (Q, k) DTW query chunk ↔ each neighbour's (None: from a table)
    dtw_indices: npt.NDArray[np.int64]  # (Q, k) closest first
    dtw_distances: npt.NDArray[np.float64]  # (Q, k)
    overlap: NeighbourOverlap  # overlap@k of the two lists
    relative_dtw: RelativeDTW | None  # mean DTW of embedding neighbours / random pairs (None: from a table)
    query_refs: npt.NDArray[np.int64]  # (Q, 2)
    embedding_refs: npt.NDArray[np.int64]  # (Q, k, 2)
    dtw_refs: npt.NDArray[np.int64]  # (Q, k, 2)

    @property
    def k(self) -> int:
        return int(self.embedding_indices.shape[1])


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
        e_idx, e_sim = cosine_topk(embeddings.vectors[q], embeddings.vectors, k, allowed=allowed)
        d = np.where(allowed, pairwise_dtw(chunks[q], chunks, window=window, cost=cost), np.inf)
        d_idx, d_dist = top_k(d, k, largest=False)
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


def neighbours_from_table(embeddings: Embeddings, queries: npt.ArrayLike, k: int, table) -> NeighbourComparison:
    """:func:`compare_neighbours` with ``exclude_same_episode`` for rows ``queries``, the DTW side
    read from a precomputed :class:`~workbench.analysis.neighbour_table.NeighbourTable` of the same
    chunks (no DTW is computed, so ``embedding_dtw`` and ``relative_dtw`` are None)."""
    q = np.asarray(queries, dtype=np.int64).ravel()
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= table.k:
        raise ValueError(f"k must be an int in [1, {table.k}] (the table's k), got {k!r}")
    if len(table.dtw_indices) != len(embeddings):
        raise ValueError(f"the table has {len(table.dtw_indices)} rows, the embeddings {len(embeddings)}")
    ep = embeddings.episode
    allowed = ep[None, :] != ep[q][:, None]
    e_idx, e_sim = cosine_topk(embeddings.vectors[q], embeddings.vectors, k, allowed=allowed)
    d_idx, d_dist = table.dtw_indices[q, :k], table.dtw_distances[q, :k]
    refs = np.stack([embeddings.episode, embeddings.time], axis=1).astype(np.int64)
    return NeighbourComparison(
        queries=q, embedding_indices=e_idx, embedding_similarity=np.asarray(e_sim, dtype=np.float64), embedding_dtw=None,
        dtw_indices=d_idx, dtw_distances=d_dist, overlap=overlap_at_k(e_idx, d_idx, k), relative_dtw=None,
        query_refs=refs[q], embedding_refs=refs[e_idx], dtw_refs=refs[d_idx],
    )  # fmt: skip


@dataclass(frozen=True)
class ViewpointSpan:
    """How far a query's neighbours stray from its own viewpoint (CLASS App. J.2, Fig. 14/15).

    CLASS's claim is that its neighbours "come from other demonstrations and other viewpoints"
    while behaviour cloning's stay near the query's camera. Per query (rows of ``(Q,)``): the share
    of its k neighbours from another camera setup (fixed / random / dynamic), from another episode,
    and the mean angle in degrees between the query's and each neighbour's camera viewing
    direction (0 when they share the view; random and dynamic cameras differ per episode or step).
    """

    other_setup: npt.NDArray[np.float64]  # (Q,)
    other_episode: npt.NDArray[np.float64]  # (Q,)
    view_angle_deg: npt.NDArray[np.float64] | None  # (Q,) None without camera poses

    def summary(self, *, seed: int = 0) -> dict[str, Interval]:
        """Each measure's mean over queries with a 95 % bootstrap interval over queries."""
        out = {"other_setup": bootstrap_interval(self.other_setup, seed=seed),
               "other_episode": bootstrap_interval(self.other_episode, seed=seed)}
        if self.view_angle_deg is not None:
            out["view_angle_deg"] = bootstrap_interval(self.view_angle_deg, seed=seed)
        return out


def camera_view_directions(source, episode: npt.ArrayLike, time: npt.ArrayLike, camera: str) -> npt.NDArray[np.float64]:
    """Unit viewing directions ``(N, 3)`` in the world (the +z axis of the camera-to-world pose,
    OpenCV convention) of ``camera`` at each ``(episode, time)``; ``source`` has ``.episode(index)``."""
    episode, time = np.asarray(episode), np.asarray(time)
    out = np.full((len(episode), 3), np.nan)
    for e in np.unique(episode):
        cam = source.episode(int(e)).cameras.get(camera)
        if cam is None or cam.extrinsics is None:
            raise ValueError(f"episode {int(e)}: camera {camera!r} has no extrinsics, so its viewpoint is unknown")
        sel = episode == e
        z = np.asarray(cam.extrinsics, dtype=np.float64)[time[sel], :3, 2]
        out[sel] = z / np.linalg.norm(z, axis=1, keepdims=True)
    return out


def viewpoint_span(
    neighbours: npt.ArrayLike, queries: npt.ArrayLike, camera_setup: npt.ArrayLike, episode: npt.ArrayLike,
    view_dir: npt.ArrayLike | None = None,
) -> ViewpointSpan:
    """:class:`ViewpointSpan` of neighbour rows ``(Q, k)`` of query rows ``(Q,)``; ``camera_setup``,
    ``episode`` and ``view_dir`` ``(N, 3)`` are per row of the embeddings."""
    nb, q = np.asarray(neighbours, dtype=np.int64), np.asarray(queries, dtype=np.int64).ravel()
    if nb.ndim != 2 or len(nb) != len(q):
        raise ValueError(f"neighbours must be (Q, k) for {len(q)} queries, got {nb.shape}")
    setup, ep = np.asarray(camera_setup), np.asarray(episode)
    other_setup = (setup[nb] != setup[q][:, None]).mean(1)
    other_episode = (ep[nb] != ep[q][:, None]).mean(1)
    angle = None
    if view_dir is not None:
        d = np.asarray(view_dir, dtype=np.float64)
        cos = np.clip(np.einsum("qkd,qd->qk", d[nb], d[q]), -1.0, 1.0)
        angle = np.degrees(np.arccos(cos)).mean(1)
    return ViewpointSpan(other_setup.astype(np.float64), other_episode.astype(np.float64), angle)
