"""A transformer decoder that reads an action chunk off a ViT's patch tokens (CAIP App. E (ii)).

CAIP's second direct-regression baseline supervises "a chunk of future actions" with "a transformer
decoder operating on the full ViT patch sequence" instead of an MLP on the pooled embedding. Here:
one learned query per chunk step (plus a learned step embedding), each decoder layer is
self-attention among the queries, cross-attention to the patch tokens and an MLP (pre-norm, DETR /
ACT style), and a linear read-out gives the step's action.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from workbench.models.config import ModelConfig, check_heads, check_positive
from workbench.models.transformer import MLP, MultiheadAttention

__all__ = ["PatchChunkDecoder", "PatchChunkDecoderConfig"]


@dataclass(frozen=True)
class PatchChunkDecoderConfig(ModelConfig):
    width: int = 64  # token width (the ViT's)
    heads: int = 2
    depth: int = 2  # decoder layers
    horizon: int = 16  # chunk steps = queries
    action_dim: int = 4  # per-step output size
    mlp_ratio: float = 4.0

    def __post_init__(self) -> None:
        check_positive(self, width=self.width, heads=self.heads, depth=self.depth, horizon=self.horizon,
                       action_dim=self.action_dim, mlp_ratio=self.mlp_ratio)
        check_heads(self)


class _DecoderLayer(nn.Module):
    def __init__(self, width: int, heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.norm_self, self.self_attn = nn.LayerNorm(width), MultiheadAttention(width, heads)
        self.norm_cross, self.cross_attn = nn.LayerNorm(width), MultiheadAttention(width, heads)
        self.norm_mlp, self.mlp = nn.LayerNorm(width), MLP(width, int(width * mlp_ratio))

    def forward(self, q: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        q = q + self.self_attn(self.norm_self(q))[0]
        q = q + self.cross_attn(self.norm_cross(q), memory)[0]
        return q + self.mlp(self.norm_mlp(q))


class PatchChunkDecoder(nn.Module):
    """Patch tokens ``(B, N, C)`` → chunk ``(B, H, D)``."""

    def __init__(self, config: PatchChunkDecoderConfig) -> None:
        super().__init__()
        self.config = cfg = config
        self.queries = nn.Parameter(torch.randn(1, cfg.horizon, cfg.width) * 0.02)
        self.layers = nn.ModuleList(_DecoderLayer(cfg.width, cfg.heads, cfg.mlp_ratio) for _ in range(cfg.depth))
        self.norm = nn.LayerNorm(cfg.width)
        self.out = nn.Linear(cfg.width, cfg.action_dim)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        q = self.queries.expand(tokens.shape[0], -1, -1)  # (B, H, C)
        for layer in self.layers:
            q = layer(q, tokens)
        return self.out(self.norm(q))  # (B, H, D)
