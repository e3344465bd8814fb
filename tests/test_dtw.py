"""Tests for workbench.dtw against a plain dynamic programme, brute force and peer libraries."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import sparse

from workbench import dtw
from workbench.analysis import neighbours as nbrs
from workbench.analysis.similarity import top_k

COSTS = ("sqeuclidean", "euclidean")
WINDOWS = (None, 0, 1, 3)


def plain_dtw(x: np.ndarray, y: np.ndarray, window: int | None, cost: str) -> tuple[float, np.ndarray]:
    """Textbook DTW with a full (n+1, m+1) table; the band is widened to |n − m| like dtw.py."""
    x = np.asarray(x, dtype=float).reshape(len(x), -1)
    y = np.asarray(y, dtype=float).reshape(len(y), -1)
    n, m = len(x), len(y)
    r = max(n, m) if window is None else max(window, abs(n - m))
    acc = np.full((n + 1, m + 1), math.inf)
    acc[0, 0] = 0.0
    for i in range(n):
        for j in range(m):
            if abs(i - j) > r:
                continue
            c = sum((float(a) - float(b)) ** 2 for a, b in zip(x[i], y[j]))
            if cost == "euclidean":
                c = math.sqrt(c)
            acc[i + 1, j + 1] = c + min(acc[i, j], acc[i, j + 1], acc[i + 1, j])
    return acc[n, m], acc


def step_cost(a: np.ndarray, b: np.ndarray, cost: str) -> float:
    c = float(np.sum((a - b) ** 2))
    return math.sqrt(c) if cost == "euclidean" else c


def smooth_chunks(rng: np.random.Generator, n: int, t: int = 16, d: int = 4) -> np.ndarray:
    """Action-like chunks: a few prototype trajectories, time-shifted and noised."""
    protos = np.cumsum(rng.normal(size=(5, t + 8, d)), axis=1)
    which = rng.integers(0, 5, size=n)
    shift = rng.integers(0, 8, size=n)
    out = np.stack([protos[w, s : s + t] for w, s in zip(which, shift)])
    return out + 0.3 * rng.normal(size=out.shape)


@pytest.fixture
def rng() -> np.random.Generator:
    # Fresh per test, so a test's data does not depend on which tests ran before it.
    return np.random.default_rng(20240611)


# ---------------------------------------------------------------------------------------------
# Single pairs
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cost", COSTS)
def test_distance_equals_plain_dynamic_programme(rng, cost):
    for n, m in [(6, 6), (9, 5), (4, 11), (1, 4), (1, 1), (16, 16)]:
        x, y = rng.normal(size=(n, 3)), rng.normal(size=(m, 3))
        for w in WINDOWS:
            expected, _ = plain_dtw(x, y, w, cost)
            got = dtw.dtw_distance(x, y, window=w, cost=cost)
            assert got == pytest.approx(expected, rel=1e-12), (n, m, w)


def test_window_changes_the_distance(rng):
    # The band must actually bind: a shifted copy is cheap to align only with a wide window.
    x = np.sin(np.linspace(0, 6, 20))[:, None]
    y = np.roll(x, 4, axis=0)
    d0 = dtw.dtw_distance(x, y, window=0)
    d5 = dtw.dtw_distance(x, y, window=5)
    assert d5 < d0
    assert d0 == pytest.approx(float(np.sum((x - y) ** 2)))


def test_one_dimensional_input_is_one_channel(rng):
    x, y = rng.normal(size=7), rng.normal(size=9)
    assert dtw.dtw_distance(x, y) == pytest.approx(dtw.dtw_distance(x[:, None], y[:, None]))


@pytest.mark.parametrize("cost", COSTS)
def test_path_is_a_valid_optimal_alignment(rng, cost):
    for n, m, w in [(8, 8, None), (10, 6, 1), (5, 12, 0), (7, 7, 2), (1, 5, None)]:
        x, y = rng.normal(size=(n, 2)), rng.normal(size=(m, 2))
        dist, path = dtw.dtw_path(x, y, window=w, cost=cost)
        assert path.dtype == np.int64 and path.shape[1] == 2
        assert tuple(path[0]) == (0, 0) and tuple(path[-1]) == (n - 1, m - 1)
        steps = np.diff(path, axis=0)
        assert np.all((steps >= 0) & (steps <= 1)) and np.all(steps.sum(axis=1) >= 1)
        r = max(n, m) if w is None else max(w, abs(n - m))
        assert np.all(np.abs(path[:, 0] - path[:, 1]) <= r)
        summed = sum(step_cost(x[i], y[j], cost) for i, j in path)
        assert summed == pytest.approx(dist, rel=1e-12)
        assert dist == pytest.approx(dtw.dtw_distance(x, y, window=w, cost=cost), rel=1e-12)


@pytest.mark.parametrize("cost", COSTS)
def test_symmetric_and_zero_on_identical_input(rng, cost):
    x, y = rng.normal(size=(12, 5)), rng.normal(size=(9, 5))
    for w in WINDOWS:
        assert dtw.dtw_distance(x, y, window=w, cost=cost) == pytest.approx(
            dtw.dtw_distance(y, x, window=w, cost=cost), rel=1e-12
        )
        assert dtw.dtw_distance(x, x, window=w, cost=cost) == 0.0


# ---------------------------------------------------------------------------------------------
# Pairwise matrices
# ---------------------------------------------------------------------------------------------


def loop_matrix(X, Y, window, cost):
    return np.array([[dtw.dtw_distance(a, b, window=window, cost=cost) for b in Y] for a in X])


@pytest.mark.parametrize("cost", COSTS)
@pytest.mark.parametrize("window", [None, 2])
def test_pairwise_equals_loop(rng, cost, window):
    X = smooth_chunks(rng, 37, t=12, d=5)  # 37: not a multiple of the 8 lanes
    P = dtw.pairwise_dtw(X, window=window, cost=cost)
    L = loop_matrix(X, X, window, cost)
    np.testing.assert_allclose(P, L, rtol=1e-12)
    assert np.array_equal(P, P.T) and np.all(np.diag(P) == 0)
    Y = smooth_chunks(rng, 11, t=9, d=5)  # different length
    np.testing.assert_allclose(
        dtw.pairwise_dtw(X[:13], Y, window=window, cost=cost), loop_matrix(X[:13], Y, window, cost), rtol=1e-12
    )


def test_pairwise_blocks_memmap_and_out(rng, tmp_path):
    X = smooth_chunks(rng, 29)
    full = dtw.pairwise_dtw(X, window=3)
    for block in (1, 4, 7, 100):
        np.testing.assert_array_equal(dtw.pairwise_dtw(X, window=3, block=block), full)
    path = tmp_path / "d.f32"
    mm = dtw.pairwise_dtw(X, window=3, memmap_path=path, block=5)
    assert isinstance(mm, np.memmap) and mm.dtype == np.float32
    reread = np.memmap(path, dtype=np.float32, mode="r", shape=full.shape)
    np.testing.assert_allclose(reread, full, rtol=1e-6)
    out = np.full((10, 29), -1.0)
    res = dtw.pairwise_dtw(X[:10], X, window=3, out=out, block=3)
    assert res is out
    np.testing.assert_array_equal(out, full[:10])


def test_pairwise_variable_length_list(rng):
    seqs = [rng.normal(size=(n, 3)) for n in (5, 9, 7, 12, 3, 8)]
    for w in (None, 1):
        P = dtw.pairwise_dtw(seqs, window=w, cost="euclidean")
        np.testing.assert_allclose(P, loop_matrix(seqs, seqs, w, "euclidean"), rtol=1e-12)
        Q = dtw.pairwise_dtw(seqs[:2], seqs[2:], window=w)
        np.testing.assert_allclose(Q, loop_matrix(seqs[:2], seqs[2:], w, "sqeuclidean"), rtol=1e-12)
    same = [rng.normal(size=(6, 3)) for _ in range(9)]  # a list of equal lengths takes the fast path
    np.testing.assert_array_equal(dtw.pairwise_dtw(same, window=2), dtw.pairwise_dtw(np.stack(same), window=2))
    np.testing.assert_allclose(dtw.pairwise_dtw(same, window=2), loop_matrix(same, same, 2, "sqeuclidean"), rtol=1e-12)


# ---------------------------------------------------------------------------------------------
# Top-k
# ---------------------------------------------------------------------------------------------


def brute_topk(Q, C, k, window, cost):
    D = dtw.pairwise_dtw(Q, C, window=window, cost=cost)
    idx = np.argsort(D, axis=1, kind="stable")[:, :k]
    return idx, np.take_along_axis(D, idx, 1)


@pytest.mark.parametrize("cost", COSTS)
def test_topk_equals_brute_force(rng, cost):
    corpus = smooth_chunks(rng, 300)
    queries = corpus[:20] + 0.2 * rng.normal(size=corpus[:20].shape)
    random_corpus = rng.normal(size=(200, 16, 4))
    random_queries = rng.normal(size=(20, 16, 4))
    for Q, C in [(queries, corpus), (random_queries, random_corpus)]:
        for w in (None, 2):
            exp_i, exp_d = brute_topk(Q, C, 7, w, cost)
            for strategy in ("auto", "prune", "brute"):
                got_i, got_d = dtw.dtw_topk(Q, C, 7, window=w, cost=cost, strategy=strategy)
                np.testing.assert_array_equal(got_i, exp_i, err_msg=f"{strategy} w={w}")
                np.testing.assert_array_equal(got_d, exp_d, err_msg=f"{strategy} w={w}")


def test_topk_ties_go_to_lower_index_and_k_equals_corpus(rng):
    base = smooth_chunks(rng, 10)
    corpus = np.concatenate([base, base[::-1]])  # every chunk twice
    for strategy in ("prune", "brute"):
        idx, d = dtw.dtw_topk(base[:4], corpus, 4, strategy=strategy)
        assert np.all(d[:, 0] == 0) and np.all(d[:, 1] == 0)
        for q in range(4):
            assert list(idx[q, :2]) == sorted([q, 19 - q])
        idx, d = dtw.dtw_topk(base[:3], corpus, corpus.shape[0], window=1, strategy=strategy)
        exp_i, exp_d = brute_topk(base[:3], corpus, corpus.shape[0], 1, "sqeuclidean")
        np.testing.assert_array_equal(idx, exp_i)
        np.testing.assert_array_equal(d, exp_d)


# ---------------------------------------------------------------------------------------------
# Peer libraries (conventions checked empirically on the installed versions)
# ---------------------------------------------------------------------------------------------


def test_matches_aeon(rng):
    aeon_distances = pytest.importorskip("aeon.distances")
    for n, m, windows in [(16, 16, WINDOWS), (12, 16, (None,))]:
        x, y = rng.normal(size=(n, 4)), rng.normal(size=(m, 4))
        for w in windows:
            # aeon: channels first, window as a fraction with radius int(window * T); its band
            # follows the rectangle's diagonal, so only equal lengths agree for a finite window.
            frac = None if w is None else (w + 0.5) / n
            expected = aeon_distances.dtw_distance(x.T, y.T, window=frac)
            assert dtw.dtw_distance(x, y, window=w) == pytest.approx(expected, rel=1e-12)


def test_matches_dtaidistance(rng):
    dtw_ndim = pytest.importorskip("dtaidistance.dtw_ndim")
    # With unequal lengths dtaidistance shifts its band instead of widening it symmetrically,
    # so only the unconstrained distance is comparable there.
    for n, m, windows in [(16, 16, WINDOWS), (12, 16, (None,))]:
        x, y = rng.normal(size=(n, 4)), rng.normal(size=(m, 4))
        for w in windows:
            dw = None if w is None else w + 1  # dtaidistance: |i − j| < window
            plain = dtw_ndim.distance(x, y, window=dw)
            assert math.sqrt(dtw.dtw_distance(x, y, window=w)) == pytest.approx(plain, rel=1e-12)
            eucl = dtw_ndim.distance(x, y, window=dw, inner_dist="euclidean")
            assert dtw.dtw_distance(x, y, window=w, cost="euclidean") == pytest.approx(eucl, rel=1e-12)
    X = smooth_chunks(rng, 20)
    fast = dtw_ndim.distance_matrix_fast(X, window=3, parallel=False)
    np.testing.assert_allclose(np.sqrt(dtw.pairwise_dtw(X, window=2)), fast, rtol=1e-12)


def test_matches_tslearn(rng):
    metrics = pytest.importorskip("tslearn.metrics")
    for n, m, windows in [(16, 16, WINDOWS), (12, 16, (None,))]:  # band conventions: see above
        x, y = rng.normal(size=(n, 4)), rng.normal(size=(m, 4))
        for w in windows:
            kw = {} if w is None else {"global_constraint": "sakoe_chiba", "sakoe_chiba_radius": w}
            expected = metrics.dtw(x, y, **kw)
            assert math.sqrt(dtw.dtw_distance(x, y, window=w)) == pytest.approx(expected, rel=1e-12)


# ---------------------------------------------------------------------------------------------
# Positive pairs
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chunk_set():
    X = smooth_chunks(np.random.default_rng(7), 80, t=10, d=3)
    return X, dtw.pairwise_dtw(X, window=3)


def test_positive_pairs_threshold_weights_and_sparse(chunk_set):
    X, D = chunk_set
    n = len(X)
    pp = dtw.positive_pairs(D, 10.0)
    upper = D[np.triu_indices(n, 1)]  # each unordered pair once
    assert pp.threshold == pytest.approx(np.quantile(upper, 0.10), rel=1e-12)
    expected = {(i, j) for i in range(n) for j in range(n) if i != j and D[i, j] <= pp.threshold}
    assert set(zip(pp.anchors.tolist(), pp.positives.tolist())) == expected
    np.testing.assert_array_equal(pp.distances, D[pp.anchors, pp.positives])
    assert np.all((pp.weights >= 0) & (pp.weights <= 1))
    order = np.argsort(pp.distances, kind="stable")
    assert np.all(np.diff(pp.weights[order]) <= 0)  # monotone decreasing in distance
    ecdf = np.array([(pp.distances <= d).mean() for d in pp.distances])
    np.testing.assert_allclose(pp.weights, 1 - ecdf)
    csr = pp.to_csr()
    assert sparse.issparse(csr) and csr.shape == (n, n)
    np.testing.assert_array_equal(csr.toarray(), pp.to_dense())
    # Chunks in, same pairs out; a memmap matrix too.
    from_chunks = dtw.positive_pairs(X, 10.0, window=3)
    np.testing.assert_array_equal(from_chunks.anchors, pp.anchors)
    np.testing.assert_allclose(from_chunks.weights, pp.weights)
    idx = np.array([5, 0, 17, 42, 63, 11])
    bw = pp.batch_weights(idx)
    dense = pp.to_dense()
    expected_bw = dense[np.ix_(idx, idx)]
    np.fill_diagonal(expected_bw, 0)
    np.testing.assert_array_equal(bw, expected_bw)
    np.testing.assert_allclose(dtw.soft_weights_matrix(X[idx], pp, window=3), bw)


def test_positive_pairs_from_memmap(chunk_set, tmp_path):
    X, D = chunk_set
    mm = dtw.pairwise_dtw(X, window=3, memmap_path=tmp_path / "m.f32")
    pp = dtw.positive_pairs(mm, 5.0, block=7)
    ref = dtw.positive_pairs(D.astype(np.float32).astype(np.float64), 5.0)
    np.testing.assert_array_equal(pp.anchors, ref.anchors)
    np.testing.assert_array_equal(pp.positives, ref.positives)


def test_same_episode_exclusion(chunk_set):
    X, D = chunk_set
    n = len(X)
    episodes = np.arange(n) // 10
    times = np.arange(n) % 10
    pp = dtw.positive_pairs(D, 20.0, exclude_same_episode_within=3, episode_ids=episodes, time_index=times)
    a, b = pp.anchors, pp.positives
    assert not np.any((episodes[a] == episodes[b]) & (np.abs(times[a] - times[b]) <= 3))
    keep = np.triu(np.ones((n, n), dtype=bool), 1) & ~(
        (episodes[:, None] == episodes[None, :]) & (np.abs(times[:, None] - times[None, :]) <= 3)
    )
    assert pp.threshold == pytest.approx(np.quantile(D[keep], 0.20), rel=1e-12)
    # Without exclusion some of those pairs would be positives.
    plain = dtw.positive_pairs(D, 20.0)
    pa, pb = plain.anchors, plain.positives
    assert np.any((episodes[pa] == episodes[pb]) & (np.abs(times[pa] - times[pb]) <= 3))


def test_sampled_threshold_close_to_exact(rng):
    X = smooth_chunks(rng, 600, t=8, d=3)
    exact = dtw.positive_pairs(X, 5.0)
    sampled = dtw.positive_pairs(X, 5.0, sample_pairs=40_000, seed=3)
    assert sampled.sampled and not exact.sampled
    assert sampled.threshold == pytest.approx(exact.threshold, rel=0.05)
    est = dtw.estimate_threshold(X, 5.0, n_pairs=40_000, seed=3)
    assert est.threshold == pytest.approx(exact.threshold, rel=0.05)
    # Online weights from the sample follow the exact ones closely.
    w_online = est.weights(exact.distances)
    assert np.max(np.abs(w_online - exact.weights)) < 0.1


# ---------------------------------------------------------------------------------------------
# Embedding side
# ---------------------------------------------------------------------------------------------


def test_cosine_topk_against_numpy(rng):
    E = rng.normal(size=(50, 6))
    Q = rng.normal(size=(7, 6))
    idx, sim = nbrs.cosine_topk(Q, E, 5)
    S = (Q / np.linalg.norm(Q, axis=1, keepdims=True)) @ (E / np.linalg.norm(E, axis=1, keepdims=True)).T
    ref = np.argsort(-S, axis=1, kind="stable")[:, :5]
    np.testing.assert_array_equal(idx, ref)
    np.testing.assert_allclose(sim, np.take_along_axis(S, ref, 1))
    idx, _ = nbrs.cosine_topk(E[:10], E, 3, exclude_self=True)
    assert not np.any(idx == np.arange(10)[:, None])
    S2 = S = (E / np.linalg.norm(E, axis=1, keepdims=True)) @ (E / np.linalg.norm(E, axis=1, keepdims=True)).T
    np.fill_diagonal(S2, -np.inf)
    np.testing.assert_array_equal(idx, np.argsort(-S2[:10], axis=1, kind="stable")[:, :3])
    # Ties: duplicated corpus rows come back lower index first.
    dup = np.concatenate([E[:3], E[:3]])
    idx, _ = nbrs.cosine_topk(E[:3], dup, 2)
    np.testing.assert_array_equal(idx, [[0, 3], [1, 4], [2, 5]])


def test_top_k_breaks_ties_to_the_lower_index_everywhere(rng):
    # scores with many exact ties, some straddling the k-th place
    S = rng.integers(0, 4, size=(40, 25)).astype(float)
    for largest in (True, False):
        idx, val = top_k(S, 6, largest=largest)
        ref = np.argsort(-S if largest else S, axis=1, kind="stable")[:, :6]
        np.testing.assert_array_equal(idx, ref)
        np.testing.assert_array_equal(val, np.take_along_axis(S, ref, 1))
    np.testing.assert_array_equal(top_k(S, 25)[0], np.argsort(-S, axis=1, kind="stable"))
    # the k-NN policy ranks with the same rule
    from workbench.eval.knn import KNNConfig, KNNPolicy

    E = np.repeat(np.eye(3), 3, axis=0)  # 9 corpus rows, three identical triples
    pred = KNNPolicy(KNNConfig(k=4)).fit(E, np.zeros((9, 2, 1))).predict(np.array([[1.0, 0.0, 0.0], [0.0, 1, 1]]))
    np.testing.assert_array_equal(pred.neighbours, [[0, 1, 2, 3], [3, 4, 5, 6]])


def test_cosine_topk_allowed_mask_and_paired_dtw(rng, chunk_set):
    E = rng.normal(size=(30, 5))
    allowed = rng.random((4, 30)) < 0.5
    allowed[:, :10] = True
    idx, sim = nbrs.cosine_topk(E[:4], E, 5, allowed=allowed)
    U = E / np.linalg.norm(E, axis=1, keepdims=True)
    S = np.where(allowed, U[:4] @ U.T, -np.inf)
    np.testing.assert_array_equal(idx, np.argsort(-S, axis=1, kind="stable")[:, :5])
    with pytest.raises(ValueError, match="allowed corpus"):
        nbrs.cosine_topk(E[:4], E, 5, allowed=np.zeros((4, 30), bool))
    X, D = chunk_set
    a, b = rng.integers(0, len(X), 20), rng.integers(0, len(X), 20)
    np.testing.assert_allclose(dtw.paired_dtw(X, a, b, window=3), D[a, b])


def test_overlap_at_k_against_sets(rng):
    a = np.array([rng.permutation(30)[:6] for _ in range(12)])
    b = np.array([rng.permutation(30)[:8] for _ in range(12)])
    res = nbrs.overlap_at_k(a, b, k=5)
    expected = [len(set(a[q, :5]) & set(b[q, :5])) / 5 for q in range(12)]
    np.testing.assert_allclose(res.per_query, expected)
    assert res.mean == pytest.approx(np.mean(expected)) and res.k == 5
    assert nbrs.overlap_at_k(a, a).mean == 1.0


def test_relative_dtw_of_neighbours(chunk_set):
    X, D = chunk_set
    nn, _ = dtw.dtw_topk(X[:15], X, 4, window=3)
    nn = nn[:, 1:]  # drop the query itself
    res = nbrs.relative_dtw_of_neighbours(X, nn, window=3, n_random=50, seed=1)
    expected_nb = np.mean([D[q, nn[q]] for q in range(15)])
    assert res.neighbour_mean == pytest.approx(expected_nb)
    np.testing.assert_allclose(res.per_query, [D[q, nn[q]].mean() for q in range(15)])
    assert 0 < res.ratio < 1 and res.ratio == pytest.approx(res.neighbour_mean / res.random_mean)
    off = D[:15][~np.eye(len(X), dtype=bool)[:15]]
    assert res.random_mean == pytest.approx(off.mean(), rel=0.2)


def test_scale_orientation():
    chunks = np.ones((2, 4, 10))
    out = dtw.scale_orientation(chunks)
    assert np.all(out[..., 3:9] == 0.5) and np.all(out[..., :3] == 1) and np.all(out[..., 9] == 1)
    assert np.all(chunks == 1)


# ---------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------

_X = np.zeros((5, 3))
_B = np.zeros((6, 5, 3))
_NAN = np.array([[0.0, np.nan], [1.0, 2.0]])


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: dtw.dtw_distance(_NAN, _NAN), "x"),
        (lambda: dtw.dtw_distance(_X, np.full((4, 3), np.inf)), "y"),
        (lambda: dtw.dtw_distance(_X, np.zeros((4, 2))), "same D"),
        (lambda: dtw.dtw_distance(np.zeros((0, 3)), _X), "x"),
        (lambda: dtw.dtw_distance(_X, _X, window=-1), "window"),
        (lambda: dtw.dtw_distance(_X, _X, window=1.5), "window"),
        (lambda: dtw.dtw_distance(_X, _X, cost="manhattan"), "cost"),
        (lambda: dtw.dtw_path(_X, np.zeros((3, 4))), "same D"),
        (lambda: dtw.pairwise_dtw(np.zeros((4, 5))), "X"),
        (lambda: dtw.pairwise_dtw(_B, np.zeros((2, 5, 4))), "same D"),
        (lambda: dtw.pairwise_dtw(_B, block=0), "block"),
        (lambda: dtw.pairwise_dtw(_B, out=np.zeros((5, 6))), "out"),
        (lambda: dtw.pairwise_dtw([_X, np.zeros((3, 2))]), "same D"),
        (lambda: dtw.dtw_topk(_B, _B, 0), "k"),
        (lambda: dtw.dtw_topk(_B, _B, 7), "k"),
        (lambda: dtw.dtw_topk(_B, _B, 2, strategy="fast"), "strategy"),
        (lambda: dtw.dtw_topk(np.full((1, 5, 3), np.nan), _B, 2), "queries"),
        (lambda: dtw.dtw_topk(_B, np.zeros((4, 5, 2)), 2), "same D"),
        (lambda: dtw.positive_pairs(np.zeros((4, 5)), 5.0), "data"),
        (lambda: dtw.positive_pairs(np.zeros((4, 4)), 0.0), "quantile"),
        (lambda: dtw.positive_pairs(np.zeros((4, 4)), 101.0), "quantile"),
        (lambda: dtw.positive_pairs(np.zeros((4, 4)), 5.0, exclude_same_episode_within=2), "episode_ids"),
        (
            lambda: dtw.positive_pairs(
                np.zeros((4, 4)), 5.0, exclude_same_episode_within=2, episode_ids=[0, 0], time_index=[0, 1, 2, 3]
            ),
            "episode_ids",
        ),
        (lambda: dtw.positive_pairs(np.zeros((4, 4)), 5.0, sample_pairs=0), "sample_pairs"),
        (lambda: dtw.estimate_threshold(_B, 5.0, n_pairs=0), "n_pairs"),
        (lambda: nbrs.cosine_topk(np.zeros((2, 3)), np.ones((4, 3)), 1), "zero-norm"),
        (lambda: nbrs.cosine_topk(np.ones((2, 3)), np.ones((4, 2)), 1), "width"),
        (lambda: nbrs.cosine_topk(np.ones((2, 3)), np.ones((4, 3)), 4, exclude_self=True), "k"),
        (lambda: nbrs.overlap_at_k(np.ones((2, 1), int), np.ones((3, 1), int)), "same number"),
        (lambda: nbrs.overlap_at_k(np.array([[1, 1]]), np.array([[1, 2]])), "neighbours_a"),
        (lambda: nbrs.relative_dtw_of_neighbours(_B, np.array([[1, 9]])), "neighbours"),
    ],
)
def test_bad_input_raises_value_error_naming_the_argument(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_parallel_kernels_are_safe_from_several_threads():
    """Several threads (app sessions) calling the parallel kernels at once get exact results."""
    import threading
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 8, 3))
    want = dtw.pairwise_dtw(X)
    results, errors = [], []

    def work():
        try:
            results.append(dtw.pairwise_dtw(X))
            dtw.dtw_topk(X[:5], X, 3)
        except Exception as e:  # pragma: no cover - recorded for the assertion
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 4
    for r in results:
        np.testing.assert_array_equal(r, want)
