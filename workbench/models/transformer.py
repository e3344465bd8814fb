"""Pre-norm transformer pieces shared by the vision, text, action and Act-VAE encoders.

Attention masks follow one convention throughout the models package: a boolean ``mask`` of
shape (B, S) is True where a token is *valid* (the opposite of torch's ``key_padding_mask``); a
(B, Lq, S) mask says per query which tokens it may attend to (the token policy's prefix-causal mask).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["Block", "MLP", "MultiheadAttention", "Transformer"]


class MLP(nn.Module):
    def __init__(self, width: int, hidden: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.fc1 = nn.Linear(width, hidden)
        self.fc2 = nn.Linear(hidden, width)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.fc2(self.dropout(F.gelu(self.fc1(x)))))


class MultiheadAttention(nn.Module):
    """Multi-head (self- or cross-) attention that can also return its attention weights.

    Written out rather than ``nn.MultiheadAttention`` so the per-head maps come back un-averaged
    as (B, H, Lq, S) for saliency, and the fused SDPA kernel is used when they are not needed.
    """

    def __init__(self, width: int, heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        if width % heads != 0:
            raise ValueError(f"width ({width}) must be divisible by heads ({heads})")
        self.heads = heads
        self.q = nn.Linear(width, width)
        self.k = nn.Linear(width, width)
        self.v = nn.Linear(width, width)
        self.proj = nn.Linear(width, width)
        self.dropout = dropout

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        b, s, c = x.shape
        return x.view(b, s, self.heads, c // self.heads).transpose(1, 2)  # (B, H, S, hd)

    def forward(
        self,
        query: torch.Tensor,
        context: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
        need_weights: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """query (B, Lq, C); context (B, S, C) (defaults to query); mask (B, S) True = valid.

        Returns the output (B, Lq, C) and, if asked, the weights (B, H, Lq, S), each row
        summing to one over the valid context tokens (before dropout).
        """
        context = query if context is None else context
        b, lq, c = query.shape
        q, k, v = self._split(self.q(query)), self._split(self.k(context)), self._split(self.v(context))
        if mask is None:
            attn_mask = None
        else:
            attn_mask = mask[:, None] if mask.ndim == 3 else mask[:, None, None, :]  # (B, 1, Lq or 1, S)
        p_drop = self.dropout if self.training else 0.0
        weights = None
        if need_weights:
            scores = q @ k.transpose(-2, -1) / (q.shape[-1] ** 0.5)  # (B, H, Lq, S)
            if attn_mask is not None:
                scores = scores.masked_fill(~attn_mask, float("-inf"))
            weights = scores.softmax(dim=-1)
            out = F.dropout(weights, p_drop, self.training) @ v  # (B, H, Lq, hd)
        else:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=p_drop)
        out = out.transpose(1, 2).reshape(b, lq, c)
        return self.proj(out), weights


class Block(nn.Module):
    """Pre-norm transformer block: x + Attn(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, width: int, heads: int, mlp_ratio: float = 4.0, dropout: float = 0.0) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(width)
        self.attn = MultiheadAttention(width, heads, dropout)
        self.norm2 = nn.LayerNorm(width)
        self.mlp = MLP(width, int(width * mlp_ratio), dropout)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.drop(self.attn(self.norm1(x), mask=mask)[0])
        return x + self.mlp(self.norm2(x))


class Transformer(nn.Module):
    """A stack of pre-norm blocks followed by a final LayerNorm."""

    def __init__(
        self, width: int, depth: int, heads: int, mlp_ratio: float = 4.0, dropout: float = 0.0
    ) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(Block(width, heads, mlp_ratio, dropout) for _ in range(depth))
        self.norm = nn.LayerNorm(width)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        for block in self.blocks:
            x = block(x, mask)
        return self.norm(x)
