"""Baselines the contrastive methods are compared with.

* :class:`BehaviorCloning` — an image encoder and an MLP chunk head trained end to end on the
  normalised chunk, L1 or MSE over the valid steps (the BC of CLASS's comparisons).
* :class:`DirectRegression` — CAIP App. E, variant (i): CAIP's image and text towers with the
  text-conditioned pooling, and an MLP that regresses the whole chunk from the pooled
  image-text embedding, "L1 loss on per-dimension-normalized targets, masked over valid
  timesteps". The paper found it learns no useful representation; it is here to show that.
* :class:`RandomEncoder` — a randomly initialised encoder that is never trained: ``trains`` is
  False, every parameter has ``requires_grad=False`` and ``training_step`` returns a zero loss
  that is not attached to any graph. Its embeddings are the floor every method should beat.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any, ClassVar

import torch
from torch import nn

from workbench.methods.base import Method, MethodConfig, check_resnet_image_size, masked_regression_loss
from workbench.methods.caip import CAIPConfig, ImageTextTowers
from workbench.models import (
    MAPHead,
    MAPHeadConfig,
    MLPChunkHead,
    MLPChunkHeadConfig,
    ResNetGNConfig,
    ResNetGNEncoder,
    ViTConfig,
    ViTEncoder,
)
from workbench.models.config import check_heads, check_positive
from workbench.models.chunk_decoder import PatchChunkDecoder, PatchChunkDecoderConfig

__all__ = [
    "BehaviorCloning",
    "BehaviorCloningConfig",
    "DirectRegression",
    "DirectRegressionConfig",
    "EncoderKind",
    "ImageEncoder",
    "RandomEncoder",
    "RandomEncoderConfig",
]


class EncoderKind(str, Enum):
    RESNET = "resnet"  # ResNet-18-GN + spatial softmax (CLASS App. C.1)
    VIT = "vit"  # ViT + MAP pooling


class ImageEncoder(nn.Module):
    """images (B, C, S, S) -> embedding (B, E) with either backbone."""

    def __init__(self, kind: EncoderKind, image_size: int, in_channels: int, embed_dim: int, *, width_multiplier: float,
                 num_keypoints: int, patch_size: int, vit_width: int, vit_depth: int, vit_heads: int) -> None:
        super().__init__()
        self.kind = kind
        if kind is EncoderKind.RESNET:
            check_resnet_image_size("ImageEncoder(resnet)", image_size)
            self.backbone: nn.Module = ResNetGNEncoder(ResNetGNConfig(in_channels=in_channels, width_multiplier=width_multiplier,
                                                                      num_keypoints=num_keypoints, out_dim=embed_dim))
        else:
            self.backbone = ViTEncoder(ViTConfig(image_size=image_size, patch_size=patch_size, in_channels=in_channels,
                                                 width=vit_width, depth=vit_depth, heads=vit_heads))
            self.pool = MAPHead(MAPHeadConfig(width=vit_width, heads=vit_heads))
            self.proj = nn.Linear(vit_width, embed_dim)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.kind is EncoderKind.RESNET:
            return self.backbone(images).embedding  # (B, E)
        return self.proj(self.pool(self.backbone(images).tokens).pooled)  # (B, E)


@dataclass(frozen=True)
class _EncoderFields:
    encoder: EncoderKind = EncoderKind.RESNET  # image backbone
    embed_dim: int = 64  # size of the image embedding
    width_multiplier: float = 1.0  # ResNet widths scale (1.0 = ResNet-18)
    num_keypoints: int = 32  # ResNet spatial-softmax keypoints
    patch_size: int = 12  # ViT patch side; must divide the image size
    vit_width: int = 192  # ViT width
    vit_depth: int = 6  # ViT blocks
    vit_heads: int = 3  # ViT heads; must divide vit_width

    def _check_encoder(self) -> None:
        object.__setattr__(self, "encoder", EncoderKind(self.encoder))
        check_positive(self, embed_dim=self.embed_dim, width_multiplier=self.width_multiplier,
                       num_keypoints=self.num_keypoints, patch_size=self.patch_size, vit_width=self.vit_width,
                       vit_depth=self.vit_depth, vit_heads=self.vit_heads)
        check_heads(self, "vit_heads", "vit_width")

    def make_encoder(self, image_size: int, in_channels: int) -> ImageEncoder:
        return ImageEncoder(self.encoder, image_size, in_channels, self.embed_dim,
                            width_multiplier=self.width_multiplier, num_keypoints=self.num_keypoints,
                            patch_size=self.patch_size, vit_width=self.vit_width, vit_depth=self.vit_depth,
                            vit_heads=self.vit_heads)


_SMOKE_ENCODER = dict(embed_dim=32, width_multiplier=0.125, num_keypoints=8, patch_size=8, vit_width=32, vit_depth=1,
                      vit_heads=2)
_SAMPLE_ENCODER = dict(embed_dim=64, width_multiplier=0.25, num_keypoints=16, patch_size=8, vit_width=64, vit_depth=2,
                       vit_heads=2)


def _check_loss(owner: object, loss: str) -> None:
    if loss not in ("l1", "mse"):
        raise ValueError(f"{type(owner).__name__}.loss must be 'l1' or 'mse', got {loss!r}")


@dataclass(frozen=True)
class BehaviorCloningConfig(_EncoderFields, MethodConfig):
    head_hidden: int = 256  # MLP chunk-head hidden width
    head_depth: int = 2  # MLP chunk-head hidden layers
    loss: str = "l1"  # "l1" or "mse" on the normalised chunk, valid steps only

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {"smoke": dict(_SMOKE_ENCODER, head_hidden=64, head_depth=1),
                                                     "sample": dict(_SAMPLE_ENCODER, head_hidden=256, head_depth=2)}

    def __post_init__(self) -> None:
        self._check_encoder()
        check_positive(self, head_hidden=self.head_hidden)
        if self.head_depth < 0:
            raise ValueError(f"BehaviorCloningConfig.head_depth must be >= 0, got {self.head_depth!r}")
        _check_loss(self, self.loss)


class BehaviorCloning(Method):
    name: ClassVar[str] = "bc"
    config_class: ClassVar[type[MethodConfig]] = BehaviorCloningConfig

    def build(self) -> None:
        cfg: BehaviorCloningConfig = self.config  # type: ignore[assignment]
        m = self.meta
        self.encoder = cfg.make_encoder(m.image_size, m.image_channels)
        self.head = MLPChunkHead(MLPChunkHeadConfig(in_dim=cfg.embed_dim, horizon=m.horizon, action_dim=m.chunk_dim,
                                                    hidden=cfg.head_hidden, depth=cfg.head_depth))

    def encode_images(self, images: torch.Tensor, text: list[str] | None = None) -> torch.Tensor:
        return self.normalize(self.encoder(images.to(self.device)))

    def predict(self, images: torch.Tensor) -> torch.Tensor:
        """The normalised chunk (B, H, D) the policy predicts."""
        return self.head(self.encoder(images.to(self.device)))

    def training_step(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        b = self.to_device(batch)
        pred = self.predict(b["image"])
        loss = masked_regression_loss(pred, b["chunk"], b["mask"], self.config.loss)  # type: ignore[attr-defined]
        return {"loss": loss}


@dataclass(frozen=True)
class DirectRegressionConfig(CAIPConfig):
    variant: str = "pooled"  # App. E (i) "pooled": MLP on the pooled embedding; (ii) "patches": decoder on all patch tokens
    head_hidden: int = 256  # MLP hidden width (variant i)
    head_depth: int = 2  # MLP hidden layers (variant i)
    decoder_depth: int = 2  # transformer decoder layers (variant ii)
    loss: str = "l1"  # App. E: L1 (MSE "yielded similar results")

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": dict(CAIPConfig.PRESETS["smoke"], head_hidden=64, head_depth=1),
        "sample": dict(CAIPConfig.PRESETS["sample"], head_hidden=256, head_depth=2),
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive(self, head_hidden=self.head_hidden)
        if self.head_depth < 0:
            raise ValueError(f"DirectRegressionConfig.head_depth must be >= 0, got {self.head_depth!r}")
        if self.variant not in ("pooled", "patches"):
            raise ValueError(f"DirectRegressionConfig.variant must be 'pooled' (App. E i) or 'patches' (App. E ii), got {self.variant!r}")
        check_positive(self, decoder_depth=self.decoder_depth)
        _check_loss(self, self.loss)


class DirectRegression(Method):
    """CAIP App. E: direct action regression as a pre-training objective, two variants.

    (i) ``variant="pooled"``: an MLP regresses the chunk from the pooled text-conditioned image
    embedding, which is also the representation. (ii) ``variant="patches"``: a transformer decoder
    (:class:`~workbench.models.chunk_decoder.PatchChunkDecoder`) regresses it from the full ViT patch
    sequence; the representation is then the mean patch token (the pooling is not trained).
    The action tower and the SigLIP parameters of :class:`CAIPConfig` are unused here.
    """

    name: ClassVar[str] = "direct_regression"
    config_class: ClassVar[type[MethodConfig]] = DirectRegressionConfig

    def build(self) -> None:
        cfg: DirectRegressionConfig = self.config  # type: ignore[assignment]
        m = self.meta
        self.tokenizer = self.make_tokenizer()
        self.towers = ImageTextTowers(cfg, m.image_size, m.image_channels, self.tokenizer.vocab_size, cfg.embed_dim)
        if cfg.variant == "patches":
            self.head = PatchChunkDecoder(PatchChunkDecoderConfig(width=cfg.width, heads=cfg.vision_heads,
                                                                  depth=cfg.decoder_depth, horizon=m.horizon,
                                                                  action_dim=m.chunk_dim))
        else:
            self.head = MLPChunkHead(MLPChunkHeadConfig(in_dim=cfg.embed_dim, horizon=m.horizon, action_dim=m.chunk_dim,
                                                        hidden=cfg.head_hidden, depth=cfg.head_depth))

    def _pooled(self, images: torch.Tensor, text: list[str] | None) -> torch.Tensor:
        ids, mask = self.tokenize(text, images.shape[0], self.config.text_max_len)  # type: ignore[attr-defined]
        return self.towers(images.to(self.device), ids, mask).pooled  # (B, E)

    def encode_images(self, images: torch.Tensor, text: list[str] | None = None) -> torch.Tensor:
        if self.config.variant == "patches":  # type: ignore[attr-defined]
            return self.normalize(self.towers.vision(images.to(self.device)).tokens.mean(1))  # (B, C)
        return self.normalize(self._pooled(images, text))

    def predict(self, images: torch.Tensor, text: list[str] | None = None) -> torch.Tensor:
        if self.config.variant == "patches":  # type: ignore[attr-defined]
            return self.head(self.towers.vision(images.to(self.device)).tokens)  # (B, H, D)
        return self.head(self._pooled(images, text))  # (B, H, D)

    def training_step(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        b = self.to_device(batch)
        pred = self.predict(b["image"], b["text"])
        return {"loss": masked_regression_loss(pred, b["chunk"], b["mask"], self.config.loss)}  # type: ignore[attr-defined]


@dataclass(frozen=True)
class RandomEncoderConfig(_EncoderFields, MethodConfig):
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {"smoke": dict(_SMOKE_ENCODER), "sample": dict(_SAMPLE_ENCODER)}

    def __post_init__(self) -> None:
        self._check_encoder()


class RandomEncoder(Method):
    """A randomly initialised, never trained encoder (seed it before building)."""

    name: ClassVar[str] = "random_encoder"
    config_class: ClassVar[type[MethodConfig]] = RandomEncoderConfig
    trains: ClassVar[bool] = False

    def build(self) -> None:
        cfg: RandomEncoderConfig = self.config  # type: ignore[assignment]
        self.encoder = cfg.make_encoder(self.meta.image_size, self.meta.image_channels)
        self.encoder.requires_grad_(False)

    def encode_images(self, images: torch.Tensor, text: list[str] | None = None) -> torch.Tensor:
        return self.normalize(self.encoder(images.to(self.device)))

    def training_step(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """Zero loss without a graph: there is nothing to train (``trains`` is False)."""
        return {"loss": torch.zeros((), device=self.device)}
