"""Act-VAE: a VQ-VAE over action chunks with register tokens (CLAP §III-C1, Eq. 2, Alg. 1).

Encoder: each step is embedded, ``Nq`` learnable register tokens are appended, self-attention
runs over the joint sequence, and the register outputs become the continuous latents
z_e (B, Nq, d). The quantiser replaces each by its nearest code. Decoder: the quantised latents
and T learned step queries run through a second transformer; the query outputs are read out as
the reconstructed chunk. Loss: ``||a - D(z_q)||^2 + ||sg(z_e) - z_q||^2 + beta ||z_e - sg(z_q)||^2``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from workbench.losses import VQLossTerms
from workbench.models.config import ModelConfig, check_heads, check_positive, check_probability
from workbench.models.transformer import Transformer
from workbench.models.vq import VectorQuantizer

__all__ = ["ActVAE", "ActVAEConfig", "ActVAEOutput"]


@dataclass(frozen=True)
class ActVAEConfig(ModelConfig):
    action_dim: int = 10  # per-step action size D_a
    horizon: int = 16  # chunk length N_a (the decoder always reconstructs this many steps)
    width: int = 128  # transformer width
    encoder_depth: int = 2  # encoder blocks
    decoder_depth: int = 2  # decoder blocks
    heads: int = 4  # attention heads; must divide width
    mlp_ratio: float = 4.0  # MLP hidden width / width
    dropout: float = 0.0  # dropout in the blocks
    num_registers: int = 8  # latent sequence length N_q
    codebook_size: int = 256  # K (CLAP's selected codebook has 256 entries)
    code_dim: int = 32  # width of each latent / code vector
    beta: float = 0.25  # commitment weight (Eq. 2)
    dead_code_window: int = 200  # forward passes a code may go unused before re-seeding; 0 = off

    def __post_init__(self) -> None:
        check_positive(self, action_dim=self.action_dim, horizon=self.horizon, width=self.width,
                       encoder_depth=self.encoder_depth, decoder_depth=self.decoder_depth,
                       heads=self.heads, mlp_ratio=self.mlp_ratio, num_registers=self.num_registers,
                       code_dim=self.code_dim)
        check_probability(self, dropout=self.dropout)
        if self.codebook_size < 2:
            raise ValueError(f"ActVAEConfig.codebook_size must be >= 2, got {self.codebook_size}")
        if self.beta < 0:
            raise ValueError(f"ActVAEConfig.beta must be >= 0, got {self.beta}")
        if self.dead_code_window < 0:
            raise ValueError(f"ActVAEConfig.dead_code_window must be >= 0, got {self.dead_code_window}")
        check_heads(self)


@dataclass(frozen=True)
class ActVAEOutput:
    recon: torch.Tensor  # (B, T, D) reconstructed chunk
    codes: torch.Tensor  # (B, Nq) long token sequence z_a
    z_e: torch.Tensor  # (B, Nq, d) continuous latents before quantisation
    loss: torch.Tensor  # () recon + codebook + beta * commitment (Alg. 1 line 11)
    recon_loss: torch.Tensor  # () mean squared error over valid steps
    vq: VQLossTerms  # the codebook and commitment terms
    perplexity: torch.Tensor  # () effective number of codes used in the batch
    usage: torch.Tensor  # () fraction of the codebook used in the batch


class ActVAE(nn.Module):
    def __init__(self, config: ActVAEConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or ActVAEConfig()
        c = cfg.width
        # encoder
        self.step_proj = nn.Linear(cfg.action_dim, c)
        self.step_pos = nn.Parameter(torch.randn(1, cfg.horizon, c) * 0.02)
        self.registers = nn.Parameter(torch.randn(1, cfg.num_registers, c) * 0.02)
        self.encoder = Transformer(c, cfg.encoder_depth, cfg.heads, cfg.mlp_ratio, cfg.dropout)
        self.to_code = nn.Linear(c, cfg.code_dim)
        self.quantizer = VectorQuantizer(cfg.codebook_size, cfg.code_dim, cfg.beta, cfg.dead_code_window)
        # decoder
        self.from_code = nn.Linear(cfg.code_dim, c)
        self.latent_pos = nn.Parameter(torch.randn(1, cfg.num_registers, c) * 0.02)
        self.queries = nn.Parameter(torch.randn(1, cfg.horizon, c) * 0.02)
        self.decoder = Transformer(c, cfg.decoder_depth, cfg.heads, cfg.mlp_ratio, cfg.dropout)
        self.to_action = nn.Linear(c, cfg.action_dim)

    def _check_chunk(self, chunk: torch.Tensor, mask: torch.Tensor | None) -> None:
        cfg = self.config
        if chunk.ndim != 3 or chunk.shape[1:] != (cfg.horizon, cfg.action_dim):
            raise ValueError(
                f"chunk must be (B, {cfg.horizon}, {cfg.action_dim}), got {tuple(chunk.shape)}"
            )
        if mask is not None and (mask.shape != chunk.shape[:2] or mask.dtype != torch.bool):
            raise ValueError(f"mask must be bool {tuple(chunk.shape[:2])}, got {mask.dtype} {tuple(mask.shape)}")

    def encode_continuous(self, chunk: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """chunk (B, T, D), mask (B, T) True = valid -> z_e (B, Nq, d)."""
        self._check_chunk(chunk, mask)
        b = chunk.shape[0]
        if mask is not None:
            chunk = chunk.masked_fill(~mask[..., None], 0.0)
        x = self.step_proj(chunk) + self.step_pos  # (B, T, C)
        x = torch.cat([x, self.registers.expand(b, -1, -1)], dim=1)  # (B, T+Nq, C)
        full_mask = None
        if mask is not None:
            regs = torch.ones(b, self.config.num_registers, dtype=torch.bool, device=mask.device)
            full_mask = torch.cat([mask, regs], dim=1)
        x = self.encoder(x, full_mask)
        return self.to_code(x[:, -self.config.num_registers :])  # (B, Nq, d)

    @torch.no_grad()
    def encode(self, chunk: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """chunk (B, T, D) -> codes (B, Nq) long. Never updates the dead-code statistics."""
        return self.quantizer.lookup(self.encode_continuous(chunk, mask))

    def decode_latents(self, z_q: torch.Tensor) -> torch.Tensor:
        """z_q (B, Nq, d) -> chunk (B, T, D)."""
        b = z_q.shape[0]
        lat = self.from_code(z_q) + self.latent_pos  # (B, Nq, C)
        x = torch.cat([lat, self.queries.expand(b, -1, -1)], dim=1)  # (B, Nq+T, C)
        x = self.decoder(x)
        return self.to_action(x[:, self.config.num_registers :])  # (B, T, D)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """codes (B, Nq) long -> chunk (B, T, D)."""
        if codes.ndim != 2 or codes.shape[1] != self.config.num_registers:
            raise ValueError(f"codes must be (B, {self.config.num_registers}), got {tuple(codes.shape)}")
        return self.decode_latents(self.quantizer.embed(codes))

    def forward(self, chunk: torch.Tensor, mask: torch.Tensor | None = None) -> ActVAEOutput:
        z_e = self.encode_continuous(chunk, mask)
        vq = self.quantizer(z_e)
        recon = self.decode_latents(vq.z_q)  # (B, T, D)
        err = (recon - chunk).pow(2)  # (B, T, D)
        if mask is None:
            recon_loss = err.mean()
        else:
            w = mask[..., None].to(err.dtype).expand_as(err)
            recon_loss = (err * w).sum() / w.sum().clamp_min(1.0)
        return ActVAEOutput(
            recon=recon,
            codes=vq.codes,
            z_e=z_e,
            loss=recon_loss + vq.terms.loss,
            recon_loss=recon_loss,
            vq=vq.terms,
            perplexity=vq.perplexity,
            usage=vq.usage,
        )
