from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from workbench.losses import (
    CAIP_INIT_TEMPERATURE,
    SigLIPLoss,
    TriModalSigLIPLoss,
    codebook_perplexity,
    codebook_usage,
    gather_features,
    info_nce,
    siglip_loss,
    soft_info_nce,
    straight_through,
    trimodal_siglip,
    vq_loss,
)


def _unit(b: int, c: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(b, c, generator=g, dtype=torch.float64), dim=-1)


def _naive_siglip(x, y, t, b):
    n = x.shape[0]
    total = 0.0
    for i in range(n):
        for j in range(n):
            logit = t * float(x[i] @ y[j]) + b
            label = 1.0 if i == j else -1.0
            total += math.log(1.0 / (1.0 + math.exp(-label * logit)))
    return -total / n


def _naive_info_nce(x, y, t):
    n = x.shape[0]

    def ce(a, c):
        tot = 0.0
        for i in range(n):
            logits = [t * float(a[i] @ c[j]) for j in range(n)]
            tot += -(logits[i] - math.log(sum(math.exp(v) for v in logits)))
        return tot / n

    return 0.5 * (ce(x, y) + ce(y, x))


def _naive_soft_info_nce(z, w, tau):
    n = z.shape[0]
    total, anchors = 0.0, 0
    for i in range(n):
        wsum = sum(float(w[i, j]) for j in range(n) if j != i)
        if wsum == 0:
            continue
        denom = sum(math.exp(float(z[i] @ z[k]) / tau) for k in range(n) if k != i)
        acc = 0.0
        for j in range(n):
            if j == i:
                continue
            p = math.exp(float(z[i] @ z[j]) / tau) / denom
            acc += float(w[i, j]) * math.log(p)
        total += -acc / wsum
        anchors += 1
    return total / anchors


def test_siglip_matches_naive_double_loop_and_has_finite_grads():
    x, y = _unit(5, 7, 0), _unit(5, 7, 1)
    x.requires_grad_(True)
    y.requires_grad_(True)
    loss = siglip_loss(x, y, 3.0, -1.5)
    assert loss.item() == pytest.approx(_naive_siglip(x.detach(), y.detach(), 3.0, -1.5), rel=1e-10)
    gx, gy = torch.autograd.grad(loss, (x, y))
    assert torch.isfinite(gx).all() and torch.isfinite(gy).all()
    assert gx.abs().sum() > 0


def test_siglip_gradcheck():
    x, y = _unit(3, 4, 2).requires_grad_(True), _unit(3, 4, 3).requires_grad_(True)
    scale = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    bias = torch.tensor(-0.5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda *a: siglip_loss(*a), (x, y, scale, bias))


def test_siglip_module_init_clamp_and_param_grads():
    caip = SigLIPLoss.caip_init()
    assert caip.temperature.item() == pytest.approx(CAIP_INIT_TEMPERATURE, rel=1e-6)
    assert caip.bias.item() == -10.0
    clamp = SigLIPLoss.clamp_init()
    assert clamp.temperature.item() == pytest.approx(10.0, rel=1e-6)
    with torch.no_grad():
        caip.log_temperature.fill_(math.log(500.0))
    assert caip.temperature.item() == pytest.approx(100.0, rel=1e-6)
    x, y = _unit(4, 6, 4).float(), _unit(4, 6, 5).float()
    loss = clamp(x, y)
    expected = siglip_loss(x, y, 10.0, -10.0)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    loss.backward()
    assert clamp.log_temperature.grad is not None and clamp.bias.grad is not None
    assert clamp.bias.grad.abs() > 0
    with pytest.raises(ValueError, match="init_temperature"):
        SigLIPLoss(init_temperature=0.0)


def test_info_nce_matches_naive_and_grads():
    x, y = _unit(6, 5, 6).requires_grad_(True), _unit(6, 5, 7).requires_grad_(True)
    loss = info_nce(x, y, 4.0)
    assert loss.item() == pytest.approx(_naive_info_nce(x.detach(), y.detach(), 4.0), rel=1e-10)
    gx, gy = torch.autograd.grad(loss, (x, y))
    assert torch.isfinite(gx).all() and torch.isfinite(gy).all()


def test_soft_info_nce_matches_naive_and_kl_identity():
    z = _unit(6, 4, 8).requires_grad_(True)
    g = torch.Generator().manual_seed(9)
    w = torch.rand(6, 6, generator=g, dtype=torch.float64)
    w[w < 0.4] = 0.0
    w[3] = 0.0  # an anchor without positives is left out of the mean
    w[3, 3] = 0.7  # diagonal weights are ignored
    tau = 0.3
    loss = soft_info_nce(z, w, tau)
    assert loss.item() == pytest.approx(_naive_soft_info_nce(z.detach(), w, tau), rel=1e-10)
    (gz,) = torch.autograd.grad(loss, (z,))
    assert torch.isfinite(gz).all() and gz.abs().sum() > 0

    # CLASS App. A: per anchor, l_i = KL(Q || P) + H(Q), Q = w_i / sum w_i, P = p_i. (over j != i)
    per = soft_info_nce(z.detach(), w, tau, reduction="none")
    zd = z.detach()
    for i in range(6):
        others = [j for j in range(6) if j != i]
        wi = torch.tensor([float(w[i, j]) for j in others], dtype=torch.float64)
        if wi.sum() == 0:
            assert per[i].item() == 0.0
            continue
        q = wi / wi.sum()
        s = torch.tensor([float(zd[i] @ zd[j]) / tau for j in others], dtype=torch.float64)
        p = torch.softmax(s, dim=0)
        nz = q > 0
        kl = float((q[nz] * (q[nz] / p[nz]).log()).sum())
        h = float(-(q[nz] * q[nz].log()).sum())
        assert per[i].item() == pytest.approx(kl + h, rel=1e-10)


def test_soft_info_nce_hard_variant_and_errors():
    z = _unit(5, 3, 10)
    w = torch.zeros(5, 5, dtype=torch.float64)
    w[0, 1], w[0, 2], w[1, 0], w[4, 2] = 0.2, 0.9, 0.5, 0.1
    hard = soft_info_nce(z, w, 0.5, hard=True)
    assert hard.item() == pytest.approx(_naive_soft_info_nce(z, (w > 0).double(), 0.5), rel=1e-10)
    assert hard.item() != pytest.approx(soft_info_nce(z, w, 0.5).item(), rel=1e-6)
    with pytest.raises(ValueError, match="tau"):
        soft_info_nce(z, w, 0.0)
    with pytest.raises(ValueError, match="weights"):
        soft_info_nce(z, w[:4], 0.5)
    with pytest.raises(ValueError, match="non-negative"):
        soft_info_nce(z, -w, 0.5)


def test_trimodal_is_mean_of_three_siglip_with_shared_scale():
    img, txt, act = _unit(4, 5, 11), _unit(4, 5, 12), _unit(4, 5, 13)
    got = trimodal_siglip(img, txt, act, 10.0, -10.0)
    want = (
        _naive_siglip(img, txt, 10.0, -10.0)
        + _naive_siglip(img, act, 10.0, -10.0)
        + _naive_siglip(txt, act, 10.0, -10.0)
    ) / 3
    assert got.item() == pytest.approx(want, rel=1e-10)
    module = TriModalSigLIPLoss()
    assert module.temperature.item() == pytest.approx(10.0, rel=1e-6)
    assert module(img.float(), txt.float(), act.float()).item() == pytest.approx(want, rel=1e-5)


def test_gather_is_identity_single_process_and_gather_flag_changes_nothing():
    x, y = _unit(4, 3, 14), _unit(4, 3, 15)
    assert gather_features(x) is x
    assert gather_features(x, with_grad=True) is x
    assert siglip_loss(x, y, 5.0, -2.0, gather=True).item() == siglip_loss(x, y, 5.0, -2.0).item()
    assert info_nce(x, y, 5.0, gather=True).item() == info_nce(x, y, 5.0).item()


def test_contrastive_losses_reject_bad_shapes():
    x = _unit(4, 3, 16)
    with pytest.raises(ValueError, match="same shape"):
        siglip_loss(x, x[:3], 1.0, 0.0)
    with pytest.raises(ValueError, match=r"\(B, C\)"):
        info_nce(x[0], x[0], 1.0)


def test_vq_loss_terms_and_straight_through():
    g = torch.Generator().manual_seed(17)
    z_e = torch.randn(3, 4, 5, generator=g, requires_grad=True)
    codes = torch.randn(3, 4, 5, generator=g, requires_grad=True)
    terms = vq_loss(z_e, codes, beta=0.25)
    diff2 = ((z_e - codes) ** 2).mean()
    assert terms.codebook.item() == pytest.approx(diff2.item(), rel=1e-6)
    assert terms.loss.item() == pytest.approx(1.25 * diff2.item(), rel=1e-6)
    # the codebook term moves only the codes, the commitment term only the encoder
    (g_e_cb,) = torch.autograd.grad(terms.codebook, (z_e,), allow_unused=True, retain_graph=True)
    assert g_e_cb is None
    (g_q_cm,) = torch.autograd.grad(terms.commitment, (codes,), allow_unused=True, retain_graph=True)
    assert g_q_cm is None
    # straight-through: forward value of z_q, gradient of the identity to z_e
    st = straight_through(z_e, codes)
    assert torch.allclose(st, codes.detach(), atol=1e-6)
    (g_e,) = torch.autograd.grad((st * 3.0).sum(), (z_e,))
    assert torch.allclose(g_e, torch.full_like(g_e, 3.0))
    with pytest.raises(ValueError, match="beta"):
        vq_loss(z_e, codes, beta=-1.0)


def test_codebook_perplexity_and_usage():
    uniform = torch.arange(8).repeat(3)
    assert codebook_perplexity(uniform, 8).item() == pytest.approx(8.0, rel=1e-5)
    assert codebook_usage(uniform, 16).item() == pytest.approx(0.5)
    collapsed = torch.zeros(10, dtype=torch.long)
    assert codebook_perplexity(collapsed, 8).item() == pytest.approx(1.0, rel=1e-5)
    two = torch.tensor([0, 0, 0, 1])
    h = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    assert codebook_perplexity(two, 4).item() == pytest.approx(math.exp(h), rel=1e-5)
    with pytest.raises(ValueError, match="codes must lie"):
        codebook_usage(torch.tensor([9]), 8)


def _distributed_worker(rank, world, init_file, x_all, y_all, results):
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        b = x_all.shape[0] // world
        shard = slice(rank * b, (rank + 1) * b)
        out = {}
        for name in ("siglip", "info_nce"):
            x = x_all[shard].clone().requires_grad_(True)
            y = y_all[shard].clone().requires_grad_(True)
            loss = (
                siglip_loss(x, y, 5.0, -2.0, gather=True)
                if name == "siglip"
                else info_nce(x, y, 5.0, gather=True)
            )
            loss.backward()
            out[name] = (loss.item(), x.grad.clone(), y.grad.clone())
        results[rank] = out
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_gather_with_two_gloo_processes_matches_full_batch(tmp_path):
    """Two ranks with gather=True: the mean of the rank losses is the full-batch loss, and each
    rank's shard gradient is world_size x the full-batch gradient (DDP's mean undoes it)."""
    import torch.multiprocessing as mp

    world = 2
    x_all, y_all = _unit(6, 4, 20), _unit(6, 4, 21)
    results = mp.Manager().dict()
    mp.spawn(_distributed_worker, args=(world, str(tmp_path / "rdzv"), x_all, y_all, results),
             nprocs=world)
    for name, fn in (("siglip", lambda a, c: siglip_loss(a, c, 5.0, -2.0)),
                     ("info_nce", lambda a, c: info_nce(a, c, 5.0))):
        x, y = x_all.clone().requires_grad_(True), y_all.clone().requires_grad_(True)
        full = fn(x, y)
        full.backward()
        mean_loss = sum(results[r][name][0] for r in range(world)) / world
        assert mean_loss == pytest.approx(full.item(), rel=1e-12)
        gx = torch.cat([results[r][name][1] for r in range(world)])
        gy = torch.cat([results[r][name][2] for r in range(world)])
        torch.testing.assert_close(gx / world, x.grad)
        torch.testing.assert_close(gy / world, y.grad)


def test_siglip_multi_positive_equals_siglip_on_the_diagonal_and_by_hand():
    from workbench.losses import siglip_loss, siglip_multi_positive_loss

    g = torch.Generator().manual_seed(0)
    x = torch.nn.functional.normalize(torch.randn(5, 8, generator=g), dim=1)
    y = torch.nn.functional.normalize(torch.randn(5, 8, generator=g), dim=1)
    eye = torch.eye(5, dtype=torch.bool)
    assert torch.allclose(siglip_multi_positive_loss(x, y, 10.0, -10.0, eye), siglip_loss(x, y, 10.0, -10.0), atol=1e-6)
    pos = eye.clone()
    pos[0, 1] = pos[1, 0] = True  # rows 0 and 1 share a caption
    logits = 10.0 * x @ y.T - 10.0
    want = 0.0
    for i in range(5):
        for j in range(5):
            sign = 1.0 if pos[i, j] else -1.0
            want += -math.log(1 / (1 + math.exp(-sign * float(logits[i, j]))))
    assert float(siglip_multi_positive_loss(x, y, 10.0, -10.0, pos)) == pytest.approx(want / 5, rel=1e-5)
