"""Image encoders: a small ViT returning patch tokens (CAIP §2.1, C.2) and a ResNet-18 with
GroupNorm and a spatial-softmax keypoint head (CLASS §4.2, App. C.1, Fig. 2).

Both accept (B, C, H, W) images, either uint8 in [0, 255] or float in [0, 1] (uint8 is divided by
255; floats are taken as already in [0, 1] and not range-checked, which would cost a device
sync). With ``normalize=True`` pixels are then mapped to [-1, 1] by (x - 0.5) / 0.5, SigLIP's
normalisation; set it False for inputs that are already standardised (e.g. CLAMP's depth+XYZ).

Both keep a ``feature_layer`` attribute for captum's ``LayerGradCam``: a module whose output is
a (B, C, h, w) feature map computed from the input.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from workbench.models.config import ModelConfig, check_heads, check_positive, check_probability
from workbench.models.transformer import Transformer

__all__ = [
    "ResNetGNConfig",
    "ResNetGNEncoder",
    "ResNetGNOutput",
    "SpatialSoftmax",
    "ViTConfig",
    "ViTEncoder",
    "ViTOutput",
    "prepare_images",
]


def prepare_images(images: torch.Tensor, in_channels: int, normalize: bool) -> torch.Tensor:
    """uint8 or float (B, C, H, W) -> float, optionally mapped from [0, 1] to [-1, 1]."""
    if images.ndim != 4 or images.shape[1] != in_channels:
        raise ValueError(
            f"images must be (B, {in_channels}, H, W), got shape {tuple(images.shape)}"
        )
    if images.dtype == torch.uint8:
        images = images.float() / 255.0
    elif not images.is_floating_point():
        raise ValueError(f"images must be uint8 or floating point, got {images.dtype}")
    return (images - 0.5) / 0.5 if normalize else images


# --------------------------------------------------------------------------------------------
# ViT


@dataclass(frozen=True)
class ViTConfig(ModelConfig):
    image_size: int = 96  # square input side in pixels; must be a multiple of patch_size
    patch_size: int = 12  # side of the square patches cut by the patchify conv
    in_channels: int = 3  # 3 for RGB; 4 for CLAMP's depth + XYZ renders
    width: int = 192  # token width C
    depth: int = 6  # number of pre-norm transformer blocks
    heads: int = 3  # attention heads; must divide width
    mlp_ratio: float = 4.0  # MLP hidden width / token width
    dropout: float = 0.0  # dropout on attention weights, MLP and residual branches
    use_cls: bool = False  # prepend a learned CLS token (SigLIP uses none, MAP pools instead)
    normalize: bool = True  # map [0, 1] pixels to [-1, 1] before patchifying

    def __post_init__(self) -> None:
        check_positive(self, image_size=self.image_size, patch_size=self.patch_size,
                       in_channels=self.in_channels, width=self.width, depth=self.depth,
                       heads=self.heads, mlp_ratio=self.mlp_ratio)
        check_probability(self, dropout=self.dropout)
        if self.image_size % self.patch_size != 0:
            raise ValueError(
                f"ViTConfig.image_size ({self.image_size}) must be a multiple of patch_size "
                f"({self.patch_size})"
            )
        check_heads(self)

    @property
    def grid_size(self) -> int:
        return self.image_size // self.patch_size

    @property
    def num_patches(self) -> int:
        return self.grid_size**2


@dataclass(frozen=True)
class ViTOutput:
    tokens: torch.Tensor  # (B, N, C) patch tokens after the final LayerNorm, row-major grid
    cls: torch.Tensor | None  # (B, C) CLS token if config.use_cls else None


class ViTEncoder(nn.Module):
    """Patchify conv, learned positions, pre-norm transformer; returns patch tokens (CAIP §2.1:
    no global pooling, the full patch sequence goes to the pooling module)."""

    def __init__(self, config: ViTConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or ViTConfig()
        self.patchify = nn.Conv2d(cfg.in_channels, cfg.width, cfg.patch_size, stride=cfg.patch_size)
        n_tokens = cfg.num_patches + int(cfg.use_cls)
        self.pos = nn.Parameter(torch.randn(1, n_tokens, cfg.width) * 0.02)
        self.cls = nn.Parameter(torch.zeros(1, 1, cfg.width)) if cfg.use_cls else None
        self.transformer = Transformer(cfg.width, cfg.depth, cfg.heads, cfg.mlp_ratio, cfg.dropout)
        # identity on the (B, C, h, w) token grid: a conv-shaped layer for LayerGradCam to hook
        self.feature_layer = nn.Identity()

    def forward(self, images: torch.Tensor) -> ViTOutput:
        cfg = self.config
        if images.shape[-2:] != (cfg.image_size, cfg.image_size):
            raise ValueError(
                f"images must be {cfg.image_size}x{cfg.image_size}, got {tuple(images.shape[-2:])}"
            )
        x = prepare_images(images, cfg.in_channels, cfg.normalize)
        x = self.patchify(x).flatten(2).transpose(1, 2)  # (B, N, C)
        if self.cls is not None:
            x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1)  # (B, 1+N, C)
        x = self.transformer(x + self.pos)
        cls, tokens = (x[:, 0], x[:, 1:]) if self.cls is not None else (None, x)
        b, n, c = tokens.shape
        grid = tokens.transpose(1, 2).reshape(b, c, cfg.grid_size, cfg.grid_size)  # (B, C, h, w)
        tokens = self.feature_layer(grid).flatten(2).transpose(1, 2)  # (B, N, C)
        return ViTOutput(tokens=tokens, cls=cls)


# --------------------------------------------------------------------------------------------
# ResNet-18 with GroupNorm + spatial softmax


def _group_norm(channels: int) -> nn.GroupNorm:
    # 16 channels per group as in Diffusion Policy's BatchNorm->GroupNorm swap (CLASS App. C.1)
    return nn.GroupNorm(max(1, channels // 16), channels)


class BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.norm1 = _group_norm(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.norm2 = _group_norm(c_out)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride, bias=False), _group_norm(c_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.norm1(self.conv1(x)))
        out = self.norm2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class SpatialSoftmax(nn.Module):
    """Keypoints as expected (x, y) under a per-channel softmax over the feature map
    (Levine et al. 2016; robomimic's SpatialSoftmax). Coordinates lie in [-1, 1] because each is
    a convex combination of grid positions in [-1, 1]."""

    def __init__(self, in_channels: int, num_keypoints: int, learnable_temperature: bool = False) -> None:
        super().__init__()
        self.keypoint_conv = nn.Conv2d(in_channels, num_keypoints, 1)
        self.log_temperature = nn.Parameter(torch.zeros(()), requires_grad=learnable_temperature)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """features (B, C, h, w) -> keypoints (B, K, 2) and attention (B, K, h, w)."""
        x = self.keypoint_conv(features)  # (B, K, h, w)
        b, k, h, w = x.shape
        attn = (x.flatten(2) / self.log_temperature.exp()).softmax(dim=-1)  # (B, K, h*w)
        ys = torch.linspace(-1.0, 1.0, h, device=x.device, dtype=x.dtype)
        xs = torch.linspace(-1.0, 1.0, w, device=x.device, dtype=x.dtype)
        grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
        pos = torch.stack([grid_x.reshape(-1), grid_y.reshape(-1)], dim=-1)  # (h*w, 2)
        keypoints = attn @ pos  # (B, K, 2)
        return keypoints, attn.view(b, k, h, w)


@dataclass(frozen=True)
class ResNetGNConfig(ModelConfig):
    in_channels: int = 3  # image channels
    width_multiplier: float = 1.0  # scales ResNet-18's stage widths 64/128/256/512 (tests: 0.125)
    num_keypoints: int = 32  # spatial-softmax keypoints K; the flattened 2K go to the projection
    out_dim: int = 64  # size of the final linear projection (the representation z)
    learnable_temperature: bool = False  # learn the spatial-softmax temperature
    normalize: bool = True  # map [0, 1] pixels to [-1, 1]

    def __post_init__(self) -> None:
        check_positive(self, in_channels=self.in_channels, width_multiplier=self.width_multiplier,
                       num_keypoints=self.num_keypoints, out_dim=self.out_dim)

    @property
    def widths(self) -> tuple[int, int, int, int]:
        w = tuple(max(1, round(c * self.width_multiplier)) for c in (64, 128, 256, 512))
        return w  # type: ignore[return-value]


@dataclass(frozen=True)
class ResNetGNOutput:
    embedding: torch.Tensor  # (B, out_dim) projection of the flattened keypoints
    keypoints: torch.Tensor  # (B, K, 2) expected (x, y) in [-1, 1]
    attention: torch.Tensor  # (B, K, h, w) spatial-softmax maps


class ResNetGNEncoder(nn.Module):
    """ResNet-18 backbone with GroupNorm, spatial softmax and a linear projection
    (CLASS §4.2, App. C.1, Fig. 2). ``feature_layer`` is the last residual stage."""

    def __init__(self, config: ResNetGNConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or ResNetGNConfig()
        w1, w2, w3, w4 = cfg.widths
        self.stem = nn.Sequential(
            nn.Conv2d(cfg.in_channels, w1, 7, 2, 3, bias=False),
            _group_norm(w1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2, 1),
        )
        self.layer1 = nn.Sequential(BasicBlock(w1, w1, 1), BasicBlock(w1, w1, 1))
        self.layer2 = nn.Sequential(BasicBlock(w1, w2, 2), BasicBlock(w2, w2, 1))
        self.layer3 = nn.Sequential(BasicBlock(w2, w3, 2), BasicBlock(w3, w3, 1))
        self.layer4 = nn.Sequential(BasicBlock(w3, w4, 2), BasicBlock(w4, w4, 1))
        self.feature_layer = self.layer4
        self.spatial_softmax = SpatialSoftmax(w4, cfg.num_keypoints, cfg.learnable_temperature)
        self.proj = nn.Linear(2 * cfg.num_keypoints, cfg.out_dim)

    def forward(self, images: torch.Tensor) -> ResNetGNOutput:
        x = prepare_images(images, self.config.in_channels, self.config.normalize)
        x = self.layer4(self.layer3(self.layer2(self.layer1(self.stem(x)))))  # (B, C4, h, w)
        keypoints, attn = self.spatial_softmax(x)  # (B, K, 2), (B, K, h, w)
        embedding = self.proj(keypoints.flatten(1))  # (B, out_dim)
        return ResNetGNOutput(embedding=embedding, keypoints=keypoints, attention=attn)
