"""The comparators of CAIP Fig. 1/4, trained here because no pre-trained weights can be downloaded.

CAIP App. A.1 shows three kinds of map side by side: CAIP's text-conditioned pooling map, the MAP
probe of an image–text **SigLIP** model, and a per-image PCA of **DINOv2**'s patch tokens. At our
scale both comparators are small ViTs trained on the same frames:

* :class:`SigLIP` (``siglip``) — image–text sigmoid contrastive learning (Zhai et al. 2023): a ViT
  pooled by a MAP head (the "learned probe" whose map App. A.1 shows) against the instruction's
  text tower. Frames of one task share their instruction, so every pair with the same text is a
  positive (the plain diagonal would push identical captions apart).
* :class:`SimCLR` (``simclr``) — a self-supervised image tower standing in for DINOv2: two random
  shifts + pixel noise of each frame (CLASS §4.2's augmentations), NT-Xent over the 2B views
  (Chen et al. 2020) — exactly CLASS's soft InfoNCE with the other view as the only positive.
  Self-distillation à la DINO needs far more data and steps than the samples hold; SimCLR learns
  from a few thousand frames.

Neither sees actions: they are what CAIP's action supervision is compared against.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from workbench.losses import CAIP_INIT_TEMPERATURE, MAX_TEMPERATURE, SIGLIP_INIT_BIAS, siglip_multi_positive_loss, soft_info_nce
from workbench.methods.base import Method, MethodConfig
from workbench.methods.class_method import augment_images
from workbench.models import MAPHead, MAPHeadConfig, TextEncoder, TextEncoderConfig, ViTConfig, ViTEncoder
from workbench.models.config import check_heads, check_positive

__all__ = ["SigLIP", "SigLIPConfig", "SimCLR", "SimCLRConfig"]


@dataclass(frozen=True)
class _ViTFields:
    patch_size: int = 8  # ViT patch side; must divide the image size
    width: int = 64  # ViT (and text) width
    depth: int = 2  # ViT blocks
    heads: int = 2  # heads; must divide width
    embed_dim: int = 64  # size of the image embedding

    def _check_vit(self) -> None:
        check_positive(self, patch_size=self.patch_size, width=self.width, depth=self.depth, heads=self.heads,
                       embed_dim=self.embed_dim)
        check_heads(self)


class _MAPViT(nn.Module):
    """ViT patch tokens pooled by a MAP head, projected: images (B, C, S, S) -> (B, E)."""

    def __init__(self, cfg: _ViTFields, image_size: int, in_channels: int) -> None:
        super().__init__()
        self.vision = ViTEncoder(ViTConfig(image_size=image_size, patch_size=cfg.patch_size, in_channels=in_channels,
                                           width=cfg.width, depth=cfg.depth, heads=cfg.heads))
        self.pool = MAPHead(MAPHeadConfig(width=cfg.width, heads=cfg.heads))
        self.proj = nn.Linear(cfg.width, cfg.embed_dim)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.proj(self.pool(self.vision(images).tokens).pooled)


_SMOKE = dict(patch_size=8, width=32, depth=1, heads=2, embed_dim=32)
_SAMPLE = dict(patch_size=8, width=64, depth=2, heads=2, embed_dim=64)


@dataclass(frozen=True)
class SigLIPConfig(_ViTFields, MethodConfig):
    text_depth: int = 1  # text transformer blocks
    text_max_len: int = 12  # instruction tokens incl. <cls>
    init_temperature: float = CAIP_INIT_TEMPERATURE  # t at init (SigLIP / CAIP C.3: 1/0.07 … here as CAIP)
    max_temperature: float = MAX_TEMPERATURE
    init_bias: float = SIGLIP_INIT_BIAS  # b at init (−10)

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {"smoke": dict(_SMOKE), "sample": dict(_SAMPLE)}

    def __post_init__(self) -> None:
        self._check_vit()
        check_positive(self, text_depth=self.text_depth, init_temperature=self.init_temperature)
        if self.text_max_len < 2:
            raise ValueError(f"SigLIPConfig.text_max_len must be >= 2, got {self.text_max_len}")


class SigLIP(Method):
    """Image–text SigLIP with a MAP-pooled ViT (the comparator of CAIP Fig. 1/4)."""

    name: ClassVar[str] = "siglip"
    config_class: ClassVar[type[MethodConfig]] = SigLIPConfig

    def build(self) -> None:
        cfg: SigLIPConfig = self.config  # type: ignore[assignment]
        self.tokenizer = self.make_tokenizer()
        self.image = _MAPViT(cfg, self.meta.image_size, self.meta.image_channels)
        self.text = TextEncoder(TextEncoderConfig(vocab_size=self.tokenizer.vocab_size, max_len=cfg.text_max_len,
                                                  width=cfg.width, depth=cfg.text_depth, heads=cfg.heads,
                                                  out_dim=cfg.embed_dim))
        self.log_scale = nn.Parameter(torch.tensor(float(cfg.init_temperature)).log())
        self.bias = nn.Parameter(torch.tensor(float(cfg.init_bias)))

    def encode_images(self, images: torch.Tensor, text: list[str] | None = None) -> torch.Tensor:
        return self.normalize(self.image(images.to(self.device)))

    def encode_text(self, texts: list[str]) -> torch.Tensor:
        ids, mask = self.tokenize(texts, len(texts), self.config.text_max_len)  # type: ignore[attr-defined]
        return self.normalize(self.text(ids, mask).pooled)

    def training_step(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        b = self.to_device(batch)
        texts = list(b["text"])
        zi, zt = self.encode_images(b["image"]), self.encode_text(texts)
        same = torch.tensor([[a == c for c in texts] for a in texts], device=zi.device)  # (B, B) positives
        scale = self.log_scale.exp().clamp(max=self.config.max_temperature)  # type: ignore[attr-defined]
        loss = siglip_multi_positive_loss(zi, zt, scale, self.bias, same)
        return {"loss": loss, "temperature": scale.detach()}


@dataclass(frozen=True)
class SimCLRConfig(_ViTFields, MethodConfig):
    tau: float = 0.1  # NT-Xent temperature (SimCLR: 0.1 … 0.5)
    crop_pad: int = 4  # random shift by up to this many pixels (replicate padding)
    noise_std: float = 0.02  # Gaussian pixel noise on [0, 1]

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {"smoke": dict(_SMOKE, crop_pad=2), "sample": dict(_SAMPLE)}

    def __post_init__(self) -> None:
        self._check_vit()
        check_positive(self, tau=self.tau)
        if self.crop_pad < 0 or self.noise_std < 0:
            raise ValueError("SimCLRConfig.crop_pad and noise_std must be >= 0")


class SimCLR(Method):
    """Self-supervised ViT: two augmented views of each frame are each other's only positive."""

    name: ClassVar[str] = "simclr"
    config_class: ClassVar[type[MethodConfig]] = SimCLRConfig

    def build(self) -> None:
        self.image = _MAPViT(self.config, self.meta.image_size, self.meta.image_channels)  # type: ignore[arg-type]

    def encode_images(self, images: torch.Tensor, text: list[str] | None = None) -> torch.Tensor:
        return self.normalize(self.image(images.to(self.device)))

    def training_step(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        cfg: SimCLRConfig = self.config  # type: ignore[assignment]
        images = self.to_device(batch)["image"]
        n = images.shape[0]
        views = torch.cat([augment_images(images, cfg.crop_pad, cfg.noise_std) for _ in range(2)])  # (2B, C, S, S)
        z = self.encode_images(views)  # (2B, E)
        other = torch.arange(2 * n, device=z.device).roll(n)  # view i's partner is i ± B
        weights = torch.zeros(2 * n, 2 * n, device=z.device)
        weights[torch.arange(2 * n, device=z.device), other] = 1.0
        return {"loss": soft_info_nce(z, weights, cfg.tau)}
