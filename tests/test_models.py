from __future__ import annotations

import io
import json

import pytest
import torch

from workbench.data.training_samples import make_action_history
from workbench.models import (
    ActionEncoder,
    ActionEncoderConfig,
    ActVAE,
    ActVAEConfig,
    FlowMatchingHead,
    FlowMatchingHeadConfig,
    MAPHead,
    MAPHeadConfig,
    MLPChunkHead,
    MLPChunkHeadConfig,
    PoolKind,
    ResNetGNConfig,
    ResNetGNEncoder,
    TextConditionedPooling,
    TextEncoder,
    TextEncoderConfig,
    TextPoolingConfig,
    VectorQuantizer,
    ViTConfig,
    ViTEncoder,
    WordTokenizer,
    build_model,
    model_config_dict,
    sample_flow_time,
)

TINY_VIT = ViTConfig(image_size=32, patch_size=8, width=32, depth=2, heads=2)
TINY_RESNET = ResNetGNConfig(width_multiplier=0.125, num_keypoints=8, out_dim=16)
TINY_ACTION = ActionEncoderConfig(action_dim=5, horizon=8, width=32, depth=2, heads=4, out_dim=16)
TINY_VAE = ActVAEConfig(action_dim=3, horizon=8, width=32, encoder_depth=1, decoder_depth=1, heads=2,
                        num_registers=4, codebook_size=32, code_dim=8, dead_code_window=20)
INSTRUCTIONS = ["Pick up the red cup.", "Put the cup in the bowl!", "open the drawer", "close drawer"]


def _seeded(seed: int = 0) -> torch.Generator:
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


# -------------------------------------------------------------------------------- vision


def test_vit_shapes_uint8_matches_float_and_cls():
    _seeded()
    vit = ViTEncoder(TINY_VIT).eval()
    img = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)
    out = vit(img)
    assert out.tokens.shape == (2, 16, 32) and out.cls is None
    torch.testing.assert_close(out.tokens, vit(img.float() / 255.0).tokens)
    with_cls = ViTEncoder(ViTConfig(**{**TINY_VIT.to_dict(), "use_cls": True})).eval()
    o2 = with_cls(img)
    assert o2.tokens.shape == (2, 16, 32) and o2.cls.shape == (2, 32)
    with pytest.raises(ValueError, match="images must be"):
        vit(torch.rand(2, 3, 16, 16))
    with pytest.raises(ValueError, match="patch_size"):
        ViTConfig(image_size=30, patch_size=8)


def test_vit_feature_layer_sees_a_grid_and_carries_gradient():
    _seeded()
    vit = ViTEncoder(TINY_VIT)
    seen = {}

    def hook(module, inputs, output):
        seen["shape"] = tuple(output.shape)

    vit.feature_layer.register_forward_hook(hook)
    img = torch.rand(1, 3, 32, 32, requires_grad=True)
    vit(img).tokens.sum().backward()
    assert seen["shape"] == (1, 32, 4, 4)
    assert img.grad is not None and img.grad.abs().sum() > 0


def test_resnet_gn_keypoints_in_range_and_no_batchnorm():
    _seeded()
    net = ResNetGNEncoder(TINY_RESNET).eval()
    out = net(torch.rand(3, 3, 64, 64) * 50)  # large activations push the softmax to its corners
    assert out.embedding.shape == (3, 16)
    assert out.keypoints.shape == (3, 8, 2)
    assert out.keypoints.min() >= -1.0 and out.keypoints.max() <= 1.0
    torch.testing.assert_close(out.attention.sum(dim=(-2, -1)), torch.ones(3, 8))
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())
    assert any(isinstance(m, torch.nn.GroupNorm) for m in net.modules())
    assert net.feature_layer is net.layer4


def test_feature_layers_work_with_captum_layer_gradcam():
    captum_attr = pytest.importorskip("captum.attr")
    _seeded()
    net = ResNetGNEncoder(TINY_RESNET).eval()
    cam = captum_attr.LayerGradCam(lambda x: net(x).embedding, net.feature_layer)
    attr = cam.attribute(torch.rand(2, 3, 64, 64), target=0)
    assert attr.shape[0] == 2 and attr.shape[1] == 1 and torch.isfinite(attr).all()
    vit = ViTEncoder(TINY_VIT).eval()
    vit_cam = captum_attr.LayerGradCam(lambda x: vit(x).tokens.mean(1), vit.feature_layer)
    vit_attr = vit_cam.attribute(torch.rand(2, 3, 32, 32), target=0)
    assert vit_attr.shape == (2, 1, 4, 4) and vit_attr.abs().sum() > 0


# -------------------------------------------------------------------------------- pooling


def test_map_head_attention_shape_sums_to_one_and_masks():
    _seeded()
    head = MAPHead(MAPHeadConfig(width=16, heads=4)).eval()
    tokens = torch.randn(2, 7, 16)
    mask = torch.ones(2, 7, dtype=torch.bool)
    mask[1, 5:] = False
    out = head(tokens, mask)
    assert out.pooled.shape == (2, 16) and out.attention.shape == (2, 4, 7)
    torch.testing.assert_close(out.attention.sum(-1), torch.ones(2, 4))
    assert out.attention[1, :, 5:].abs().max() == 0
    changed = tokens.clone()
    changed[1, 5:] = 100.0
    torch.testing.assert_close(head(changed, mask).pooled, out.pooled)


def test_text_conditioned_pooling_shapes_and_padding_invariance():
    _seeded()
    pool = TextConditionedPooling(TextPoolingConfig(width=16, heads=2, dropout=0.1, out_dim=12)).eval()
    patches, text = torch.randn(2, 9, 16), torch.randn(2, 5, 16)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)
    out = pool(patches, text, mask)
    assert out.pooled.shape == (2, 12)
    assert out.attention.shape == (2, 2, 5, 9)
    torch.testing.assert_close(out.attention.sum(-1), torch.ones(2, 2, 5))
    torch.testing.assert_close(out.query_attention.sum(-1), torch.ones(2, 2))
    assert out.query_attention[0, :, 3:].abs().max() == 0
    junk = text.clone()
    junk[0, 3:] = torch.randn(2, 16) * 10
    torch.testing.assert_close(pool(patches, junk, mask).pooled, out.pooled)
    # dropping the padding altogether also leaves row 0 unchanged
    short = pool(patches[:1], text[:1, :3], mask[:1, :3])
    torch.testing.assert_close(short.pooled, out.pooled[:1])
    with pytest.raises(ValueError, match="text_mask"):
        pool(patches, text, torch.zeros(2, 5, dtype=torch.bool))


# -------------------------------------------------------------------------------- text


def test_tokenizer_normalises_round_trips_and_masks():
    tok = WordTokenizer.from_instructions(INSTRUCTIONS)
    assert tok.vocab[:3] == ["<pad>", "<unk>", "<cls>"]
    ids, mask = tok.encode(["PICK up, the cup!!", "fly away"], max_len=6)
    assert ids.shape == (2, 6) and ids.dtype == torch.long and mask.dtype == torch.bool
    assert mask.tolist() == [[True] * 5 + [False], [True] * 3 + [False] * 3]
    assert tok.decode(ids) == ["pick up the cup", "<unk> <unk>"]
    again = WordTokenizer.from_dict(json.loads(json.dumps(tok.to_dict())))
    assert torch.equal(again.encode(["open the drawer"], 8)[0], tok.encode(["open the drawer"], 8)[0])
    with pytest.raises(ValueError, match="max_len"):
        tok.encode(["x"], 1)


def test_text_encoder_outputs_and_padding_does_not_matter():
    _seeded()
    tok = WordTokenizer.from_instructions(INSTRUCTIONS)
    enc = TextEncoder(TextEncoderConfig(vocab_size=tok.vocab_size, max_len=12, width=16, depth=2,
                                        heads=2, out_dim=8)).eval()
    ids, mask = tok.encode(INSTRUCTIONS[:2], max_len=8)
    out = enc(ids, mask)
    assert out.tokens.shape == (2, 8, 16) and out.pooled.shape == (2, 8) and torch.equal(out.mask, mask)
    junk = ids.masked_fill(~mask, 5)  # garbage ids in the padded slots
    torch.testing.assert_close(enc(junk, mask).pooled, out.pooled)
    longer_ids, longer_mask = tok.encode(INSTRUCTIONS[:2], max_len=12)
    torch.testing.assert_close(enc(longer_ids, longer_mask).pooled, out.pooled)
    n = int(mask[0].sum())
    torch.testing.assert_close(enc(longer_ids, longer_mask).tokens[0, :n], out.tokens[0, :n])


# -------------------------------------------------------------------------------- action


def test_action_encoder_cls_and_masked_steps_do_not_matter():
    _seeded()
    enc = ActionEncoder(TINY_ACTION).eval()
    actions = torch.randn(3, 8, 5)
    mask = torch.ones(3, 8, dtype=torch.bool)
    mask[0, 5:] = False
    out = enc(actions, mask)
    assert out.embedding.shape == (3, 16) and out.tokens.shape == (3, 8, 32) and out.attention is None
    changed = actions.clone()
    changed[0, 5:] = 1e3
    torch.testing.assert_close(enc(changed, mask).embedding, out.embedding)
    # the unmasked row 1 does react to its own steps
    changed[1, 6:] += 1.0
    assert not torch.allclose(enc(changed, mask).embedding[1], out.embedding[1])
    # a shorter chunk equals the masked padded one
    torch.testing.assert_close(enc(actions[:1, :5]).embedding, out.embedding[:1])
    with pytest.raises(ValueError, match="horizon"):
        enc(torch.randn(1, 9, 5))


def test_action_history_encoder_with_map_pooling():
    _seeded()
    episode = torch.arange(12, dtype=torch.float32).view(6, 2)
    hist, mask = make_action_history(episode, t=2, history=4)
    assert mask.tolist() == [True, True, False, False]
    assert hist.tolist() == [[2.0, 3.0], [0.0, 1.0], [0.0, 0.0], [0.0, 0.0]]
    cfg = ActionEncoderConfig(action_dim=2, horizon=4, width=16, depth=2, heads=2, pool="map")
    assert cfg.pool is PoolKind.MAP
    enc = ActionEncoder(cfg).eval()
    out = enc(hist[None], mask[None])
    assert out.embedding.shape == (1, 16) and out.attention.shape == (1, 2, 4)
    assert out.attention[0, :, 2:].abs().max() == 0
    torch.testing.assert_close(out.attention.sum(-1), torch.ones(1, 2))


# -------------------------------------------------------------------------------- VQ / Act-VAE


def test_vq_straight_through_reaches_encoder_and_dead_codes_reseed():
    _seeded()
    vq = VectorQuantizer(num_codes=8, code_dim=4, beta=0.25, dead_code_window=3)
    z_e = torch.randn(2, 3, 4, requires_grad=True)
    out = vq(z_e)
    assert out.codes.shape == (2, 3) and out.z_q.shape == (2, 3, 4)
    torch.testing.assert_close(out.z_q, vq.codebook.detach()[out.codes])
    (grad,) = torch.autograd.grad((out.z_q * torch.arange(4.0)).sum(), (z_e,))
    torch.testing.assert_close(grad, torch.arange(4.0).expand(2, 3, 4))
    # feed the same tight cluster until unused codes go dead, then they are re-seeded from it
    data = torch.randn(1, 1, 4) * 5 + torch.randn(2, 3, 4) * 0.01
    before = vq.codebook.detach().clone()
    for _ in range(5):
        vq(data)
    moved = (vq.codebook.detach() - before).norm(dim=1) > 1.0
    assert moved.sum() >= 4
    dist_to_data = torch.cdist(vq.codebook.detach()[moved], data.view(-1, 4)).min(dim=1).values
    assert dist_to_data.max() < 1e-3
    vq.eval()
    frozen = vq.codebook.detach().clone()
    vq(torch.randn(2, 3, 4) * 100)
    assert torch.equal(frozen, vq.codebook.detach())


def test_act_vae_api_shapes_and_gradients_reach_encoder():
    _seeded()
    vae = ActVAE(TINY_VAE)
    chunk = torch.randn(4, 8, 3)
    out = vae(chunk)
    assert out.recon.shape == (4, 8, 3) and out.codes.shape == (4, 4) and out.codes.dtype == torch.long
    assert out.z_e.shape == (4, 4, 8)
    assert 1.0 <= out.perplexity.item() <= 32 and 0 < out.usage.item() <= 1
    torch.testing.assert_close(out.loss, out.recon_loss + out.vq.codebook + 0.25 * out.vq.commitment)
    out.recon_loss.backward()
    assert vae.step_proj.weight.grad is not None and vae.step_proj.weight.grad.abs().sum() > 0
    vae.eval()
    codes = vae.encode(chunk)
    torch.testing.assert_close(vae.decode(codes), vae(chunk).recon)


def test_act_vae_overfits_a_tiny_batch():
    g = _seeded(1)
    vae = ActVAE(TINY_VAE)
    t = torch.linspace(0, 1, 8)
    phase = torch.rand(8, 1, 1, generator=g) * 6
    chunk = torch.stack([torch.sin(3 * t + phase[:, 0]), torch.cos(2 * t + phase[:, 0]), t.expand(8, 8)], -1)
    opt = torch.optim.Adam(vae.parameters(), lr=3e-3)
    first = None
    for _ in range(100):
        out = vae(chunk)
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        first = out.recon_loss.item() if first is None else first
    vae.eval()
    final = vae(chunk).recon_loss.item()
    assert final < 0.2 * first, (first, final)


# -------------------------------------------------------------------------------- heads


def test_mlp_chunk_head_shape():
    _seeded()
    head = MLPChunkHead(MLPChunkHeadConfig(in_dim=6, horizon=4, action_dim=3, hidden=16))
    assert head(torch.randn(5, 6)).shape == (5, 4, 3)
    with pytest.raises(ValueError, match="embedding"):
        head(torch.randn(5, 7))


def test_flow_time_sampling_ranges_and_beta_skew():
    g = torch.Generator().manual_seed(0)
    u = sample_flow_time(4000, "uniform", generator=g)
    b = sample_flow_time(4000, "beta", 1.5, 1.0, 0.999, generator=g)
    assert 0 <= u.min() and u.max() <= 1 and 0 <= b.min() and b.max() <= 0.999
    # t = s (1 - u), u ~ Beta(1.5, 1): mean s * (1 - 0.6) = 0.3996, i.e. skewed toward noise
    assert abs(b.mean().item() - 0.3996) < 0.02 and abs(u.mean().item() - 0.5) < 0.02
    b2 = sample_flow_time(10, "beta", generator=torch.Generator().manual_seed(3))
    assert torch.equal(b2, sample_flow_time(10, "beta", generator=torch.Generator().manual_seed(3)))


@pytest.mark.parametrize("time_sampling", ["uniform", "beta"])
def test_flow_head_learns_a_toy_conditional_map_and_samples(time_sampling):
    g = _seeded(2)
    head = FlowMatchingHead(FlowMatchingHeadConfig(cond_dim=2, horizon=3, action_dim=2, hidden=64, depth=2,
                                                   time_dim=16, time_sampling=time_sampling, num_steps=20))
    cond = torch.randn(64, 2, generator=g)
    target = cond[:, None, :].expand(64, 3, 2) * torch.tensor([1.0, 2.0, -1.0])[None, :, None]
    opt = torch.optim.Adam(head.parameters(), lr=3e-3)
    losses = []
    for _ in range(300):
        loss = head.loss(target, cond, generator=g)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert sum(losses[-20:]) / 20 < 0.5 * sum(losses[:20]) / 20
    sample = head.sample(cond[:8], generator=g)
    assert sample.shape == (8, 3, 2)
    baseline = (target[:8] ** 2).mean()  # error of predicting zeros
    assert ((sample - target[:8]) ** 2).mean() < 0.5 * baseline
    noise = torch.randn(8, 3, 2, generator=g)
    assert torch.equal(head.sample(cond[:8], noise=noise), head.sample(cond[:8], noise=noise))


# -------------------------------------------------------------------------------- save / load


@pytest.mark.parametrize(
    ("kind", "config", "make_input"),
    [
        ("vit", TINY_VIT, lambda: (torch.rand(2, 3, 32, 32),)),
        ("resnet_gn", TINY_RESNET, lambda: (torch.rand(2, 3, 48, 48),)),
        ("action", TINY_ACTION, lambda: (torch.randn(2, 8, 5),)),
        ("act_vae", TINY_VAE, lambda: (torch.randn(2, 8, 3),)),
        ("text", TextEncoderConfig(vocab_size=20, max_len=6, width=16, depth=1, heads=2),
         lambda: (torch.randint(0, 20, (2, 6)),)),
        ("map_head", MAPHeadConfig(width=16, heads=2), lambda: (torch.randn(2, 5, 16),)),
        ("text_pooling", TextPoolingConfig(width=16, heads=2), lambda: (torch.randn(2, 5, 16), torch.randn(2, 3, 16))),
        ("mlp_chunk_head", MLPChunkHeadConfig(in_dim=6, horizon=2, action_dim=3, hidden=8),
         lambda: (torch.randn(2, 6),)),
    ],
)
def test_save_load_round_trip_gives_identical_outputs(kind, config, make_input):
    _seeded(3)
    model = build_model(kind, config).eval()
    inputs = make_input()
    buffer = io.BytesIO()
    torch.save({"model": model_config_dict(model), "state": model.state_dict()}, buffer)
    buffer.seek(0)
    ckpt = torch.load(buffer, weights_only=True)
    json.dumps(ckpt["model"])  # the config part is JSON-able
    torch.manual_seed(99)  # a fresh init that differs from the saved weights
    rebuilt = build_model(**ckpt["model"]).eval()
    rebuilt.load_state_dict(ckpt["state"])

    def flat(out):
        if isinstance(out, torch.Tensor):
            return [out]
        return [v for v in vars(out).values() if isinstance(v, torch.Tensor)]

    for a, b in zip(flat(model(*inputs)), flat(rebuilt(*inputs)), strict=True):
        assert torch.equal(a, b)


def test_flow_head_round_trip_and_factory_errors():
    _seeded(4)
    head = build_model("flow_matching_head", {"cond_dim": 4, "horizon": 2, "action_dim": 2, "hidden": 8,
                                              "time_sampling": "beta"})
    again = build_model(**model_config_dict(head))
    again.load_state_dict(head.state_dict())
    cond, noise = torch.randn(3, 4), torch.randn(3, 2, 2)
    assert torch.equal(head.sample(cond, noise=noise), again.sample(cond, noise=noise))
    with pytest.raises(ValueError, match="unknown model kind"):
        build_model("nope")
    with pytest.raises(ValueError, match="unknown fields"):
        build_model("vit", {"widht": 3})
    with pytest.raises(ValueError, match="heads"):
        ViTConfig(width=30, heads=4)
    with pytest.raises(ValueError, match="dropout"):
        ActionEncoderConfig(dropout=1.5)


@pytest.mark.parametrize("cls,field,width_field", [
    ("workbench.models.vision:ViTConfig", "heads", "width"),
    ("workbench.models.action:ActionEncoderConfig", "heads", "width"),
    ("workbench.models.text:TextEncoderConfig", "heads", "width"),
    ("workbench.models.pooling:MAPHeadConfig", "heads", "width"),
    ("workbench.models.pooling:TextPoolingConfig", "heads", "width"),
    ("workbench.models.act_vae:ActVAEConfig", "heads", "width"),
    ("workbench.models.token_policy:TokenPolicyConfig", "heads", "width"),
    ("workbench.models.chunk_decoder:PatchChunkDecoderConfig", "heads", "width"),
    ("workbench.models.multiview:MultiViewViTConfig", "heads", "width"),
    ("workbench.methods.caip:CAIPConfig", "action_heads", "action_width"),
    ("workbench.methods.clamp:CLAMPConfig", "text_heads", "text_width"),
    ("workbench.methods.clap:ActVAEMethodConfig", "vision_heads", "vision_width"),
    ("workbench.methods.baselines:RandomEncoderConfig", "vit_heads", "vit_width"),
])  # fmt: skip
def test_every_attention_config_refuses_heads_that_do_not_divide_the_width(cls, field, width_field):
    import dataclasses
    import importlib

    module, name = cls.split(":")
    config_cls = getattr(importlib.import_module(module), name)
    width = {f.name: f.default for f in dataclasses.fields(config_cls)}[width_field]
    heads = next(h for h in range(3, width) if width % h)  # a head count that leaves a remainder
    with pytest.raises(ValueError, match=rf"{name}\.{field} \({heads}\) must divide {width_field} \({width}\)"):
        config_cls(**{field: heads})
