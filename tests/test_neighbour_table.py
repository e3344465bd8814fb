"""Precomputed DTW neighbour tables: a table says what the live computation says, row for row; a key
that does not match the chunks (stale) is never used; the shipped table of the samples is current."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.analysis import compare_neighbours
from workbench.analysis.embeddings import Embeddings
from workbench.analysis.neighbour_table import (
    QUANTILES,
    SHIPPED_TABLES,
    compute_neighbour_table,
    load_neighbour_table,
    neighbour_table_key,
    save_neighbour_table,
)
from workbench.analysis.neighbours import neighbours_from_table
from workbench.dtw import estimate_threshold, pairwise_dtw


def _embeddings(n_ep: int = 6, T: int = 10, seed: int = 0) -> Embeddings:
    rng = np.random.default_rng(seed)
    n = n_ep * T
    chunks = np.cumsum(rng.normal(size=(n, 5, 3)), axis=1).astype(np.float32)  # smooth, like action chunks
    vec = np.concatenate([chunks.reshape(n, -1), rng.normal(scale=2.0, size=(n, 6))], 1).astype(np.float32)
    t = np.tile(np.arange(T), n_ep)
    return Embeddings(vectors=vec, episode=np.repeat(np.arange(n_ep), T), time=t, progress=(t / (T - 1)).astype(np.float32),
                      task=np.full(n, "push"), camera_setup=np.full(n, "fixed"), chunks=chunks,
                      chunk_mask=np.ones((n, 5), bool), dataset="", camera="scene", chunk_kind="raw",
                      image_size=32, model_id="x")  # fmt: skip


def _live_positives(chunks, row: int, thr: float) -> int:
    d = pairwise_dtw(chunks[row : row + 1], chunks)[0]
    return int(((d <= thr) & (np.arange(len(d)) != row)).sum())


def test_a_saved_table_gives_what_the_live_computation_gives(tmp_path):
    emb = _embeddings()
    table = compute_neighbour_table(emb.chunks, emb.episode, k=8, n_pairs=2000)
    path = save_neighbour_table(table, tmp_path)
    assert path.name == f"{table.key}.npz"
    loaded = load_neighbour_table(tmp_path, neighbour_table_key(emb.chunks, emb.episode, window=None, cost="sqeuclidean", n_pairs=2000))
    assert loaded is not None and loaded.k == 8
    for row in (0, 13, 31, 59):
        live = compare_neighbours(emb, [row], 8, exclude_same_episode=True)
        shipped = neighbours_from_table(emb, [row], 8, loaded)
        np.testing.assert_array_equal(shipped.dtw_indices, live.dtw_indices)
        np.testing.assert_allclose(shipped.dtw_distances, live.dtw_distances, rtol=1e-6)
        np.testing.assert_array_equal(shipped.embedding_indices, live.embedding_indices)
        assert shipped.overlap.mean == live.overlap.mean and shipped.relative_dtw is None
        for q in (0.5, 5.0, 25.0):
            thr = estimate_threshold(emb.chunks, q, n_pairs=2000).threshold
            assert loaded.threshold(q) == thr
            assert loaded.positives_of(row, q) == _live_positives(emb.chunks, row, thr)
    # fewer neighbours than the table holds are its first columns
    np.testing.assert_array_equal(neighbours_from_table(emb, [5], 3, loaded).dtw_indices,
                                  compare_neighbours(emb, [5], 3, exclude_same_episode=True).dtw_indices)  # fmt: skip
    assert loaded.threshold(0.25) is None  # a K the table was not made for: the caller computes live
    with pytest.raises(ValueError, match="table's k"):
        neighbours_from_table(emb, [0], 9, loaded)


def test_a_stale_key_misses_and_the_live_fallback_gives_the_same_neighbours(tmp_path):
    emb = _embeddings()
    table = compute_neighbour_table(emb.chunks, emb.episode, k=6)
    save_neighbour_table(table, tmp_path)
    # any change of the chunks, their episodes, the window or the cost is another key: no table
    moved = emb.chunks.copy()
    moved[3, 2, 1] += 1e-3
    regrouped = emb.episode.copy()
    regrouped[:2] = 99
    for key in (neighbour_table_key(moved, emb.episode, window=None, cost="sqeuclidean"),
                neighbour_table_key(emb.chunks, regrouped, window=None, cost="sqeuclidean"),
                neighbour_table_key(emb.chunks, emb.episode, window=2, cost="sqeuclidean"),
                neighbour_table_key(emb.chunks, emb.episode, window=None, cost="euclidean")):  # fmt: skip
        assert key != table.key and load_neighbour_table(tmp_path, key) is None
    # a damaged file is a miss too, never a crash
    (tmp_path / f"{'0' * 24}.npz").write_bytes(b"not an npz")
    assert load_neighbour_table(tmp_path, "0" * 24) is None
    # the live path for the same chunks gives the table's neighbours
    for row in range(0, len(emb), 7):
        live = compare_neighbours(emb, [row], 6, exclude_same_episode=True)
        np.testing.assert_array_equal(live.dtw_indices[0], table.dtw_indices[row])


def test_the_shipped_samples_carry_a_current_table_for_every_run():
    """Each shipped run on each dataset it reads finds a table for the Neighbours page's defaults,
    and the table agrees with the live computation (rerun scripts/precompute_samples.py otherwise)."""
    from workbench.analysis.run_analysis import RunAnalysis
    from workbench.data import load_dataset
    from workbench.data.catalog import DEFAULT_ROOT
    from workbench.train.run import load_run

    ds = load_dataset(DEFAULT_ROOT / "metaworld", strict=False)
    for name in ("bc-sample", "caip-sample", "class-sample"):
        a = RunAnalysis(load_run(DEFAULT_ROOT / "runs" / name), ds, 2)
        kind, horizon = a.embeddings.chunk_kind, int(a.embeddings.chunks.shape[1])
        table = a.neighbour_table(kind=kind, horizon=horizon, window=None, cost="sqeuclidean")
        assert table is not None, f"{name}: no current table in {SHIPPED_TABLES}"
        assert tuple(table.quantiles) == QUANTILES
    for row in (0, 700, len(a.embeddings) - 1):
        live = a.neighbours(row, 8, kind=kind, horizon=horizon, window=None, cost="sqeuclidean", other_episodes=True)
        shipped = a.table_neighbours(row, 8, table, kind=kind, horizon=horizon)
        np.testing.assert_array_equal(shipped.dtw_indices, live.dtw_indices)
        assert table.threshold(5.0) == a.dtw_threshold(kind=kind, horizon=horizon, window=None, cost="sqeuclidean", quantile=5.0)


def test_the_dtw_warm_up_compiles_in_a_child_and_leaves_the_kernels_loaded():
    from workbench.dtw import dtw_is_warm, warm_dtw
    from workbench.dtw.warmup import dtw_is_warming

    thread = warm_dtw(wait=True, timeout=1200)
    assert warm_dtw() is thread  # once per process
    assert dtw_is_warm() and not dtw_is_warming() and not thread.is_alive()
