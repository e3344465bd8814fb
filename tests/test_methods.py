"""The four methods and the baselines: losses fall on learnable data, checkpoints round-trip,
CLASS's weights come from the DTW engine, and the rate–distortion numbers match Eq. 8 by hand.

The data is synthetic with structure to learn: each episode moves in its own direction, and its
frames' background colour encodes that direction while a bright bar's position encodes the
progress through the episode, so the image determines the chunk that follows it.
"""

from __future__ import annotations

import math

import numba
import numba.np.ufunc.parallel
import numpy as np
import pytest
import torch

# numba's default "omp" threading layer loads a second OpenMP runtime next to torch's; once a
# parallel DTW kernel has run, every later torch conv in the process is ~6x slower on 2 cores.
# The "workqueue" layer gives the same DTW numbers without it. Only possible before numba's first
# parallel launch, so this helps when this file runs first (the real fix belongs in CI's env).
if not numba.np.ufunc.parallel._is_initialized:
    numba.config.THREADING_LAYER = "workqueue"

from conftest import direction_frames as _frames
from conftest import learnable_robot_episodes, make_hand_episode
from workbench.data.normalize import compute_norm_stats
from workbench.data.training_samples import FrameChunkDataset, collate
from workbench.dtw import pairwise_dtw
from workbench.geometry import make_pose, quat_to_matrix
from workbench.methods import (
    CLASS,
    METHODS,
    ActVAEMethodConfig,
    CAIPConfig,
    CLAMPConfig,
    CLASSConfig,
    build_method,
    clamp_text_fn,
    load_method,
    make_clamp_text,
    rate_distortion,
    sweep_rate_distortion,
)
from workbench.methods.class_method import augment_images, l2_distance_matrix
from workbench.types import ArrayFrames

SIZE, HORIZON, STEPS, BATCH = 64, 8, 50, 16  # 64 px: ResNet-18 downsamples 32x


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny models: one intra-op thread is as fast


def learnable_hand_episodes(n: int = 6, T: int = 16) -> list:
    eps = []
    for i in range(n):
        theta = 2 * math.pi * i / n
        ep = make_hand_episode(i, T=T, size=SIZE)
        rot = quat_to_matrix(np.tile([0.0, 0.0, 0.0, 1.0], (42, 1)))  # (42, 3, 3)
        offsets = np.random.default_rng(0).normal(scale=0.05, size=(42, 3))
        v = 0.02 * np.array([math.cos(theta), math.sin(theta), 0.0])
        pos = offsets[None] + np.arange(T)[:, None, None] * v  # (T, 42, 3)
        ep.hand_keypoints = make_pose(np.broadcast_to(rot, (T, 42, 3, 3)), pos)
        ep.cameras["ego"].rgb = ArrayFrames(_frames(theta, T))
        eps.append(ep)
    return eps


def _dataset(kind: str = "ee", **kw) -> FrameChunkDataset:
    if kind == "hand":
        eps = learnable_hand_episodes()
        base = FrameChunkDataset(eps, camera="ego", chunk_kind="hand", horizon=HORIZON)
        return FrameChunkDataset(eps, camera="ego", chunk_kind="hand", horizon=HORIZON,
                                 norm_stats=compute_norm_stats(base.chunks.values, base.chunks.mask), **kw)
    eps = learnable_robot_episodes()
    base = FrameChunkDataset(eps, chunk_kind=kind, horizon=HORIZON)
    return FrameChunkDataset(eps, chunk_kind=kind, horizon=HORIZON,
                             norm_stats=compute_norm_stats(base.chunks.values, base.chunks.mask), **kw)


def _train(method, ds: FrameChunkDataset, steps: int = STEPS, lr: float = 2e-3, seed: int = 0) -> list[float]:
    torch.manual_seed(seed)
    order = torch.randint(0, len(ds), (steps, BATCH), generator=torch.Generator().manual_seed(seed))
    opt = torch.optim.AdamW([p for p in method.parameters() if p.requires_grad], lr=lr)
    method.train()
    losses = []
    for idx in order:
        out = method.training_step(collate([ds[int(i)] for i in idx]))
        opt.zero_grad(set_to_none=True)
        out["loss"].backward()
        opt.step()
        losses.append(float(out["loss"].detach()))
    return losses


def _falls(losses: list[float], factor: float = 0.9) -> None:
    first, last = np.mean(losses[:5]), np.mean(losses[-5:])
    assert np.isfinite(losses).all()
    assert last < factor * first, f"loss did not fall: first {first:.4f} last {last:.4f}"


# --------------------------------------------------------------------------------------------
# every trainable method learns


CASES = [
    ("caip", "ee", {}),
    ("caip", "hand", {}),
    ("caip", "relative", {}),
    ("class", "ee", {}),
    ("clamp", "raw", {"history": 4}),
    ("clap_actvae", "ee", {}),
    ("bc", "ee", {}),
    ("direct_regression", "raw", {}),
    ("siglip", "ee", {}),
    ("simclr", "ee", {}),
]


@pytest.mark.parametrize("name,kind,kw", CASES, ids=[f"{n}-{k}" for n, k, _ in CASES])
def test_loss_falls(name: str, kind: str, kw: dict) -> None:
    if name == "clamp":
        kw = dict(kw, text_fn=clamp_text_fn(CLAMPConfig.preset("smoke")))
    ds = _dataset(kind, **kw)
    torch.manual_seed(0)
    method = build_method(name, "smoke", ds.meta(), dataset=ds)
    n_params = sum(p.numel() for p in method.parameters())
    assert 10_000 < n_params < 1_000_000
    losses = _train(method, ds)
    _falls(losses)
    if name in ("caip", "clamp"):
        # SigLIP's bias alone can bring the loss down to B * H(1/B) (every logit equal, sigmoid
        # = 1/B); falling below it needs embeddings that actually pick out their own pair
        p = 1.0 / BATCH
        bias_only = -BATCH * (p * math.log(p) + (1 - p) * math.log(1 - p))
        assert np.mean(losses[-5:]) < 0.95 * bias_only


def test_direct_regression_from_patch_tokens_learns() -> None:
    """CAIP App. E (ii): a transformer decoder over the full patch sequence regresses the chunk."""
    from workbench.methods.baselines import DirectRegressionConfig
    from workbench.models.chunk_decoder import PatchChunkDecoder

    ds = _dataset("raw")
    torch.manual_seed(0)
    cfg = DirectRegressionConfig.preset("smoke", variant="patches", decoder_depth=1)
    method = build_method("direct_regression", cfg, ds.meta(), dataset=ds)
    assert isinstance(method.head, PatchChunkDecoder)
    batch = collate([ds[i] for i in range(4)])
    assert method.predict(batch["image"]).shape == (4, HORIZON, ds.meta().chunk_dim)
    z = method.encode_images(batch["image"])
    assert torch.allclose(z.norm(dim=1), torch.ones(4), atol=1e-5)
    _falls(_train(method, ds))
    with pytest.raises(ValueError, match="variant"):
        DirectRegressionConfig(variant="decoder")


def test_training_is_deterministic_on_cpu() -> None:
    ds = _dataset("ee")
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        m = build_method("bc", "smoke", ds.meta())
        runs.append(_train(m, ds, steps=3))
    assert runs[0] == runs[1]


def test_random_encoder_never_changes() -> None:
    ds = _dataset("ee")
    torch.manual_seed(0)
    m = build_method("random_encoder", "smoke", ds.meta())
    assert not m.trains and not any(p.requires_grad for p in m.parameters())
    before = {k: v.clone() for k, v in m.state_dict().items()}
    out = m.training_step(collate([ds[i] for i in range(4)]))
    assert float(out["loss"]) == 0.0 and not out["loss"].requires_grad
    assert all(torch.equal(before[k], v) for k, v in m.state_dict().items())
    z = m.encode_images(collate([ds[i] for i in range(4)])["image"])
    assert z.shape == (4, 32) and torch.allclose(z.norm(dim=1), torch.ones(4), atol=1e-5)


# --------------------------------------------------------------------------------------------
# checkpoints


#: methods built from their config and data alone (CLAP's VD-VAE, NTP and RF build on trained runs:
#: their checkpoints round-trip through run directories, tests/test_clap.py)
STANDALONE = sorted(n for n, (config_cls, method_cls) in METHODS.items() if not method_cls.dependencies(config_cls()))


@pytest.mark.parametrize("name", STANDALONE)
def test_save_load_identical(name: str, tmp_path) -> None:
    kw: dict = {"history": 4, "text_fn": clamp_text_fn(CLAMPConfig.preset("smoke"))} if name == "clamp" else {}
    ds = _dataset("ee", **kw)
    torch.manual_seed(1)
    m = build_method(name, "smoke", ds.meta(), dataset=ds)
    if m.trains:
        _train(m, ds, steps=2)  # move off the initialisation, incl. VQ usage buffers
    m.eval()
    path = m.save(tmp_path / f"{name}.safetensors")
    assert [p.name for p in tmp_path.iterdir()] == [f"{name}.safetensors"]  # no temp file left
    m2 = load_method(path)
    assert type(m2) is type(m) and m2.config == m.config and m2.meta == m.meta
    sd1, sd2 = m.state_dict(), m2.state_dict()
    assert sd1.keys() == sd2.keys() and all(torch.equal(sd1[k], sd2[k]) for k in sd1)
    batch = collate([ds[i] for i in range(5)])
    with torch.no_grad():
        assert torch.equal(m.encode_images(batch["image"], batch["text"]), m2.encode_images(batch["image"], batch["text"]))
        if m.trains and name != "class":  # CLASS's augmentation draws noise
            torch.manual_seed(3)
            a = m.training_step(batch)["loss"]
            torch.manual_seed(3)
            b = m2.training_step(batch)["loss"]
            assert torch.equal(a, b)


def test_load_rejects_other_files(tmp_path) -> None:
    bad = tmp_path / "x.safetensors"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="safetensors"):
        load_method(bad)


# --------------------------------------------------------------------------------------------
# configs


def test_presets_and_validation() -> None:
    for config_cls, _ in METHODS.values():
        assert config_cls.preset("smoke") != config_cls()
        with pytest.raises(ValueError, match="no preset"):
            config_cls.preset("nope")
        d = config_cls.preset("smoke").to_dict()
        assert config_cls.from_dict(d) == config_cls.preset("smoke")
    with pytest.raises(ValueError, match="tau"):
        CLASSConfig(tau=0.0)
    with pytest.raises(ValueError, match="quantile"):
        CLASSConfig(quantile=150.0)
    with pytest.raises(ValueError, match="pool_heads"):
        CAIPConfig(width=32, vision_heads=2, text_heads=2, pool_heads=3)
    with pytest.raises(ValueError, match="contrastive_weight"):
        ActVAEMethodConfig(contrastive_weight=-1.0)
    with pytest.raises(ValueError, match="unknown method"):
        build_method("nope", None, _dataset("ee").meta())


def test_caip_temperature_and_saliency() -> None:
    ds = _dataset("hand")
    torch.manual_seed(0)
    m = build_method("caip", "smoke", ds.meta())
    assert math.isclose(float(m.loss_fn.temperature.detach()), 1 / 0.07, rel_tol=1e-6)
    assert float(m.loss_fn.bias.detach()) == -10.0
    with torch.no_grad():
        m.loss_fn.log_temperature.fill_(10.0)
    assert math.isclose(float(m.loss_fn.temperature.detach()), 100.0, rel_tol=1e-5)  # clamped (App. C.3)
    batch = collate([ds[i] for i in range(3)])
    sal = m.attention_maps(batch["image"], batch["text"])
    assert sal.shape == (3, 8, 8) and torch.allclose(sal.sum((1, 2)), torch.ones(3), atol=1e-5)


# --------------------------------------------------------------------------------------------
# CLASS


def test_class_weights_come_from_dtw() -> None:
    ds = _dataset("ee")
    torch.manual_seed(0)
    m = build_method("class", CLASSConfig.preset("smoke", quantile=5.0), ds.meta(), dataset=ds)
    pos = m.positives
    assert pos is not None and pos.n_items == len(ds)
    # the threshold is the 5 % quantile of all pairwise DTW distances over the dataset's chunks
    D = pairwise_dtw(ds.chunks.values.astype(np.float64), cost="euclidean")
    iu = np.triu_indices(len(ds), 1)
    assert math.isclose(pos.threshold, float(np.quantile(D[iu], 0.05)), rel_tol=1e-9)
    # the closest pair gets a (large) weight, the farthest pair none
    Dm = D + np.diag(np.full(len(ds), np.inf))
    i, j = np.unravel_index(np.argmin(Dm), D.shape)
    far_i, far_j = np.unravel_index(np.argmax(D), D.shape)
    idx = torch.tensor([i, j, far_i, far_j])
    w = m.batch_weights(idx)  # (8, 8): two views
    assert w[0, 1] > 0.9 and w[1, 0] == w[0, 1]
    assert w[2, 3] == 0.0
    # the two views of an image are positives of weight self_weight; DTW weights across views
    assert torch.allclose(torch.diagonal(w[:4, 4:]), torch.ones(4))
    assert w[0, 5] == w[0, 1]
    # hard variant: the same pairs, weight 1 inside the loss
    hard = CLASS(CLASSConfig.preset("smoke", quantile=5.0, hard=True), ds.meta())
    hard.prepare(ds)
    assert np.array_equal(hard.positives.anchors, pos.anchors)


def test_class_l2_and_window_options() -> None:
    ds = _dataset("ee")
    m = build_method("class", CLASSConfig.preset("smoke", distance="l2"), ds.meta(), dataset=ds)
    flat = ds.chunks.values.reshape(len(ds), -1).astype(np.float64)
    a, b = int(m.positives.anchors[0]), int(m.positives.positives[0])
    assert math.isclose(m.positives.distances[0], float(np.linalg.norm(flat[a] - flat[b])), rel_tol=1e-9)
    assert np.allclose(l2_distance_matrix(ds.chunks.values[:3]), np.linalg.norm(flat[:3, None] - flat[None, :3], axis=-1))
    w0 = build_method("class", CLASSConfig.preset("smoke", dtw_window=0), ds.meta(), dataset=ds)
    # radius 0 = step-by-step Euclidean sums, never below the unconstrained DTW
    full = build_method("class", "smoke", ds.meta(), dataset=ds)
    assert w0.positives.threshold >= full.positives.threshold


def test_class_needs_prepare() -> None:
    ds = _dataset("ee")
    m = build_method("class", "smoke", ds.meta())
    with pytest.raises(RuntimeError, match="prepare"):
        m.training_step(collate([ds[i] for i in range(4)]))


def test_augmentation_shifts_and_noise() -> None:
    img = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).reshape(2, 3, 8, 8) / 400.0
    torch.manual_seed(0)
    out = augment_images(img, crop_pad=2, noise_std=0.0)
    assert out.shape == img.shape
    # every output is the input shifted by at most 2 pixels with edge replication
    padded = torch.nn.functional.pad(img, (2, 2, 2, 2), mode="replicate")
    for k in range(2):
        assert any(torch.equal(out[k], padded[k, :, dy : dy + 8, dx : dx + 8]) for dy in range(5) for dx in range(5))
    noisy = augment_images(img, crop_pad=0, noise_std=0.1)
    assert 0.05 < float((noisy - img).std()) < 0.15


# --------------------------------------------------------------------------------------------
# CLAMP


def test_clamp_text_from_episode_fields() -> None:
    ep = learnable_robot_episodes(1, T=20)[0]
    ep.state[5, 4:7] = [0.123, -0.456, 0.0]
    text = make_clamp_text(ep, 5)
    assert text == "push the puck to the goal. object at x 12 y neg46 z 0. progress 25"
    ep.state = None
    assert make_clamp_text(ep, 0) == "push the puck to the goal. progress 0"
    ds = _dataset("raw", history=3, text_fn=clamp_text_fn(CLAMPConfig.preset("smoke")))
    assert {"progress", "neg46"} & set(ds.meta().vocab) == {"progress"}
    with pytest.raises(ValueError, match="history"):
        build_method("clamp", "smoke", _dataset("raw").meta())


# --------------------------------------------------------------------------------------------
# CLAP Act-VAE: rate–distortion


def test_rate_distortion_by_hand() -> None:
    # MSE 0.01: sqrt = 0.1, R/sqrt = 20, PSNR = 20 log10 20 = 26.0206 dB;
    # rate = 16 * 8 / (16 * 10 * log2 20) = 128 / (160 * 4.3219281) = 0.1851026
    psnr, rate = rate_distortion(0.01, nq=16, k=256, na=16, da=10)
    assert math.isclose(psnr, 26.020599913, rel_tol=1e-9)
    assert math.isclose(rate, 0.18510257, rel_tol=1e-6)
    # R = 1, MSE = 1e-4: R/sqrt = 100 -> 40 dB; rate = 4 * 5 / (8 * 2 * log2 100) = 20 / 106.3017
    psnr, rate = rate_distortion(1e-4, nq=4, k=32, na=8, da=2, dynamic_range=1.0)
    assert math.isclose(psnr, 40.0, rel_tol=1e-12)
    assert math.isclose(rate, 20 / (16 * math.log2(100)), rel_tol=1e-12)
    assert rate_distortion(4.0, 1, 2, 1, 1)[1] == math.inf  # sqrt(MSE) = R: no precision gained
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="mse"):
            rate_distortion(bad, 1, 2, 1, 1)
    with pytest.raises(ValueError, match="codebook"):
        rate_distortion(0.1, 1, 1, 1, 1)


def test_sweep_rate_distortion() -> None:
    ds = _dataset("ee")
    cfg = ActVAEMethodConfig.preset("smoke")
    points = sweep_rate_distortion(ds._chunk_t.numpy(), [1, 4], [4], steps=40, mask=ds.chunks.mask, config=cfg)
    assert [(p.nq, p.k) for p in points] == [(1, 4), (4, 4)]
    for p in points:
        psnr, rate = rate_distortion(p.mse, p.nq, p.k, HORIZON, ds.chunk_dim)
        assert (p.psnr, p.rate) == (psnr, rate) and p.steps == 40 and 0 < p.usage <= 1
    # more latent capacity costs more rate (same K, longer latent sequence)
    assert points[1].rate > points[0].rate


def test_actvae_contrastive_variant_trains_the_image_tower() -> None:
    ds = _dataset("ee")
    for weight in (0.0, 1.0):
        torch.manual_seed(0)
        m = build_method("clap_actvae", ActVAEMethodConfig.preset("smoke", contrastive_weight=weight), ds.meta())
        before = m.vision_proj.weight.detach().clone()
        out = m.training_step(collate([ds[i] for i in range(8)]))
        out["loss"].backward()
        has_grad = m.vision_proj.weight.grad is not None and bool(m.vision_proj.weight.grad.abs().sum() > 0)
        assert has_grad == (weight > 0) and ("contrastive" in out) == (weight > 0)
        assert torch.equal(before, m.vision_proj.weight)


def test_class_dtw_horizon_compares_only_the_first_steps():
    """Fig. 4b varies the DTW horizon h: positives are computed from the first h steps alone."""
    from types import SimpleNamespace

    rng = np.random.default_rng(0)
    chunks = rng.normal(size=(40, 16, 3)).astype(np.float32)

    def positives(chunks, **change):
        return CLASS.compute_positives(SimpleNamespace(config=CLASSConfig.preset("smoke", **change)), chunks)

    short, first4, full = positives(chunks, dtw_horizon=4), positives(chunks[:, :4]), positives(chunks)
    np.testing.assert_array_equal(short.anchors, first4.anchors)
    np.testing.assert_array_equal(short.positives, first4.positives)
    np.testing.assert_allclose(short.weights, first4.weights)
    assert not (len(full.anchors) == len(short.anchors) and np.array_equal(full.positives, short.positives))
    with pytest.raises(ValueError, match="dtw_horizon"):
        CLASSConfig(dtw_horizon=0)
