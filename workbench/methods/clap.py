"""CLAP's Act-VAE and its rate–distortion analysis (paper 001, §III-C1, Alg. 1, §IV-B Eq. 8,
Table V, Fig. 5).

:class:`ActVAEMethod` trains the VQ-VAE over action chunks (reconstruction + codebook +
commitment, Eq. 2 / Alg. 1). :func:`rate_distortion` turns a reconstruction MSE into the paper's
PSNR and rate, and :func:`sweep_rate_distortion` trains one small Act-VAE per (Nq, K) and reports
both — the Table V / Fig. 5 analogue.

Optionally (``contrastive_weight > 0``) an image tower is trained alongside, with a SigLIP loss
aligning the image embedding with the Act-VAE latents of the chunk that follows (Alg. 2 line 24,
restricted to robot samples whose actions are known). The Act-VAE trains jointly here, so the
SigLIP gradient reaches its encoder (``contrastive_to_actions``, on by default): the Act-VAE
latents that the Fig. 9 notebook plots are shaped by the contrastive term. With the target
detached (``contrastive_to_actions=False``, CLAP's ``sg(E_act(a_gt))`` for a *frozen* Act-VAE)
the two arms of Fig. 9 would differ in those latents only through gradient clipping. The full
inverse-dynamics alignment with a frozen Act-VAE is :mod:`workbench.methods.clap_vdvae`.

Optimiser: ``codebook_lr_scale`` multiplies the learning rate of the codebook (Table IX: VAE
2e-5, codebook 1e-3, i.e. 50x); the ``paper`` preset carries Table IX's settings.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from workbench.losses import SigLIPLoss
from workbench.methods.base import Method, MethodConfig, split_param_groups
from workbench.models import ActVAE, ActVAEConfig, MAPHead, MAPHeadConfig, ViTConfig, ViTEncoder
from workbench.models.config import check_heads, check_positive, check_probability

__all__ = [
    "ActVAEMethod",
    "ActVAEMethodConfig",
    "RateDistortionPoint",
    "evaluate_reconstruction",
    "rate_distortion",
    "sweep_rate_distortion",
]


def rate_distortion(mse: float, nq: int, k: int, na: int, da: int, dynamic_range: float = 2.0) -> tuple[float, float]:
    """PSNR and rate of an Act-VAE reconstruction (CLAP §IV-B, Eq. 8).

    ``PSNR = 20 log10(R / sqrt(MSE))`` and ``rate = Nq log2 K / (Na Da log2(R / sqrt(MSE)))``:
    bits of the discrete latent over the bits needed to write the ``Na x Da`` normalised chunk
    at the achieved precision sqrt(MSE). R is the dynamic range of the normalised actions (2 for
    data in [-1, 1]). When sqrt(MSE) >= R no precision is gained and the rate is infinite.

    Returns:
        (psnr in dB, rate)
    """
    if not mse > 0 or not math.isfinite(mse):
        raise ValueError(f"mse must be a positive finite number, got {mse!r}")
    for name, v in (("nq", nq), ("na", na), ("da", da)):
        if v < 1:
            raise ValueError(f"{name} must be >= 1, got {v!r}")
    if k < 2:
        raise ValueError(f"k (codebook size) must be >= 2, got {k!r}")
    if not dynamic_range > 0:
        raise ValueError(f"dynamic_range must be > 0, got {dynamic_range!r}")
    ratio = dynamic_range / math.sqrt(mse)
    psnr = 20.0 * math.log10(ratio)
    bits_per_value = math.log2(ratio)
    rate = math.inf if bits_per_value <= 0 else nq * math.log2(k) / (na * da * bits_per_value)
    return psnr, rate


@dataclass(frozen=True)
class RateDistortionPoint:
    """One Act-VAE of the sweep (a row of CLAP Table V)."""

    nq: int  # latent sequence length N_q
    k: int  # codebook size K
    mse: float  # reconstruction MSE over valid steps of the evaluation chunks
    psnr: float  # dB
    rate: float  # Eq. 8
    usage: float  # fraction of the codebook used on the evaluation chunks
    steps: int  # training steps


@dataclass(frozen=True)
class ActVAEMethodConfig(MethodConfig):
    width: int = 128  # Act-VAE transformer width
    encoder_depth: int = 2  # encoder blocks
    decoder_depth: int = 2  # decoder blocks
    heads: int = 4  # attention heads; must divide width
    dropout: float = 0.0  # dropout in the Act-VAE blocks
    num_registers: int = 16  # N_q (CLAP's selected configuration: 16)
    codebook_size: int = 256  # K (CLAP's selected configuration: 256)
    code_dim: int = 32  # width of each code vector
    beta: float = 0.25  # commitment weight (Eq. 2; Table IX: 1.0)
    dead_code_window: int = 200  # forward passes before an unused code is re-seeded; 0 = off
    codebook_lr_scale: float = 1.0  # codebook learning rate / the others' (Table IX: 1e-3 / 2e-5 = 50)
    contrastive_weight: float = 0.0  # lambda_con of the image-latent SigLIP term; 0 = Act-VAE only
    contrastive_to_actions: bool = True  # the SigLIP gradient reaches the Act-VAE encoder (False: detached target)
    patch_size: int = 12  # image-tower ViT patch (only with contrastive_weight > 0)
    vision_width: int = 64  # image-tower width
    vision_depth: int = 2  # image-tower blocks
    vision_heads: int = 2  # image-tower heads; must divide vision_width

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": dict(width=32, encoder_depth=1, decoder_depth=1, heads=2, num_registers=4, codebook_size=32,
                      code_dim=8, dead_code_window=20, patch_size=8, vision_width=32, vision_depth=1),
        "sample": dict(width=64, encoder_depth=2, decoder_depth=2, heads=4, num_registers=4, codebook_size=64,
                       code_dim=16, dead_code_window=50, patch_size=8, vision_width=64, vision_depth=2),
        # CLAP Table IX (Act-VAE): commitment 1.0, codebook lr 1e-3 vs VAE lr 2e-5, Nq = 16,
        # K = 256 (its [256, 128] per arm: one arm here); the depth (15/15) is far beyond a CPU
        "paper": dict(beta=1.0, codebook_lr_scale=50.0, num_registers=16, codebook_size=256),
    }
    #: train-level settings of a preset (merged over the training preset of the same name, if any)
    TRAIN_PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        # Table IX: action chunk 32, VAE lr 2e-5, 1,000 warm-up steps, 100,000 steps, batch 4,096
        "paper": {"steps": 100_000, "batch_size": 4096, "data": {"horizon": 32},
                  "optim": {"lr": 2e-5, "warmup_steps": 1000}},
    }

    def __post_init__(self) -> None:
        check_positive(self, width=self.width, encoder_depth=self.encoder_depth, decoder_depth=self.decoder_depth,
                       heads=self.heads, num_registers=self.num_registers, code_dim=self.code_dim,
                       patch_size=self.patch_size, vision_width=self.vision_width, vision_depth=self.vision_depth,
                       vision_heads=self.vision_heads)
        check_probability(self, dropout=self.dropout)
        if self.codebook_size < 2:
            raise ValueError(f"ActVAEMethodConfig.codebook_size must be >= 2, got {self.codebook_size!r}")
        if self.beta < 0:
            raise ValueError(f"ActVAEMethodConfig.beta must be >= 0, got {self.beta!r}")
        if self.dead_code_window < 0:
            raise ValueError(f"ActVAEMethodConfig.dead_code_window must be >= 0, got {self.dead_code_window!r}")
        if self.contrastive_weight < 0:
            raise ValueError(f"ActVAEMethodConfig.contrastive_weight must be >= 0, got {self.contrastive_weight!r}")
        if not self.codebook_lr_scale > 0:
            raise ValueError(f"ActVAEMethodConfig.codebook_lr_scale must be > 0, got {self.codebook_lr_scale!r}")
        check_heads(self)
        check_heads(self, "vision_heads", "vision_width")

    def act_vae_config(self, action_dim: int, horizon: int) -> ActVAEConfig:
        return ActVAEConfig(action_dim=action_dim, horizon=horizon, width=self.width, encoder_depth=self.encoder_depth,
                            decoder_depth=self.decoder_depth, heads=self.heads, dropout=self.dropout,
                            num_registers=self.num_registers, codebook_size=self.codebook_size, code_dim=self.code_dim,
                            beta=self.beta, dead_code_window=self.dead_code_window)


class ActVAEMethod(Method):
    name: ClassVar[str] = "clap_actvae"
    config_class: ClassVar[type[MethodConfig]] = ActVAEMethodConfig

    def build(self) -> None:
        cfg: ActVAEMethodConfig = self.config  # type: ignore[assignment]
        m = self.meta
        self.act_vae = ActVAE(cfg.act_vae_config(m.chunk_dim, m.horizon))
        # the image tower exists in both arms of the Fig. 9 comparison so their features can be
        # compared; without the contrastive term it keeps its random initialisation
        self.vision = ViTEncoder(ViTConfig(image_size=m.image_size, patch_size=cfg.patch_size, in_channels=m.image_channels,
                                           width=cfg.vision_width, depth=cfg.vision_depth, heads=cfg.vision_heads))
        self.vision_pool = MAPHead(MAPHeadConfig(width=cfg.vision_width, heads=cfg.vision_heads))
        latent = cfg.num_registers * cfg.code_dim
        self.vision_proj = nn.Linear(cfg.vision_width, latent)
        self.loss_fn = SigLIPLoss.caip_init()

    def param_groups(self) -> list[dict[str, Any]]:
        """The codebook at ``codebook_lr_scale`` times the others' learning rate (Table IX)."""
        cfg: ActVAEMethodConfig = self.config  # type: ignore[assignment]
        return split_param_groups(self, [self.act_vae.quantizer.codebook], cfg.codebook_lr_scale)

    def encode_actions(self, chunk: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Continuous Act-VAE latents z_e flattened (B, Nq·d), L2-normalised."""
        z = self.act_vae.encode_continuous(chunk.to(self.device), None if mask is None else mask.to(self.device))
        return self.normalize(z.flatten(1))

    def encode_images(self, images: torch.Tensor, text: list[str] | None = None) -> torch.Tensor:
        """Image-tower embedding in the Act-VAE latent space (B, Nq·d), L2-normalised."""
        tokens = self.vision(images.to(self.device)).tokens
        return self.normalize(self.vision_proj(self.vision_pool(tokens).pooled))

    def training_step(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        cfg: ActVAEMethodConfig = self.config  # type: ignore[assignment]
        b = self.to_device(batch)
        out = self.act_vae(b["chunk"], b["mask"])
        metrics = {"recon": out.recon_loss.detach(), "vq": out.vq.loss.detach(), "perplexity": out.perplexity,
                   "usage": out.usage}
        loss = out.loss
        if cfg.contrastive_weight > 0:
            z = out.z_e if cfg.contrastive_to_actions else out.z_e.detach()  # detached: sg(E_act(a_gt))
            target = self.normalize(z.flatten(1))
            con = self.loss_fn(self.encode_images(b["image"]), target)
            loss = loss + cfg.contrastive_weight * con
            metrics["contrastive"] = con.detach()
        return {"loss": loss, **metrics}


@torch.no_grad()
def evaluate_reconstruction(model: ActVAE, chunks: torch.Tensor, mask: torch.Tensor | None = None, batch_size: int = 256) -> tuple[float, float]:
    """(MSE over valid steps, codebook usage) of quantised reconstructions, in eval mode."""
    was_training = model.training
    model.eval()
    dev = next(model.parameters()).device
    err, count, codes = 0.0, 0.0, []
    for i in range(0, len(chunks), batch_size):
        c = chunks[i : i + batch_size].to(dev)
        m = None if mask is None else mask[i : i + batch_size].to(dev)
        out = model(c, m)
        e = (out.recon - c).pow(2)  # (b, H, D)
        w = torch.ones_like(e) if m is None else m[..., None].to(e.dtype).expand_as(e)
        err += float((e * w).sum())
        count += float(w.sum())
        codes.append(out.codes.reshape(-1))
    model.train(was_training)
    usage = torch.cat(codes).unique().numel() / model.config.codebook_size
    return err / max(count, 1.0), usage


def sweep_rate_distortion(
    chunks: np.ndarray | torch.Tensor,
    nq_values: Sequence[int],
    k_values: Sequence[int],
    steps: int,
    *,
    mask: np.ndarray | torch.Tensor | None = None,
    eval_chunks: np.ndarray | torch.Tensor | None = None,
    eval_mask: np.ndarray | torch.Tensor | None = None,
    config: ActVAEMethodConfig | None = None,
    batch_size: int = 64,
    lr: float = 1e-3,
    dynamic_range: float = 2.0,
    seed: int = 0,
    device: str | torch.device = "cpu",
) -> list[RateDistortionPoint]:
    """Train one Act-VAE per (Nq, K) on normalised ``chunks`` (N, H, D) and measure each
    (CLAP Table V, Fig. 5).

    Every model starts from the same seed and sees the same batches; MSE is measured on
    ``eval_chunks`` (default: the training chunks) over valid steps. ``config`` supplies every
    other size (default: the ``smoke`` preset). Returns points in (Nq, K) order.
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if not nq_values or not k_values:
        raise ValueError("nq_values and k_values must be non-empty")
    x = torch.as_tensor(np.asarray(chunks, dtype=np.float32))
    if x.ndim != 3:
        raise ValueError(f"chunks must be (N, H, D), got shape {tuple(x.shape)}")
    m = None if mask is None else torch.as_tensor(np.asarray(mask, dtype=bool))
    ex = x if eval_chunks is None else torch.as_tensor(np.asarray(eval_chunks, dtype=np.float32))
    em = m if eval_chunks is None else (None if eval_mask is None else torch.as_tensor(np.asarray(eval_mask, dtype=bool)))
    base = config or ActVAEMethodConfig.preset("smoke")
    n, h, d = x.shape
    order = torch.randint(0, n, (steps, min(batch_size, n)), generator=torch.Generator().manual_seed(seed))
    points = []
    for nq in nq_values:
        for k in k_values:
            torch.manual_seed(seed)
            model = ActVAE(base.replace(num_registers=int(nq), codebook_size=int(k)).act_vae_config(d, h)).to(device)
            opt = torch.optim.AdamW(model.parameters(), lr=lr)
            model.train()
            for idx in order:
                out = model(x[idx].to(device), None if m is None else m[idx].to(device))
                opt.zero_grad(set_to_none=True)
                out.loss.backward()
                opt.step()
            mse, usage = evaluate_reconstruction(model, ex, em)
            psnr, rate = rate_distortion(mse, int(nq), int(k), h, d, dynamic_range)
            points.append(RateDistortionPoint(int(nq), int(k), mse, psnr, rate, usage, steps))
    return points
