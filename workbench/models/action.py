"""Action-chunk transformer encoder (CAIP §2.1, App. C.2) and CLAMP's action-history encoder
(§III-A/B).

CAIP: each action vector is projected to the width, learned positions are added, a CLS token
is prepended, 4 pre-norm layers (8 heads, MLP 4C, GELU, dropout 0.1) run with padded steps
masked, and the CLS output is projected to the embedding. CLAMP's action encoder is the same
kind of transformer over the previous H actions (zero-padded at the episode start) pooled with
MAP instead, so ``pool=PoolKind.MAP`` over
:func:`workbench.data.training_samples.make_action_history` covers it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import torch
from torch import nn

from workbench.models.config import ModelConfig, check_heads, check_positive, check_probability
from workbench.models.pooling import MAPHead, MAPHeadConfig
from workbench.models.transformer import Transformer

__all__ = ["ActionEncoder", "ActionEncoderConfig", "ActionOutput", "PoolKind"]


class PoolKind(str, Enum):
    CLS = "cls"  # CAIP: read out a prepended class token
    MAP = "map"  # CLAMP: multihead attention pooling over the step tokens


@dataclass(frozen=True)
class ActionEncoderConfig(ModelConfig):
    action_dim: int = 10  # per-step action size A_d (CAIP: 378; 9-D pose x 42 keypoints)
    horizon: int = 16  # longest chunk T (learned positions); CAIP uses 64
    width: int = 128  # token width C
    depth: int = 4  # transformer layers (CAIP App. C.2: 4; CLAMP: 2)
    heads: int = 8  # attention heads (CAIP: 8); must divide width
    mlp_ratio: float = 4.0  # feed-forward width / C (CAIP: 4)
    dropout: float = 0.1  # dropout in the blocks (CAIP: 0.1)
    out_dim: int | None = None  # embedding size after the final projection; None keeps width
    pool: PoolKind = PoolKind.CLS  # how the sequence becomes one vector

    def __post_init__(self) -> None:
        object.__setattr__(self, "pool", PoolKind(self.pool))
        check_positive(self, action_dim=self.action_dim, horizon=self.horizon, width=self.width,
                       depth=self.depth, heads=self.heads, mlp_ratio=self.mlp_ratio)
        check_probability(self, dropout=self.dropout)
        if self.out_dim is not None:
            check_positive(self, out_dim=self.out_dim)
        check_heads(self)


@dataclass(frozen=True)
class ActionOutput:
    embedding: torch.Tensor  # (B, out_dim) the action embedding z_act
    tokens: torch.Tensor  # (B, T, C) per-step features (padded steps are meaningless)
    attention: torch.Tensor | None  # (B, H, T) MAP weights when pool == "map", else None


class ActionEncoder(nn.Module):
    def __init__(self, config: ActionEncoderConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or ActionEncoderConfig()
        self.step_proj = nn.Linear(cfg.action_dim, cfg.width)
        self.pos = nn.Parameter(torch.randn(1, cfg.horizon, cfg.width) * 0.02)
        self.cls = nn.Parameter(torch.randn(1, 1, cfg.width) * 0.02) if cfg.pool is PoolKind.CLS else None
        self.map_head = (
            MAPHead(MAPHeadConfig(cfg.width, cfg.heads, cfg.mlp_ratio, cfg.dropout))
            if cfg.pool is PoolKind.MAP
            else None
        )
        self.transformer = Transformer(cfg.width, cfg.depth, cfg.heads, cfg.mlp_ratio, cfg.dropout)
        self.proj = nn.Linear(cfg.width, cfg.out_dim or cfg.width)

    def forward(self, actions: torch.Tensor, mask: torch.Tensor | None = None) -> ActionOutput:
        """actions (B, T, A_d), T <= horizon; mask (B, T) bool, True = valid step."""
        cfg = self.config
        if actions.ndim != 3 or actions.shape[-1] != cfg.action_dim:
            raise ValueError(f"actions must be (B, T, {cfg.action_dim}), got {tuple(actions.shape)}")
        b, t, _ = actions.shape
        if t > cfg.horizon:
            raise ValueError(f"actions has {t} steps > ActionEncoderConfig.horizon {cfg.horizon}")
        if mask is not None:
            if mask.shape != (b, t) or mask.dtype != torch.bool:
                raise ValueError(f"mask must be bool ({b}, {t}), got {mask.dtype} {tuple(mask.shape)}")
            # a padded step's values must not leak through the projection either
            actions = actions.masked_fill(~mask[..., None], 0.0)
        x = self.step_proj(actions) + self.pos[:, :t]  # (B, T, C)
        if self.cls is not None:
            x = torch.cat([self.cls.expand(b, -1, -1), x], dim=1)  # (B, 1+T, C)
            full_mask = None if mask is None else torch.cat(
                [torch.ones(b, 1, dtype=torch.bool, device=mask.device), mask], dim=1
            )
            x = self.transformer(x, full_mask)
            return ActionOutput(embedding=self.proj(x[:, 0]), tokens=x[:, 1:], attention=None)
        if mask is not None and not bool(mask.any(dim=1).all()):
            raise ValueError("mask has a row with no valid step; MAP pooling needs at least one")
        x = self.transformer(x, mask)
        pooled = self.map_head(x, mask)  # type: ignore[misc]
        return ActionOutput(embedding=self.proj(pooled.pooled), tokens=x, attention=pooled.attention)
