"""Cayley-STRING's defining properties (CLAMP App. A Eq. 7–12) and the multi-view ViT that uses it."""

from __future__ import annotations

import pytest
import torch

from workbench.models.multiview import MultiViewViT, MultiViewViTConfig, patch_positions
from workbench.models.string import CayleySTRING, cayley


def _string(d: int = 16) -> CayleySTRING:
    torch.manual_seed(0)
    s = CayleySTRING(d, seed=0, init_scale=0.3)
    return s.double()


def test_cayley_is_orthogonal_and_not_trivial():
    s = _string()
    P = s.orthogonal()
    torch.testing.assert_close(P.T @ P, torch.eye(16, dtype=P.dtype), atol=1e-12, rtol=0)
    assert (P - torch.eye(16, dtype=P.dtype)).abs().max() > 0.1  # the test below is not plain RoPE
    assert torch.allclose(cayley(torch.zeros(4, 4)), torch.eye(4))


def test_logits_depend_only_on_relative_positions():
    s = _string()
    g = torch.Generator().manual_seed(1)
    q, k = torch.randn(2, 7, 16, generator=g, dtype=torch.float64), torch.randn(2, 9, 16, generator=g, dtype=torch.float64)
    rq, rk = torch.rand(2, 7, 3, generator=g, dtype=torch.float64), torch.rand(2, 9, 3, generator=g, dtype=torch.float64)
    logits = s(q, rq) @ s(k, rk).transpose(-1, -2)  # (2, 7, 9)
    shift = torch.tensor([0.37, -1.2, 2.5], dtype=torch.float64)
    shifted = s(q, rq + shift) @ s(k, rk + shift).transpose(-1, -2)
    torch.testing.assert_close(shifted, logits, atol=1e-10, rtol=0)
    # …while moving only the keys does change them: the test can fail
    moved = s(q, rq) @ s(k, rk + shift).transpose(-1, -2)
    assert (moved - logits).abs().max() > 1e-2
    # Eq. 10: the logit is (Pᵀq)ᵀ RoPE(r_j − r_i) (Pᵀk); with q at the origin it is q·STRING(k, r_j − r_i)
    i, j = 2, 4
    direct = s(q[0, i : i + 1], torch.zeros(1, 3, dtype=torch.float64)) @ s(k[0, j : j + 1], (rk[0, j] - rq[0, i])[None]).T
    torch.testing.assert_close(direct[0, 0], logits[0, i, j], atol=1e-10, rtol=0)


def test_norm_preserving_and_identity_at_origin():
    s = _string()
    x = torch.randn(3, 5, 16, dtype=torch.float64)
    r = torch.randn(3, 5, 3, dtype=torch.float64)
    torch.testing.assert_close(s(x, r).norm(dim=-1), x.norm(dim=-1), atol=1e-12, rtol=0)
    torch.testing.assert_close(s(x, torch.zeros_like(r)), x, atol=1e-12, rtol=0)
    assert (s(x, r) - x).abs().max() > 1e-2
    with pytest.raises(ValueError, match="even"):
        CayleySTRING(7)
    with pytest.raises(ValueError, match="r must be"):
        s(x, r[..., :2])


def test_string_gradients_reach_both_parameters():
    s = CayleySTRING(8, seed=0)
    x, r = torch.randn(4, 8), torch.randn(4, 3)
    (s(x, r) @ s(x, r * 0.5).T).sum().backward()
    assert s.skew.grad.abs().sum() > 0 and s.frequencies.grad.abs().sum() > 0


def test_patch_positions_are_the_mean_of_valid_points():
    img = torch.zeros(1, 4, 4, 8)
    img[0, 0, :2, :2] = 1.0  # patch (0, 0): depth on all 4 pixels
    img[0, 1:, :2, :2] = torch.tensor([1.0, 2.0, 3.0])[:, None, None]
    img[0, 0, 0, 2] = 0.5  # patch (0, 1): one valid pixel, one invalid pixel holding junk XYZ
    img[0, 1:, 0, 2] = torch.tensor([-1.0, 0.0, 4.0])
    img[0, 1:, 1, 3] = 9.0  # invalid (D = 0): ignored
    pos = patch_positions(img, 2)  # (1, 2*4, 3)
    torch.testing.assert_close(pos[0, 0], torch.tensor([1.0, 2.0, 3.0]))
    torch.testing.assert_close(pos[0, 1], torch.tensor([-1.0, 0.0, 4.0]))
    assert pos[0, 2:].abs().max() == 0


def _views(b: int = 2, s: int = 16, v: int = 3) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    img = torch.rand(b, 4, s, v * s, generator=g) + 0.1
    img[:, :, :4] = 0  # an empty band
    return img


@pytest.mark.parametrize("positions", ["string", "learned"])
def test_multiview_vit_shapes_and_translation(positions):
    cfg = MultiViewViTConfig(view_size=16, num_views=3, patch_size=4, width=32, depth=2, heads=4, positions=positions)
    torch.manual_seed(0)
    vit = MultiViewViT(cfg).eval()
    x = _views()
    out = vit(x)
    assert out.tokens.shape == (2, 4 * 12, 32)
    with pytest.raises(ValueError, match="tiled"):
        vit(x[:, :, :, :32])
    if positions == "string":
        assert vit.pos is None and all(b.attn.string is not None for b in vit.blocks)
    else:
        assert vit.pos is not None and all(b.attn.string is None for b in vit.blocks)
    # the tokens see the XYZ channels: moving the whole scene changes them
    moved = x.clone()
    moved[:, 1:] += (x[:, :1] > 0) * 0.3
    assert (vit(moved).tokens - out.tokens).abs().max() > 1e-3
