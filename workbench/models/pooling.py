"""Attention pooling heads that return their attention maps for saliency.

* :class:`MAPHead` — multihead attention pooling: one learned probe attends over the tokens
  (Lee et al. 2019; the head of SigLIP/big_vision, used by CLAMP's encoders).
* :class:`TextConditionedPooling` — CAIP's two-stage pooling (§2.1, App. C.2): text tokens query
  the image patches, then one learned query pools the L text-grounded features.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from workbench.models.config import ModelConfig, check_heads, check_positive, check_probability
from workbench.models.transformer import MLP, MultiheadAttention

__all__ = [
    "MAPHead",
    "MAPHeadConfig",
    "MAPOutput",
    "TextConditionedPooling",
    "TextPoolingConfig",
    "TextPoolingOutput",
]


@dataclass(frozen=True)
class MAPHeadConfig(ModelConfig):
    width: int = 192  # token width C (the pooled vector has the same width)
    heads: int = 3  # attention heads; must divide width
    mlp_ratio: float = 4.0  # hidden width of the residual MLP after attention / width
    dropout: float = 0.0  # attention-weight dropout

    def __post_init__(self) -> None:
        check_positive(self, width=self.width, heads=self.heads, mlp_ratio=self.mlp_ratio)
        check_probability(self, dropout=self.dropout)
        check_heads(self)


@dataclass(frozen=True)
class MAPOutput:
    pooled: torch.Tensor  # (B, C)
    attention: torch.Tensor  # (B, H, N) probe-to-token weights, rows sum to one


class MAPHead(nn.Module):
    """One learned probe attends over the tokens, followed by a residual MLP (big_vision's
    ``MAPHead``). Padded tokens (``mask`` False) get zero attention."""

    def __init__(self, config: MAPHeadConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or MAPHeadConfig()
        self.probe = nn.Parameter(torch.randn(1, 1, cfg.width) * 0.02)
        self.attn = MultiheadAttention(cfg.width, cfg.heads, cfg.dropout)
        self.norm = nn.LayerNorm(cfg.width)
        self.mlp = MLP(cfg.width, int(cfg.width * cfg.mlp_ratio))

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor | None = None) -> MAPOutput:
        """tokens (B, N, C); mask (B, N) True = valid."""
        if tokens.ndim != 3 or tokens.shape[-1] != self.config.width:
            raise ValueError(f"tokens must be (B, N, {self.config.width}), got {tuple(tokens.shape)}")
        probe = self.probe.expand(tokens.shape[0], -1, -1)  # (B, 1, C)
        x, w = self.attn(probe, tokens, mask=mask, need_weights=True)  # (B, 1, C), (B, H, 1, N)
        x = x + self.mlp(self.norm(x))
        return MAPOutput(pooled=x[:, 0], attention=w[:, :, 0])


@dataclass(frozen=True)
class TextPoolingConfig(ModelConfig):
    width: int = 192  # shared width of patch and text tokens, and of the output embedding
    heads: int = 3  # heads of both attention stages (CAIP: 8 for ViT-B, 16 for ViT-L)
    dropout: float = 0.1  # attention dropout (CAIP App. C.2: 0.1)
    out_dim: int | None = None  # width of the final linear projection; None keeps width

    def __post_init__(self) -> None:
        check_positive(self, width=self.width, heads=self.heads)
        check_probability(self, dropout=self.dropout)
        if self.out_dim is not None:
            check_positive(self, out_dim=self.out_dim)
        check_heads(self)


@dataclass(frozen=True)
class TextPoolingOutput:
    pooled: torch.Tensor  # (B, out_dim) text-conditioned image embedding z_img
    attention: torch.Tensor  # (B, H, L, N) text-token x patch weights, rows sum to one
    query_attention: torch.Tensor  # (B, H, L) learned-query x text-token weights, 0 on padding
    conditioned: torch.Tensor  # (B, L, C) text-grounded visual features


class TextConditionedPooling(nn.Module):
    """CAIP's text-conditioned cross-attention pooling (§2.1, App. C.2).

    Stage 1: LayerNorm + linear projection of the text tokens, which then query the patches
    (keys/values) with multi-head cross-attention -> (B, L, C). Stage 2: one learned query attends
    over those L features, skipping padded text tokens, followed by LayerNorm and a linear
    projection -> z_img (B, C). Padded text tokens produce stage-1 rows (every query attends
    somewhere) but stage 2 gives them zero weight, so they cannot change z_img.
    """

    def __init__(self, config: TextPoolingConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or TextPoolingConfig()
        self.text_norm = nn.LayerNorm(cfg.width)
        self.text_proj = nn.Linear(cfg.width, cfg.width)
        self.patch_norm = nn.LayerNorm(cfg.width)
        self.cross_attn = MultiheadAttention(cfg.width, cfg.heads, cfg.dropout)
        self.query = nn.Parameter(torch.randn(1, 1, cfg.width) * 0.02)
        self.pool_attn = MultiheadAttention(cfg.width, cfg.heads, cfg.dropout)
        self.out_norm = nn.LayerNorm(cfg.width)
        self.out_proj = nn.Linear(cfg.width, cfg.out_dim or cfg.width)

    def forward(
        self, patches: torch.Tensor, text: torch.Tensor, text_mask: torch.Tensor | None = None
    ) -> TextPoolingOutput:
        """patches (B, N, C); text (B, L, C); text_mask (B, L) True = real token."""
        c = self.config.width
        if patches.ndim != 3 or patches.shape[-1] != c:
            raise ValueError(f"patches must be (B, N, {c}), got {tuple(patches.shape)}")
        if text.ndim != 3 or text.shape[-1] != c or text.shape[0] != patches.shape[0]:
            raise ValueError(f"text must be (B={patches.shape[0]}, L, {c}), got {tuple(text.shape)}")
        if text_mask is not None:
            if text_mask.shape != text.shape[:2] or text_mask.dtype != torch.bool:
                raise ValueError(
                    f"text_mask must be bool (B, L) = {tuple(text.shape[:2])}, "
                    f"got {text_mask.dtype} {tuple(text_mask.shape)}"
                )
            if not bool(text_mask.any(dim=1).all()):
                raise ValueError("text_mask has a row with no valid token")
        queries = self.text_proj(self.text_norm(text))  # (B, L, C)
        kv = self.patch_norm(patches)  # (B, N, C)
        cond, attn = self.cross_attn(queries, kv, need_weights=True)  # (B, L, C), (B, H, L, N)
        probe = self.query.expand(text.shape[0], -1, -1)  # (B, 1, C)
        pooled, q_attn = self.pool_attn(probe, cond, mask=text_mask, need_weights=True)  # (B, 1, C)
        z = self.out_proj(self.out_norm(pooled[:, 0]))  # (B, out_dim)
        return TextPoolingOutput(pooled=z, attention=attn, query_attention=q_attn[:, :, 0], conditioned=cond)
