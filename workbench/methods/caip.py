"""CAIP: contrastive action-image pre-training (paper 000, §2.1–2.2, App. C.2–C.3).

Three towers: a ViT keeps all patch tokens; a text transformer gives token features; the
instruction tokens query the patches and a learned query pools the result into one
text-conditioned image embedding (§2.1, C.2). A 4-layer transformer with a CLS token embeds the
action chunk that follows the image (C.2). A SigLIP sigmoid loss aligns the two (C.3) with a
learnable temperature in log space initialised to 1/0.07, clamped at 100, and bias −10.

Works on hand chunks (378 numbers per step for two hands) and on robot chunks alike: the action
tower's input size comes from the data. Its defaults follow §2.4.2: relative SE(3) chunks of the
hands (or the end effector), T = 64.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from workbench.losses import CAIP_INIT_TEMPERATURE, MAX_TEMPERATURE, SIGLIP_INIT_BIAS, SigLIPLoss
from workbench.methods.base import Method, MethodConfig
from workbench.models import (
    ActionEncoder,
    ActionEncoderConfig,
    TextConditionedPooling,
    TextEncoder,
    TextEncoderConfig,
    TextPoolingConfig,
    TextPoolingOutput,
    ViTConfig,
    ViTEncoder,
)
from workbench.models.config import check_heads, check_positive, check_probability

__all__ = ["CAIP", "CAIPConfig", "ImageTextTowers"]


@dataclass(frozen=True)
class CAIPConfig(MethodConfig):
    patch_size: int = 12  # ViT patch side; must divide the data's image size
    width: int = 192  # shared width of the image tokens, text tokens and pooling (C.2)
    vision_depth: int = 6  # ViT blocks
    vision_heads: int = 3  # ViT heads; must divide width
    text_depth: int = 4  # text transformer blocks
    text_heads: int = 3  # text heads; must divide width
    text_max_len: int = 32  # instruction tokens incl. <cls> (CAIP: 64)
    pool_heads: int = 3  # heads of both pooling stages (CAIP: 8 for ViT-B)
    pool_dropout: float = 0.1  # attention dropout in the pooling (C.2: 0.1)
    action_width: int = 128  # action transformer width
    action_depth: int = 4  # action transformer layers (C.2: 4)
    action_heads: int = 8  # action transformer heads (C.2: 8)
    action_dropout: float = 0.1  # dropout in the action transformer (C.2: 0.1)
    embed_dim: int = 128  # size of z_img and z_act
    init_temperature: float = CAIP_INIT_TEMPERATURE  # t at init (C.3: 1/0.07)
    max_temperature: float = MAX_TEMPERATURE  # t is clamped here (C.3: 100)
    init_bias: float = SIGLIP_INIT_BIAS  # b at init (C.3: −10)

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        # ~60 K parameters; 50 steps of 16 images at 64 px in a few seconds on one core
        "smoke": dict(patch_size=8, width=32, vision_depth=1, vision_heads=2, text_depth=1, text_heads=2,
                      text_max_len=12, pool_heads=2, pool_dropout=0.0, action_width=32, action_depth=1,
                      action_heads=2, action_dropout=0.0, embed_dim=32),
        # ~0.3 M parameters: a useful model on the shipped samples in a few minutes on 2 cores
        "sample": dict(patch_size=8, width=64, vision_depth=2, vision_heads=2, text_depth=1, text_heads=2,
                       text_max_len=12, pool_heads=2, pool_dropout=0.0, action_width=64, action_depth=2,
                       action_heads=4, action_dropout=0.0, embed_dim=64),
    }

    def __post_init__(self) -> None:
        check_positive(self, patch_size=self.patch_size, width=self.width, vision_depth=self.vision_depth,
                       vision_heads=self.vision_heads, text_depth=self.text_depth, text_heads=self.text_heads,
                       pool_heads=self.pool_heads, action_width=self.action_width,
                       action_depth=self.action_depth, action_heads=self.action_heads,
                       embed_dim=self.embed_dim, init_temperature=self.init_temperature)
        check_probability(self, pool_dropout=self.pool_dropout, action_dropout=self.action_dropout)
        if self.text_max_len < 2:
            raise ValueError(f"CAIPConfig.text_max_len must be >= 2, got {self.text_max_len}")
        if self.max_temperature < self.init_temperature:
            raise ValueError(f"CAIPConfig.max_temperature ({self.max_temperature}) must be >= init_temperature ({self.init_temperature})")
        for heads, width in (("vision_heads", "width"), ("text_heads", "width"), ("pool_heads", "width"),
                             ("action_heads", "action_width")):
            check_heads(self, heads, width)


class ImageTextTowers(torch.nn.Module):
    """ViT patches + text tokens -> text-conditioned pooled image embedding (CAIP §2.1, C.2).

    Shared by CAIP and the direct-regression baseline (App. E, variant (i)).
    """

    def __init__(self, cfg: CAIPConfig, image_size: int, in_channels: int, vocab_size: int, out_dim: int) -> None:
        super().__init__()
        self.vision = ViTEncoder(ViTConfig(image_size=image_size, patch_size=cfg.patch_size, in_channels=in_channels,
                                           width=cfg.width, depth=cfg.vision_depth, heads=cfg.vision_heads))
        self.text = TextEncoder(TextEncoderConfig(vocab_size=vocab_size, max_len=cfg.text_max_len, width=cfg.width,
                                                  depth=cfg.text_depth, heads=cfg.text_heads))
        self.pool = TextConditionedPooling(TextPoolingConfig(width=cfg.width, heads=cfg.pool_heads,
                                                             dropout=cfg.pool_dropout, out_dim=out_dim))

    def forward(self, images: torch.Tensor, ids: torch.Tensor, text_mask: torch.Tensor) -> TextPoolingOutput:
        patches = self.vision(images).tokens  # (B, N, C)
        text = self.text(ids, text_mask)  # tokens (B, L, C); the pooled text vector is unused (C.2)
        return self.pool(patches, text.tokens, text_mask)  # pooled (B, E)


class CAIP(Method):
    name: ClassVar[str] = "caip"
    config_class: ClassVar[type[MethodConfig]] = CAIPConfig
    #: CAIP §2.4.2 / App. C.1: images are aligned with the *relative* SE(3) motion that follows
    #: (pose at t+i relative to t, i = 1 … T, 9-D per keypoint), T = 64 (≈ 2 s of hand motion at
    #: 30 Hz). On a robot the end effector is the keypoint (64 steps ≈ 0.8 s at metaworld's 80 Hz).
    data_defaults: ClassVar[dict[str, Any]] = {"chunk_kind": "relative", "horizon": 64}

    def build(self) -> None:
        cfg: CAIPConfig = self.config  # type: ignore[assignment]
        m = self.meta
        self.tokenizer = self.make_tokenizer()
        self.towers = ImageTextTowers(cfg, m.image_size, m.image_channels, self.tokenizer.vocab_size, cfg.embed_dim)
        self.action = ActionEncoder(ActionEncoderConfig(
            action_dim=m.chunk_dim, horizon=m.horizon, width=cfg.action_width, depth=cfg.action_depth,
            heads=cfg.action_heads, dropout=cfg.action_dropout, out_dim=cfg.embed_dim))
        self.loss_fn = SigLIPLoss(cfg.init_temperature, cfg.init_bias, cfg.max_temperature)

    def pool(self, images: torch.Tensor, text: list[str] | None) -> TextPoolingOutput:
        ids, mask = self.tokenize(text, images.shape[0], self.config.text_max_len)  # type: ignore[attr-defined]
        return self.towers(images.to(self.device), ids, mask)

    def encode_images(self, images: torch.Tensor, text: list[str] | None = None) -> torch.Tensor:
        """Text-conditioned image embedding z_img, L2-normalised (B, E); text defaults to empty."""
        return self.normalize(self.pool(images, text).pooled)

    def encode_actions(self, chunk: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """z_act (B, E), L2-normalised; padded steps are masked in attention (C.3)."""
        return self.normalize(self.action(chunk.to(self.device), None if mask is None else mask.to(self.device)).embedding)

    def training_step(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        b = self.to_device(batch)
        z_img = self.encode_images(b["image"], b["text"])  # (B, E)
        z_act = self.encode_actions(b["chunk"], b["mask"])  # (B, E)
        loss = self.loss_fn(z_img, z_act)
        with torch.no_grad():
            sim = z_img @ z_act.T  # (B, B)
            acc = (sim.argmax(1) == torch.arange(sim.shape[0], device=sim.device)).float().mean()
        return {"loss": loss, "temperature": self.loss_fn.temperature.detach(), "bias": self.loss_fn.bias.detach(),
                "img2act_top1": acc}

    @torch.no_grad()
    def attention_maps(self, images: torch.Tensor, text: list[str] | None = None) -> torch.Tensor:
        """Saliency of the pooling (App. A.1): (B, h, w), each map summing to one.

        The text-token x patch weights (B, heads, L, N) are averaged over heads and combined
        with the learned query's weights over the text tokens, i.e. how much each patch feeds
        the final embedding through the two attention stages.
        """
        out = self.pool(images, text)
        patch = out.attention.mean(1)  # (B, L, N)
        query = out.query_attention.mean(1)  # (B, L)
        sal = (query[:, :, None] * patch).sum(1)  # (B, N)
        g = self.towers.vision.config.grid_size
        return sal.view(-1, g, g)
