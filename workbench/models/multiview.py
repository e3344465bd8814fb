"""CLAMP's image encoder: a ViT over horizontally tiled depth + XYZ virtual views whose attention
carries Cayley-STRING positions in 3-D (CLAMP §III-B "Model Architecture", §III-D, App. C).

Input ``(B, 4, S, V·S)``: per pixel the camera-frame depth D and the world X, Y, Z (metres, all 0
where the view is empty, see :mod:`workbench.data.views`). Each ``p × p`` patch becomes a token
whose 3-D position is the mean world XYZ of the valid pixels in it (§III-B: "the average global
XYZ of the point-cloud points within each image patch"); patches with no valid pixel sit at the
origin, as the paper pads its clouds with points at (0, 0, 0) (App. C). Because positions are
global, tokens from different views of the same spot attend as neighbours with no cross-view
bookkeeping (§III-D, Fig. 3).

``positions="learned"`` replaces STRING by learned absolute position embeddings added to the
tokens — the Table III "without STRING" ablation.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import torch
import torch.nn.functional as F
from torch import nn

from workbench.models.config import ModelConfig, check_heads, check_positive, check_probability
from workbench.models.string import CayleySTRING
from workbench.models.transformer import MLP, MultiheadAttention
from workbench.models.vision import ViTOutput

__all__ = ["MultiViewViT", "MultiViewViTConfig", "PositionKind", "patch_positions"]


class PositionKind(str, Enum):
    STRING = "string"  # Cayley-STRING on patch XYZ (§III-D)
    LEARNED = "learned"  # learned absolute embeddings (Table III "without STRING")


@dataclass(frozen=True)
class MultiViewViTConfig(ModelConfig):
    view_size: int = 32  # side S of each square view
    num_views: int = 5  # V views tiled left to right
    patch_size: int = 8  # must divide view_size, so no patch straddles two views
    in_channels: int = 4  # D, X, Y, Z
    width: int = 128  # token width C
    depth: int = 4  # transformer blocks
    heads: int = 4  # must divide width; width / heads must be even for STRING
    mlp_ratio: float = 4.0
    dropout: float = 0.0
    positions: str = PositionKind.STRING.value  # "string" or "learned"
    xyz_centre: tuple[float, float, float] = (0.0, 0.65, 0.2)  # inputs are standardised as (xyz − centre) / scale
    xyz_scale: float = 0.5  # metres
    depth_centre: float = 1.0  # depth standardised as (D − depth_centre) / xyz_scale

    def __post_init__(self) -> None:
        check_positive(self, view_size=self.view_size, num_views=self.num_views, patch_size=self.patch_size,
                       in_channels=self.in_channels, width=self.width, depth=self.depth, heads=self.heads,
                       mlp_ratio=self.mlp_ratio, xyz_scale=self.xyz_scale)  # fmt: skip
        check_probability(self, dropout=self.dropout)
        if self.view_size % self.patch_size:
            raise ValueError(f"MultiViewViTConfig.patch_size ({self.patch_size}) must divide view_size ({self.view_size})")
        check_heads(self)
        PositionKind(self.positions)
        if self.positions == PositionKind.STRING.value and (self.width // self.heads) % 2:
            raise ValueError(f"STRING needs an even head size, got width {self.width} / heads {self.heads}")
        if self.in_channels != 4:
            raise ValueError(f"MultiViewViTConfig.in_channels must be 4 (D, X, Y, Z), got {self.in_channels}")
        object.__setattr__(self, "xyz_centre", tuple(float(v) for v in self.xyz_centre))

    @property
    def grid(self) -> tuple[int, int]:
        """Token grid (rows, columns) of the tiled image."""
        return self.view_size // self.patch_size, self.num_views * self.view_size // self.patch_size

    @property
    def num_patches(self) -> int:
        h, w = self.grid
        return h * w


def patch_positions(images: torch.Tensor, patch: int) -> torch.Tensor:
    """``(B, 4, H, W)`` depth + XYZ → ``(B, N, 3)``: per patch the mean world XYZ of its valid
    pixels (D > 0), row-major; 0 for a patch with none (§III-B)."""
    valid = (images[:, :1] > 0).to(images.dtype)  # (B, 1, H, W)
    sums = F.avg_pool2d(images[:, 1:] * valid, patch) * patch * patch  # (B, 3, h, w)
    counts = F.avg_pool2d(valid, patch) * patch * patch  # (B, 1, h, w)
    mean = sums / counts.clamp_min(1.0)
    return mean.flatten(2).transpose(1, 2)  # (B, N, 3)


class _StringAttention(MultiheadAttention):
    """Self-attention whose queries and keys are rotated by Cayley-STRING at the tokens' positions."""

    def __init__(self, width: int, heads: int, dropout: float, string: bool) -> None:
        super().__init__(width, heads, dropout)
        self.string = CayleySTRING(width // heads) if string else None

    def forward_positions(self, x: torch.Tensor, positions: torch.Tensor | None) -> torch.Tensor:
        b, n, c = x.shape
        q, k, v = self._split(self.q(x)), self._split(self.k(x)), self._split(self.v(x))  # (B, H, N, hd)
        if self.string is not None and positions is not None:
            r = positions[:, None]  # (B, 1, N, 3): one position per token, shared by the heads
            q, k = self.string(q, r), self.string(k, r)
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0)
        return self.proj(out.transpose(1, 2).reshape(b, n, c))


class _Block(nn.Module):
    """Pre-norm block as :class:`workbench.models.transformer.Block`, with positions for STRING."""

    def __init__(self, width: int, heads: int, mlp_ratio: float, dropout: float, string: bool) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(width)
        self.attn = _StringAttention(width, heads, dropout, string)
        self.norm2 = nn.LayerNorm(width)
        self.mlp = MLP(width, int(width * mlp_ratio), dropout)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, positions: torch.Tensor | None) -> torch.Tensor:
        x = x + self.drop(self.attn.forward_positions(self.norm1(x), positions))
        return x + self.mlp(self.norm2(x))


class MultiViewViT(nn.Module):
    """Patchify conv over the tiled views, STRING (or learned) positions, pre-norm transformer;
    returns the patch tokens for a MAP head (§III-B)."""

    def __init__(self, config: MultiViewViTConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or MultiViewViTConfig()
        string = cfg.positions == PositionKind.STRING.value
        self.patchify = nn.Conv2d(cfg.in_channels, cfg.width, cfg.patch_size, stride=cfg.patch_size)
        self.pos = None if string else nn.Parameter(torch.randn(1, cfg.num_patches, cfg.width) * 0.02)
        self.blocks = nn.ModuleList(_Block(cfg.width, cfg.heads, cfg.mlp_ratio, cfg.dropout, string) for _ in range(cfg.depth))
        self.norm = nn.LayerNorm(cfg.width)
        self.feature_layer = nn.Identity()  # (B, C, h, w) token grid, for LayerGradCam
        self.register_buffer("_centre", torch.tensor(cfg.xyz_centre), persistent=False)

    def standardize(self, images: torch.Tensor) -> torch.Tensor:
        """Metres → roughly unit scale; empty pixels stay exactly 0."""
        cfg = self.config
        valid = images[:, :1] > 0
        d = (images[:, :1] - cfg.depth_centre) / cfg.xyz_scale
        xyz = (images[:, 1:] - self._centre.to(images.dtype)[None, :, None, None]) / cfg.xyz_scale
        return torch.cat([d, xyz], dim=1) * valid

    def forward(self, images: torch.Tensor) -> ViTOutput:
        cfg = self.config
        want = (cfg.in_channels, cfg.view_size, cfg.num_views * cfg.view_size)
        if images.ndim != 4 or tuple(images.shape[1:]) != want:
            raise ValueError(f"images must be (B, {want[0]}, {want[1]}, {want[2]}) tiled depth + XYZ views, got {tuple(images.shape)}")
        images = images.float()
        positions = patch_positions(images, cfg.patch_size)  # (B, N, 3) world metres
        x = self.patchify(self.standardize(images)).flatten(2).transpose(1, 2)  # (B, N, C)
        if self.pos is not None:
            x = x + self.pos
        for block in self.blocks:
            x = block(x, None if self.pos is not None else positions)
        x = self.norm(x)
        b, n, c = x.shape
        h, w = cfg.grid
        tokens = self.feature_layer(x.transpose(1, 2).reshape(b, c, h, w)).flatten(2).transpose(1, 2)
        return ViTOutput(tokens=tokens, cls=None)
