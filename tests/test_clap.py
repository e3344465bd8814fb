"""CLAP beyond the Act-VAE (paper 001 §III-C2 – §III-E, Alg. 2–4, Eq. 3–7): the contrastive term
reaches the plotted latents (Fig. 9), the VD-VAE's loss terms against hand computations, the EMA
teacher, the frozen codebook, the token policy and the RF head with knowledge matching.

The data is synthetic with structure to learn: each episode moves in its own direction, which its
frames' background colour encodes, and a bright bar marks the progress through the episode.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from conftest import make_robot_episode
from workbench.data.loader import FrameChunkDataset, collate
from workbench.data.normalize import compute_stats
from workbench.methods import ActVAEMethodConfig, build_method
from workbench.types import ArrayFrames

SIZE, HORIZON = 32, 4


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _frames(theta: float, T: int, size: int = SIZE) -> np.ndarray:
    img = np.empty((T, size, size, 3), dtype=np.uint8)
    img[:] = np.array([128 + 110 * math.cos(theta), 128 + 110 * math.sin(theta), 60], dtype=np.uint8)
    for t in range(T):
        x = int(round((size - 4) * t / max(T - 1, 1)))
        img[t, :, x : x + 4] = 255
    return img


def robot_episodes(n: int = 8, T: int = 16) -> list:
    eps = []
    for i in range(n):
        theta = 2 * math.pi * i / n
        ep = make_robot_episode(i, T=T, size=SIZE, task=("push", "reach")[i % 2])
        rng = np.random.default_rng(i)
        t = np.arange(T)
        ep.actions = np.stack([np.full(T, math.cos(theta)), np.full(T, math.sin(theta)), np.sin(2 * math.pi * t / T),
                               (t > T // 2).astype(float)], 1).astype(np.float32) + 0.01 * rng.normal(size=(T, 4)).astype(np.float32)
        ep.cameras["scene"].rgb = ArrayFrames(_frames(theta, T))
        eps.append(ep)
    return eps


def dataset(**kw) -> FrameChunkDataset:
    eps = robot_episodes()
    base = FrameChunkDataset(eps, chunk_kind="raw", horizon=HORIZON)
    return FrameChunkDataset(eps, chunk_kind="raw", horizon=HORIZON, norm_stats=compute_stats(base.chunks.values, base.chunks.mask), **kw)


# -- Fig. 9: the contrastive term reaches the Act-VAE latents the notebook plots -------------------


def _act_vae_grad(contrastive_weight: float, to_actions: bool) -> torch.Tensor:
    ds = dataset()
    torch.manual_seed(0)
    cfg = ActVAEMethodConfig.preset("smoke", contrastive_weight=contrastive_weight, contrastive_to_actions=to_actions,
                                    dead_code_window=0, patch_size=8)
    m = build_method("clap_actvae", cfg, ds.meta())
    m.train()
    m.training_step(collate([ds[i] for i in range(16)]))["loss"].backward()
    return m.act_vae.to_code.weight.grad.detach().clone()


def test_fig9_contrastive_gradient_reaches_the_plotted_act_vae_latents():
    # the Act-VAE's own loss is the same in all three: the difference is the SigLIP term's gradient
    without = _act_vae_grad(0.0, True)
    reaching = _act_vae_grad(1.0, True) - without
    detached = _act_vae_grad(1.0, False) - without
    assert float(reaching.abs().sum()) > 1e-4  # the term now shapes E_act's latents
    assert float(detached.abs().sum()) == 0.0  # the old stop-gradient target: nothing reached them


def test_actvae_paper_preset_is_table_ix():
    from workbench.train.config import make_config

    cfg = make_config("clap_actvae", "paper")
    mc = cfg.method_config_object()
    assert (mc.beta, mc.codebook_lr_scale, mc.num_registers, mc.codebook_size) == (1.0, 50.0, 16, 256)
    assert cfg.data.horizon == 32 and cfg.optim.lr == 2e-5 and cfg.optim.warmup_steps == 1000 and cfg.steps == 100_000
    ds = dataset()
    m = build_method("clap_actvae", mc.replace(width=32, heads=2, code_dim=8, patch_size=8), ds.meta())
    groups = m.param_groups()
    assert [g["lr_scale"] for g in groups] == [1.0, 50.0]
    assert groups[1]["params"] == [m.act_vae.quantizer.codebook]
    assert sum(p.numel() for g in groups for p in g["params"]) == sum(p.numel() for p in m.parameters())
