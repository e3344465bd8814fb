"""Analysis: embeddings + cache, projectors (scikit-learn contract), latent trajectories and the
alignment score, embedding-vs-DTW neighbours, saliency maps, the randomisation check, and saliency
mass in the simulator's gripper/object mask on a model trained on the metaworld sample."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import make_robot_episode
from sklearn.base import clone

from workbench.analysis.embeddings import Embeddings, compute_embeddings, load_frames
from workbench.analysis.neighbours import compare_neighbours
from workbench.analysis.projection import PCAProjector, TSNEProjector, UMAPProjector, project_cached, warm_umap
from workbench.analysis.saliency import (
    SALIENCY_METHODS,
    EmbeddingSimilarity,
    action_target,
    attribute,
    caip_pooling_maps,
    clip_and_gamma,
    dtw_prototype_target,
    map_probe_map,
    native_maps,
    overlay_map,
    overlay_rgb,
    pca_rgb_map,
    randomisation_check,
    randomize_weights,
    saliency_mass_in_mask,
    spearman_per_image,
    text_pooling_map,
)
from workbench.analysis.trajectories import latent_trajectories, trajectory_alignment
from workbench.data.lerobot import write_lerobot
from workbench.data.training_samples import FrameChunkDataset, collate
from workbench.methods import build_method

REPO = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------------------------
# fixtures: a tiny LeRobot dataset and an untrained CAIP on it
# ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory) -> Path:
    eps = [make_robot_episode(i, T=12, size=32, task=("push", "reach")[i % 2]) for i in range(4)]
    return write_lerobot(eps, tmp_path_factory.mktemp("analysis") / "robot")


@pytest.fixture(scope="module")
def tiny_caip(tiny_dataset):
    from workbench.data import load_dataset

    ds = FrameChunkDataset(load_dataset(tiny_dataset), camera="scene", chunk_kind="raw", horizon=4, image_size=32)
    torch.manual_seed(0)
    return build_method("caip", "smoke", ds.meta()).eval(), ds


# ----------------------------------------------------------------------------------------------
# embeddings
# ----------------------------------------------------------------------------------------------


def test_embeddings_are_cached_and_keyed(tiny_dataset, tiny_caip, tmp_path):
    method, ds = tiny_caip
    emb = compute_embeddings(method, tiny_dataset, horizon=4, batch_size=5, cache_dir=tmp_path)
    assert isinstance(emb, Embeddings)
    assert emb.vectors.shape == (len(ds), 32) and emb.vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb.vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(emb.episode, ds.chunks.episode)
    np.testing.assert_array_equal(emb.time, ds.chunks.time)
    assert set(emb.task) == {"push", "reach"} and emb.chunks.shape == (len(ds), 4, 4)
    assert emb.progress.min() == 0.0 and emb.progress.max() == 1.0
    # batched encoding equals one batch of everything
    with torch.no_grad():
        b = collate([ds[i] for i in range(len(ds))])
        full = method.encode_images(b["image"], b["text"]).numpy()
    np.testing.assert_allclose(emb.vectors, full, atol=1e-5)
    files = list(tmp_path.glob("*.npz"))
    assert len(files) == 1
    # a second call reads the file: prove it by planting a marker in the cached vectors
    planted = Embeddings(**{**emb.__dict__, "vectors": np.zeros_like(emb.vectors)})
    planted.save(files[0])
    again = compute_embeddings(method, tiny_dataset, horizon=4, batch_size=5, cache_dir=tmp_path)
    assert not again.vectors.any()
    # other settings, or other weights, are other entries
    compute_embeddings(method, tiny_dataset, horizon=4, stride=2, cache_dir=tmp_path)
    other = randomize_weights(method, seed=1)
    moved = compute_embeddings(other, tiny_dataset, horizon=4, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("*.npz"))) == 3
    assert not np.allclose(moved.vectors, emb.vectors)
    # the key is the dataset's content: a copy elsewhere with new mtimes (a fresh clone) still hits
    # the entry (and names its own path), while changing a byte misses
    clone = Path(shutil.copytree(tiny_dataset, tmp_path / "clone" / "robot"))
    for f in clone.rglob("*"):
        os.utime(f, ns=(f.stat().st_atime_ns, f.stat().st_mtime_ns + 10**9))
    hit = compute_embeddings(method, clone, horizon=4, batch_size=5, cache_dir=tmp_path)
    assert not hit.vectors.any() and hit.dataset == str(clone.resolve())
    stats = next(f for f in clone.rglob("*.json") if f.name == "stats.json")
    stats.write_text(stats.read_text() + " ")
    fresh = compute_embeddings(method, clone, horizon=4, batch_size=5, cache_dir=tmp_path)
    assert fresh.vectors.any()
    # frame references fetch the right images
    imgs = load_frames(emb, [0, 13])
    assert imgs.shape == (2, 32, 32, 3) and imgs.dtype == np.uint8
    np.testing.assert_array_equal(imgs[1], ds[13]["image"].permute(1, 2, 0).numpy())


def test_embeddings_reject_bad_settings(tiny_caip, tiny_dataset):
    method, _ = tiny_caip
    with pytest.raises(ValueError):
        compute_embeddings(method, tiny_dataset, stride=0)
    with pytest.raises(ValueError):
        compute_embeddings(object(), tiny_dataset)


# ----------------------------------------------------------------------------------------------
# projectors
# ----------------------------------------------------------------------------------------------


def _blobs(n: int = 60, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=5, size=(3, 10))
    return centres[np.arange(n) % 3] + rng.normal(size=(n, 10))


@pytest.mark.parametrize("cls", [PCAProjector, TSNEProjector, pytest.param(UMAPProjector, marks=pytest.mark.slow)])
def test_projector_contract(cls):
    X = _blobs()
    proj = cls(random_state=3)
    params = proj.get_params()
    assert proj.fit(X) is proj
    assert proj.get_params() == params  # arguments stored unchanged
    assert proj.embedding_.shape == (60, 2) and np.isfinite(proj.embedding_).all()
    again = clone(proj).fit_transform(X)
    np.testing.assert_array_equal(again, proj.embedding_)  # random_state fixes the result
    # the three blobs stay apart: each point's nearest neighbour is in its own blob
    e = proj.embedding_
    d = np.linalg.norm(e[:, None] - e[None], axis=-1) + np.eye(60) * 1e9
    assert (d.argmin(1) % 3 == np.arange(60) % 3).mean() > 0.95
    for bad in (np.zeros(5), np.full((60, 3), np.nan), X[:1]):
        with pytest.raises(ValueError):
            cls().fit(bad)
    with pytest.raises(ValueError):
        cls(n_components=0).fit(X)


def test_tsne_default_perplexity_and_seed_matters():
    X = _blobs(31)
    p = TSNEProjector(random_state=0).fit(X)
    assert p.perplexity is None and p.perplexity_ == pytest.approx(10.0)  # min(100, (31 − 1) / 3)
    assert TSNEProjector(perplexity=200).get_params()["perplexity"] == 200
    with pytest.raises(ValueError):
        TSNEProjector(perplexity=200).fit(X)
    with pytest.raises(ValueError):
        TSNEProjector(backend="cuda").fit(X)
    with pytest.raises(ValueError):
        TSNEProjector(random_state=-1).fit(X)
    if p.backend_ == "opentsne":  # the scikit-learn fallback gives the same contract
        s = TSNEProjector(backend="sklearn", random_state=0).fit(X)
        assert s.embedding_.shape == (31, 2)


def test_pca_transform_and_project_cached(tmp_path):
    X = _blobs()
    p = PCAProjector().fit(X)
    np.testing.assert_allclose(p.transform(X), p.embedding_, atol=1e-5)
    a = project_cached(PCAProjector(), X, cache_dir=tmp_path)
    files = list(tmp_path.glob("*.npy"))
    assert len(files) == 1
    np.save(files[0], np.full_like(a, 7.0))  # the second call must come from disk
    assert (project_cached(PCAProjector(), X, cache_dir=tmp_path) == 7.0).all()
    project_cached(PCAProjector(whiten=True), X, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("*.npy"))) == 2


def test_stored_projection_reads_what_project_cached_wrote(tmp_path):
    from workbench.analysis.projection import stored_projection

    X = np.random.default_rng(0).normal(size=(30, 5))
    pca = PCAProjector(random_state=0)
    assert stored_projection(pca, X, cache_dir=tmp_path) is None  # nothing computed by asking
    assert not list(tmp_path.iterdir())
    made = project_cached(pca, X, cache_dir=tmp_path)
    np.testing.assert_array_equal(stored_projection(pca, X, cache_dir=tmp_path), made)
    assert stored_projection(PCAProjector(random_state=1), X, cache_dir=tmp_path) is None  # other params, other key
    assert stored_projection(pca, X + 1e-3, cache_dir=tmp_path) is None  # other data, other key


@pytest.mark.slow
def test_warm_umap_is_idempotent():
    from workbench.analysis import projection

    t1 = warm_umap()
    t2 = warm_umap(wait=True)
    assert t1 is t2 and not t2.is_alive() and projection.umap_is_warm()


# ----------------------------------------------------------------------------------------------
# latent trajectories and alignment
# ----------------------------------------------------------------------------------------------


def _demos(aligned: bool, n_ep: int = 6, T: int = 40, seed: int = 0):
    """Six demonstrations of one task along a curve. Aligned: the same curve, in step, with
    small noise. Not aligned: each demonstration its own shifted copy (BC's separate lines)."""
    rng = np.random.default_rng(seed)
    s = np.linspace(0, 1, T)
    curve = np.stack([np.cos(3 * s), np.sin(3 * s), s], axis=1)
    pts, ep, t = [], [], []
    for e in range(n_ep):
        offset = 0 if aligned else rng.normal(scale=3.0, size=3)
        pts.append(curve + offset + rng.normal(scale=0.02, size=curve.shape))
        ep += [e] * T
        t += list(range(T))
    return np.concatenate(pts), np.array(ep), np.array(t), np.array(t) / (T - 1)


def test_trajectories_keep_time_order():
    pts, ep, t, _ = _demos(True)
    perm = np.random.default_rng(1).permutation(len(t))
    trs = latent_trajectories(pts[perm], ep[perm], t[perm], smooth=2.0)
    assert [tr.episode for tr in trs] == list(range(6))
    for tr in trs:
        np.testing.assert_array_equal(tr.time, np.arange(40))
        np.testing.assert_array_equal(ep[perm][tr.sample_ids], tr.episode)
        np.testing.assert_array_equal(t[perm][tr.sample_ids], tr.time)
    raw = latent_trajectories(pts[perm], ep[perm], t[perm])
    np.testing.assert_allclose(raw[2].points, pts[perm][raw[2].sample_ids])
    assert not np.allclose(trs[2].points, raw[2].points)  # smoothing moved the points …
    assert np.abs(trs[2].points - raw[2].points).max() < 0.2  # … but only locally
    with pytest.raises(ValueError):
        latent_trajectories(pts, ep[:-1], t)


def test_alignment_separates_aligned_from_separate_and_shuffled():
    pts, ep, t, prog = _demos(True)
    aligned = trajectory_alignment(pts, ep, progress=prog)
    apart = trajectory_alignment(*_demos(False)[:2], progress=_demos(False)[3])
    # time-shuffled: the same points, but each demonstration visits them in a random order
    rng = np.random.default_rng(2)
    shuffled_prog = np.concatenate([rng.permutation(prog[ep == e]) for e in range(6)])
    shuffled = trajectory_alignment(pts, ep, progress=shuffled_prog)
    assert aligned.score > 0.9 and apart.score < 0.6 and aligned.score - apart.score > 0.3
    assert aligned.progress_score > 0.9 and abs(shuffled.progress_score) < 0.3
    assert aligned.score == pytest.approx(1 - aligned.nn_distance / aligned.random_distance)
    # scale-free: the same picture in other units scores the same
    assert trajectory_alignment(pts * 10, ep, progress=prog).score == pytest.approx(aligned.score)
    with pytest.raises(ValueError):
        trajectory_alignment(pts, np.zeros(len(ep)))  # one demonstration: nothing to align


# ----------------------------------------------------------------------------------------------
# neighbours
# ----------------------------------------------------------------------------------------------


def _dtw_np(a: np.ndarray, b: np.ndarray) -> float:
    n, m = len(a), len(b)
    acc = np.full((n + 1, m + 1), np.inf)
    acc[0, 0] = 0.0
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            c = ((a[i - 1] - b[j - 1]) ** 2).sum()
            acc[i, j] = c + min(acc[i - 1, j], acc[i, j - 1], acc[i - 1, j - 1])
    return float(acc[n, m])


def _synthetic_embeddings(n_ep: int = 5, T: int = 12, seed: int = 0) -> Embeddings:
    rng = np.random.default_rng(seed)
    n = n_ep * T
    chunks = rng.normal(size=(n, 6, 3)).astype(np.float32)
    # embeddings that partly see the chunks, so the two neighbour lists overlap but not fully
    vec = np.concatenate([chunks.reshape(n, -1), rng.normal(scale=2.0, size=(n, 8))], 1).astype(np.float32)
    ep = np.repeat(np.arange(n_ep), T)
    t = np.tile(np.arange(T), n_ep)
    return Embeddings(vectors=vec, episode=ep, time=t, progress=(t / (T - 1)).astype(np.float32),
                      task=np.full(n, "push"), camera_setup=np.full(n, "fixed"), chunks=chunks,
                      chunk_mask=np.ones((n, 6), bool), dataset="", camera="scene", chunk_kind="raw",
                      image_size=32, model_id="x")  # fmt: skip


@pytest.mark.parametrize("exclude_same_episode", [False, True])
def test_neighbour_overlap_matches_numpy(exclude_same_episode):
    emb = _synthetic_embeddings()
    queries = np.array([0, 7, 25, 59])
    k = 5
    res = compare_neighbours(emb, queries, k, exclude_same_episode=exclude_same_episode)
    v = emb.vectors / np.linalg.norm(emb.vectors, axis=1, keepdims=True)
    overlaps = []
    for r, q in enumerate(queries):
        allowed = np.ones(len(emb), bool)
        allowed[q] = False
        if exclude_same_episode:
            allowed &= emb.episode != emb.episode[q]
        cand = np.flatnonzero(allowed)
        sims = v[cand] @ v[q]
        e_ref = cand[np.argsort(-sims, kind="stable")[:k]]
        d = np.array([_dtw_np(emb.chunks[q], emb.chunks[j]) for j in cand])
        d_ref = cand[np.argsort(d, kind="stable")[:k]]
        np.testing.assert_array_equal(res.embedding_indices[r], e_ref)
        np.testing.assert_array_equal(res.dtw_indices[r], d_ref)
        np.testing.assert_allclose(res.dtw_distances[r], np.sort(d)[:k], rtol=1e-6)
        np.testing.assert_allclose(res.embedding_dtw[r], [_dtw_np(emb.chunks[q], emb.chunks[j]) for j in e_ref], rtol=1e-6)
        overlaps.append(len(set(e_ref) & set(d_ref)) / k)
    np.testing.assert_allclose(res.overlap.per_query, overlaps)
    assert res.overlap.mean == pytest.approx(np.mean(overlaps))
    assert 0 < res.overlap.mean < 1
    assert res.relative_dtw.ratio < 1  # the embedding sees the chunks: neighbours beat random pairs
    np.testing.assert_array_equal(res.query_refs[:, 0], emb.episode[queries])
    np.testing.assert_array_equal(res.embedding_refs[..., 1], emb.time[res.embedding_indices])
    if exclude_same_episode:
        assert (res.embedding_refs[..., 0] != res.query_refs[:, None, 0]).all()
    with pytest.raises(ValueError):
        compare_neighbours(emb, [len(emb)], 3)
    with pytest.raises(ValueError):
        compare_neighbours(emb, [0], 0)


# ----------------------------------------------------------------------------------------------
# saliency: maps, native maps, overlays, mass in mask
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", SALIENCY_METHODS)
def test_attribution_shapes_and_ranges(tiny_caip, name):
    method, ds = tiny_caip
    b = collate([ds[i] for i in (0, 5, 17)])
    target = action_target(method, b["chunk"], b["mask"])
    f = EmbeddingSimilarity(method, target, b["text"])
    with torch.no_grad():
        sim = f(b["image"].float() / 255)
    assert sim.shape == (3,) and (sim.abs() <= 1 + 1e-5).all()
    maps = attribute(f, b["image"], name, n_steps=8, window=8)
    assert maps.shape == (3, 32, 32) and maps.dtype == np.float32
    assert np.isfinite(maps).all() and (maps >= 0).all() and maps.max() > 0
    # each image's map depends on that image's target: another target gives another map
    other = attribute(EmbeddingSimilarity(method, target.roll(1, 0), b["text"]), b["image"], name, n_steps=8, window=8)
    assert not np.allclose(other, maps)


def test_text_pooling_map_follows_caip_a1():
    # B=1, H=2 heads, L=3 tokens (<cls>, one word, padding), N=4 patches
    a = torch.zeros(1, 2, 3, 4)
    a[0, 0, 0] = torch.tensor([0.0, 0.0, 0.0, 1.0])  # <cls>: must be ignored
    a[0, 0, 1] = torch.tensor([0.1, 0.2, 0.1, 0.0])  # word, head 0: max 0.2
    a[0, 1, 1] = torch.tensor([0.4, 0.0, 0.0, 0.0])  # word, head 1: max 0.4
    a[0, :, 2] = torch.tensor([0.0, 0.0, 5.0, 0.0])  # padding: must be ignored
    m = torch.tensor([[True, True, False]])
    got = text_pooling_map(a, m)
    np.testing.assert_allclose(got, [[1.0, 1.0, 0.5, 0.0]])  # per-head / max, then max over heads
    np.testing.assert_allclose(text_pooling_map(a, m, special_first=False), [[1.0, 1.0, 0.5, 1.0]])


def test_map_probe_and_pca_maps():
    a = torch.tensor([[[0.0, 1.0, 3.0], [2.0, 2.0, 4.0]]])  # (1, 2 heads, 3 patches)
    np.testing.assert_allclose(map_probe_map(a), [[0.0, 1 / 6, 1.0]], rtol=1e-6)  # per-head min-max, mean
    rng = np.random.default_rng(0)
    tokens = rng.normal(scale=0.1, size=(2, 16, 8)).astype(np.float32)
    tokens[:, [5, 6, 9, 10]] += 3.0  # a bright 2x2 "object" in the middle
    pca = pca_rgb_map(tokens, (4, 4))
    assert pca.rgb.shape == (2, 4, 4, 3) and pca.mask.shape == (2, 4, 4)
    assert (pca.rgb >= 0).all() and (pca.rgb <= 1).all() and (pca.mask >= 0).all() and (pca.mask <= 1).all()
    inside = pca.mask[:, 1:3, 1:3].mean()
    outside = (pca.mask.sum() - pca.mask[:, 1:3, 1:3].sum()) / (2 * 12)
    assert inside > 0.9 and outside < 0.2  # the first component is the foreground
    img = rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)
    ov = overlay_rgb(img, pca, 1)
    assert ov.shape == (32, 32, 3) and ov.dtype == np.uint8


def test_native_maps_of_methods(tiny_caip):
    method, ds = tiny_caip
    b = collate([ds[i] for i in (0, 9)])
    maps = native_maps(method, b["image"], b["text"])
    assert set(maps) == {"text_pooling", "pca"}
    tp = maps["text_pooling"]
    assert tp.shape == (2, 4, 4) and tp.min() >= 0 and np.isclose(tp.max(), 1.0)
    np.testing.assert_allclose(caip_pooling_maps(method, b["image"], b["text"]), tp, atol=1e-6)
    clamp_ds = FrameChunkDataset([make_robot_episode(i, T=8, size=32) for i in range(2)], camera="scene", horizon=4, history=2)
    torch.manual_seed(0)
    clamp = build_method("clamp", "smoke", clamp_ds.meta()).eval()
    cm = native_maps(clamp, collate([clamp_ds[0]])["image"])
    assert set(cm) == {"map_probe", "pca"} and cm["map_probe"].min() >= 0 and cm["map_probe"].max() <= 1


def test_clip_gamma_and_overlay():
    s = np.arange(100, dtype=np.float64).reshape(10, 10)
    c = clip_and_gamma(s)
    assert c.min() == 0 and c.max() == 1
    assert (c[s <= np.percentile(s, 50)] == 0).all()  # everything below the median is cleared
    mid = (np.percentile(s, 50) + np.percentile(s, 98)) / 2
    assert c.flat[np.argmin(np.abs(s - mid))] == pytest.approx(0.5**1.6, abs=0.03)
    img = np.full((20, 20, 3), 100, np.uint8)
    ov = overlay_map(img, s)
    assert ov.shape == (20, 20, 3) and ov.dtype == np.uint8
    assert ov[0, 0].sum() < ov[-1, -1].sum()  # high saliency is drawn bright (inferno)
    np.testing.assert_array_equal(overlay_map(img, s, alpha=0.0), img)
    with pytest.raises(ValueError):
        overlay_map(img[..., 0], s)


def test_saliency_mass_in_mask():
    mask = np.zeros((8, 8), bool)
    mask[:2] = True  # a quarter of the image
    assert saliency_mass_in_mask(np.ones((8, 8)), mask) == pytest.approx(0.25)
    inside = np.zeros((8, 8))
    inside[0, 3] = 2.0
    assert saliency_mass_in_mask(inside, mask) == 1.0
    assert saliency_mass_in_mask(np.ones((2, 4, 4)), np.stack([mask, ~mask])) == pytest.approx([0.25, 0.75])
    assert np.isnan(saliency_mass_in_mask(np.zeros((8, 8)), mask))
    with pytest.raises(ValueError):
        saliency_mass_in_mask(-np.ones((8, 8)), mask)


def test_spearman_and_randomisation_mechanics(tiny_caip):
    method, ds = tiny_caip
    assert spearman_per_image(np.arange(8.0).reshape(2, 4), np.arange(8.0).reshape(2, 4) ** 2).tolist() == [1.0, 1.0]
    rnd = randomize_weights(method, seed=0)
    before = {k: v.clone() for k, v in method.state_dict().items()}
    assert any(not torch.equal(before[k], v) for k, v in rnd.state_dict().items())
    assert all(torch.equal(before[k], v) for k, v in method.state_dict().items())  # the original is untouched
    part = randomize_weights(method, seed=0, modules=["towers.pool.out_proj"])
    changed = {k for k, v in part.state_dict().items() if not torch.equal(before[k], v)}
    assert changed == {"towers.pool.out_proj.weight", "towers.pool.out_proj.bias"}
    b = collate([ds[i] for i in (0, 9)])
    # a map that ignores the weights passes through randomisation unchanged: correlation 1
    edges = np.abs(np.diff(b["image"].float().mean(1).numpy(), axis=-1))
    same = randomisation_check(method, lambda m: edges, name="edges", steps=2)
    assert same.mean == pytest.approx(1.0) and len(same.steps) == 2
    indep = randomisation_check(method, lambda m: caip_pooling_maps(m, b["image"], b["text"]), mode="independent", steps=2)
    assert len(indep.steps) == 3 and indep.steps[-1][0] == "all"


# ----------------------------------------------------------------------------------------------
# a trained model: randomisation check and saliency mass on the gripper and object
# ----------------------------------------------------------------------------------------------


def _texture(rng: np.random.Generator, size: int) -> np.ndarray:
    low = rng.uniform(60, 200, size=(4, 4, 3))
    pos = np.linspace(0, 3, size)
    i0 = np.floor(pos).astype(int).clip(0, 2)
    f = pos - i0
    rows = low[i0] * (1 - f)[:, None, None] + low[i0 + 1] * f[:, None, None]
    tex = rows[:, i0] * (1 - f)[None, :, None] + rows[:, i0 + 1] * f[None, :, None]
    return tex + rng.normal(scale=12, size=(size, size, 3))


def make_toy_manipulation_episode(index: int, *, T: int = 30, size: int = 64, seed: int = 0):
    """A rendered toy pick-and-place with the simulator's segmentation labels (0 rest, 1 gripper,
    2 object): an orange gripper square moves to a blue puck, then carries it to a goal, over a
    smooth random texture with three checkered distractors that move on their own. The actions
    (dx, dy, holding) depend only on the gripper and the puck, so a representation trained on
    them should look there — and a randomly initialised one has no reason to."""
    from workbench.types import CameraStream, Episode

    rng = np.random.default_rng(seed * 1000 + index)
    bg = _texture(rng, size)
    g, o, goal = rng.uniform(8, size - 8, 2), rng.uniform(10, size - 10, 2), rng.uniform(10, size - 10, 2)
    d_pos, d_vel, d_col = rng.uniform(6, size - 6, (3, 2)), rng.normal(scale=2.0, size=(3, 2)), rng.uniform(0, 255, (3, 3))
    yy, xx = np.mgrid[0:size, 0:size]
    rgb = np.zeros((T, size, size, 3), np.uint8)
    seg = np.zeros((T, size, size), np.uint8)
    acts = np.zeros((T, 3), np.float32)
    held = False
    for t in range(T):
        img = bg.copy()
        lab = np.zeros((size, size), np.uint8)
        for k in range(3):
            d_pos[k] = (d_pos[k] + d_vel[k]) % size
            img[(np.abs(yy - d_pos[k][1]) < 4) & (np.abs(xx - d_pos[k][0]) < 4) & ((yy + xx) % 2 == 0)] = d_col[k]
        delta = (goal if held else o) - g
        dist = np.linalg.norm(delta)
        step = delta / max(dist, 1e-9) * min(2.5, dist)
        held = held or dist < 2.0
        acts[t] = [step[0] / 2.5, step[1] / 2.5, float(held)]
        puck = (yy - o[1]) ** 2 + (xx - o[0]) ** 2 < 25
        img[puck], lab[puck] = [40, 90, 230], 2
        grip = (np.abs(yy - g[1]) < 4) & (np.abs(xx - g[0]) < 4)
        img[grip], lab[grip] = [240, 120, 20], 1
        rgb[t], seg[t] = np.clip(img, 0, 255).astype(np.uint8), lab
        g = g + step
        if held:
            o = g.copy()
    cam = CameraStream(name="scene", rgb=rgb, segmentation=seg, setup="fixed", segmentation_labels=("rest", "gripper", "object"))
    return Episode(index=index, actions=acts, fps=10.0, cameras={"scene": cam}, instruction="pick the blue puck",
                   task="pick", camera_setup="fixed", success=True, source="toy")  # fmt: skip


def _metaworld_dataset(tmp: Path) -> Path:
    sample = REPO / "data_samples" / "metaworld"
    if (sample / "meta").exists():
        return sample
    try:
        from workbench.data.generate import generate_metaworld_episodes
    except ImportError as e:
        pytest.fail(f"the saliency-vs-segmentation test needs data_samples/metaworld (run `make samples`) or "
                    f"workbench.data.generate.generate_metaworld_episodes to render a tiny one; neither is available ({e})")
    eps = generate_metaworld_episodes(("reach", "push"), 4, seed=0, image_size=64, progress=False, max_steps=40)
    return write_lerobot(eps, tmp / "metaworld")


_MAPS = ("saliency", "integrated_gradients", "occlusion")


@pytest.fixture(scope="module", params=["toy", "metaworld"])
def trained_class(request, tmp_path_factory):
    """CLASS (smoke network) trained 300 steps on the source; the held-out frames, their
    gripper+object masks, and a function computing each saliency map for any model."""
    from workbench.data import load_dataset
    from workbench.train import create_run, make_config
    from workbench.train.loop import train
    from workbench.train.run import load_run

    tmp = tmp_path_factory.mktemp(f"trained-{request.param}")
    if request.param == "toy":
        path = write_lerobot([make_toy_manipulation_episode(i) for i in range(16)], tmp / "toy")
        kind = "raw"
    else:
        path = _metaworld_dataset(tmp)
        kind = "ee"
    cfg = make_config("class", "smoke", [f"data.path={path}", f"data.chunk_kind={kind}", "data.horizon=8", "data.camera=scene",
                                         "data.stride=1", "steps=300", "batch_size=32", "ckpt_every=1000", "optim.lr=0.001"])  # fmt: skip
    rd = create_run(cfg, tmp / "run")
    train(rd.path)
    run = load_run(rd.path)
    ds = load_dataset(path)
    # every 4th frame is the prototype corpus (and the held-out queries come from it); embeddings
    # are cached by weight hash, so each model of the randomisation cascade is encoded once
    cache = tmp / "embeddings"
    every = compute_embeddings(run, path, stride=4, cache_dir=cache)
    val = np.flatnonzero(np.isin(every.episode, run.split["val"]))
    rows = val[np.linspace(0, len(val) - 1, 12).round().astype(int)]
    images = torch.from_numpy(np.stack([ds.episode(e).cameras["scene"].rgb[t] for e, t in every.frame_refs(rows)]))
    images = torch.nn.functional.interpolate(images.permute(0, 3, 1, 2).float(), size=every.image_size, mode="bilinear")
    images = images.round().clamp(0, 255).to(torch.uint8)  # (B, 3, S, S) as the loader makes them
    seg = np.stack([np.asarray(ds.episode(e).cameras["scene"].segmentation[t]) for e, t in every.frame_refs(rows)])
    seg = torch.nn.functional.interpolate(torch.from_numpy(seg)[:, None].float(), size=every.image_size, mode="nearest")
    masks = seg[:, 0].numpy() > 0  # gripper or object

    def maps(model, name: str) -> np.ndarray:
        # the whole explanation pipeline follows the model: its embeddings give the targets
        emb = compute_embeddings(model, path, camera="scene", chunk_kind=kind, horizon=8, stride=4, cache_dir=cache)
        target = dtw_prototype_target(emb.vectors, emb.chunks, rows, k=8, episode=emb.episode)
        return attribute(EmbeddingSimilarity(model, target), images, name, n_steps=16, window=8)

    return run.method, maps, masks, request.param


@pytest.mark.slow
def test_randomisation_check_tells_trained_from_random(trained_class):
    method, maps, _, source = trained_class
    for name in _MAPS:
        check = randomisation_check(method, lambda m: maps(m, name), name=name, steps=2)
        print(f"[{source}] {name}: Spearman trained vs randomised {check.mean:.3f}; cascade {check.steps}")
        assert check.spearman.shape == (12,)
        # Integrated gradients integrate along the path from a black image, so their maps carry the
        # input's own edges whatever the weights (Adebayo et al. 2018 found the input-weighted
        # methods the most correlated after randomisation). Measured over training seeds 0–4 (CPU):
        # IG toy 0.34 0.29 0.30 0.36 0.24, metaworld 0.67 0.59 0.53 0.56 0.64; plain gradients toy
        # 0.40 0.36 0.31 0.46 0.33, metaworld 0.37 0.37 0.30 0.39 0.30; occlusion −0.01 to 0.09.
        # The bounds sit 0.13+ above the worst seed (3+ standard deviations).
        bound = 0.8 if name == "integrated_gradients" else 0.6
        assert check.mean < bound, f"{name} maps barely change when the weights are randomised ({check.mean:.2f})"


class _ColourDetector(torch.nn.Module):
    """An encoder whose answer is known: a 1×1 convolution that responds to the toy's orange
    gripper (R − B) and blue puck (B − R) above a threshold (ReLU), and pooling against fixed positional
    features, so the embedding says where the gripper and the puck are and nothing else. Every
    explanation of it should put its mass on those two objects; the same network with its
    weights re-initialised has no reason to."""

    def __init__(self) -> None:
        super().__init__()
        self.detect = torch.nn.Conv2d(3, 2, 1)
        with torch.no_grad():
            self.detect.weight.copy_(torch.tensor([[1.0, 0.0, -1.0], [-1.0, 0.0, 1.0]])[:, :, None, None] * 40.0)
            self.detect.bias.fill_(-0.62 * 40.0)  # a colour difference above 0.62 (158/255) fires
        g = torch.Generator().manual_seed(0)
        self.register_buffer("where", torch.randn(16, 2, 64, 64, generator=g))

    def encode_images(self, images: torch.Tensor, text=None) -> torch.Tensor:
        x = images.float() / 255.0 if images.dtype == torch.uint8 else images
        fired = torch.relu(self.detect(x))  # (B, 2, S, S): zero, and zero gradient, off the two objects
        return torch.einsum("bcij,kcij->bk", fired, self.where[:, :, : x.shape[-2], : x.shape[-1]])  # (B, 16)


def test_saliency_mass_on_a_model_that_looks_only_at_gripper_and_object():
    """The mass-in-mask measure on a construction where the answer is known (issue 13: the claim
    that a 300-step CLASS puts more mass there than a random network did not hold across seeds.
    Measured trained/random mass over seeds 0–4, CPU: toy saliency 1.18 1.21 1.33 1.03 1.34, IG
    1.23 1.06 1.32 1.30 1.21, occlusion 2.65 2.70 2.19 1.10 0.95; metaworld sample saliency
    1.04 0.75 0.85 1.03 1.08, IG 1.27 0.95 0.97 1.21 1.27, occlusion 2.60 1.28 1.53 1.83 1.05.)"""
    eps = [make_toy_manipulation_episode(i, size=64) for i in range(4)]
    frames = [(e, t) for e in eps for t in (3, 15, 27)]
    images = torch.from_numpy(np.stack([e.cameras["scene"].rgb[t] for e, t in frames])).permute(0, 3, 1, 2).contiguous()
    masks = np.stack([np.asarray(e.cameras["scene"].segmentation[t]) > 0 for e, t in frames])
    model = _ColourDetector().eval()
    with torch.no_grad():
        targets = model.encode_images(images.roll(1, dims=0))  # another frame's embedding as each target
    random_model = randomize_weights(model, seed=0)
    area = masks.mean()
    for name in _MAPS:
        known = np.nanmean(saliency_mass_in_mask(attribute(EmbeddingSimilarity(model, targets), images, name, n_steps=16, window=8), masks))
        rnd = np.nanmean(saliency_mass_in_mask(attribute(EmbeddingSimilarity(random_model, targets), images, name, n_steps=16, window=8), masks))
        print(f"{name}: mass on gripper+object {known:.3f}, re-initialised {rnd:.3f}, mask area {area:.3f}")
        # gradients are exactly zero off the objects (measured 0.999, 1.000); occlusion's 8-px window
        # smears each object's evidence over its border (measured 0.41, 16 × the mask's area)
        bar = 0.9 if name != "occlusion" else 8 * area
        assert known > bar, f"{name}: only {known:.2f} of the mass is on the gripper and the object"
        assert rnd < 0.5 * known, f"{name}: a re-initialised detector puts {rnd:.2f} there too (vs {known:.2f})"


def test_viewpoint_span_on_a_known_construction():
    """Two episodes seen from a fixed camera along +x, two from a camera turned 90° (along +y)."""
    from workbench.analysis.neighbours import viewpoint_span

    episode = np.repeat([0, 1, 2, 3], 3)
    setup = np.repeat(["fixed", "fixed", "random", "random"], 3)
    view = np.repeat([[1.0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 1, 0]], 3, axis=0)
    queries = np.array([0, 6])
    same_view = np.array([[1, 3, 4], [7, 9, 10]])  # own episode + the other episode of the same setup
    across = np.array([[6, 9, 3], [0, 1, 9]])
    a = viewpoint_span(same_view, queries, setup, episode, view)
    b = viewpoint_span(across, queries, setup, episode, view)
    np.testing.assert_allclose(a.other_setup, [0, 0])
    np.testing.assert_allclose(a.other_episode, [2 / 3, 2 / 3])
    np.testing.assert_allclose(a.view_angle_deg, [0, 0])
    np.testing.assert_allclose(b.other_setup, [2 / 3, 2 / 3])
    np.testing.assert_allclose(b.view_angle_deg, [60, 60])
    s = b.summary()
    assert s["other_setup"].estimate == pytest.approx(2 / 3) and s["view_angle_deg"].low <= 60 <= s["view_angle_deg"].high


def test_camera_view_directions_read_the_extrinsics():
    from pathlib import Path

    from workbench.analysis.neighbours import camera_view_directions
    from workbench.data import load_dataset

    ds = load_dataset(Path(__file__).parents[1] / "data_samples" / "metaworld")
    ep = ds[0]
    cam = next(iter(ep.cameras))
    d = camera_view_directions(ds, [ep.index, ep.index], [0, len(ep) - 1], cam)
    z = ep.cameras[cam].extrinsics[[0, len(ep) - 1], :3, 2]
    np.testing.assert_allclose(d, z / np.linalg.norm(z, axis=1, keepdims=True))
    with pytest.raises(ValueError, match="no extrinsics|camera"):
        camera_view_directions(ds, [ep.index], [0], "no-such-camera")
