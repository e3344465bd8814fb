"""CLAMP: tri-modal contrastive pre-training of image, text and action-history encoders
(paper 002, §III-B, Eq. 1–3).

* Image encoder: a ViT whose tokens are pooled by multihead attention pooling (MAP). With
  ``image_input="dxyz"`` (the paper's) it reads the merged point cloud re-rendered as depth + XYZ
  virtual views — fixed and wrist views tiled side by side (:mod:`workbench.data.views`) — and
  its attention carries Cayley-STRING on each patch's mean XYZ (:mod:`workbench.models.multiview`,
  §III-B, §III-D); ``positions="learned"`` is Table III's "without STRING" and
  ``wrist_views=False`` its "without virtual wrist views". ``image_input="rgb"`` (the ablation
  "RGB instead of D+XYZ") reads one camera's RGB frames with a plain ViT.
* Text encoder: over a string holding (i) the task description, (ii) each object's name and
  normalised position in the global frame and (iii) an integer for task progress (§III-B), built
  per sample by :func:`make_clamp_text`.
* Action encoder: a transformer with MAP pooling over the previous H actions
  ``(a_{t-1}, …, a_{t-H})``, zero-padded before the episode start, H the chunk size (§III-A).

Loss: the mean of the image–text, image–action and text–action SigLIP losses with one shared
learnable t and b, initialised t = 10, b = −10 (Eq. 1–3).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from functools import partial
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from workbench.data.views import DEFAULT_VIEWS, ViewImages
from workbench.losses import CLAMP_INIT_TEMPERATURE, MAX_TEMPERATURE, SIGLIP_INIT_BIAS, TriModalSigLIPLoss
from workbench.methods.base import Method, MethodConfig
from workbench.models import (
    ActionEncoder,
    ActionEncoderConfig,
    MAPHead,
    MAPHeadConfig,
    PoolKind,
    TextEncoder,
    TextEncoderConfig,
    ViTConfig,
    ViTEncoder,
)
from workbench.models.config import check_heads, check_positive, check_probability
from workbench.models.multiview import MultiViewViT, MultiViewViTConfig, PositionKind
from workbench.types import Episode

__all__ = ["CLAMP", "CLAMPConfig", "ImageInput", "METAWORLD_OBJECT_DIMS", "OBJECT_PREFIX", "clamp_text_fn", "make_clamp_text"]

#: Metaworld's 39-D observation: hand position (0:3), gripper distance (3), then the first
#: object's position (4:7) and quaternion (7:11), a second object (11:18), a frame stack of the
#: same 18 numbers for the previous step (18:36) and the goal (36:39).
METAWORLD_OBJECT_DIMS = (4, 7)
#: Episode extras ``object.<i>`` hold object ``i``'s world position ``(T, 3)`` per step, named by
#: ``Episode.objects`` (recorded by the metaworld generator); object 0 is the one the task manipulates.
OBJECT_PREFIX = "object."


class ImageInput(str, Enum):
    DXYZ = "dxyz"  # depth + XYZ virtual views of the merged point cloud (§III-B)
    RGB = "rgb"  # one camera's RGB frames (ablation)


def _objects(ep: Episode) -> list[tuple[str, np.ndarray]]:
    """``(name, (T, 3) positions)`` of the objects the episode records, object 0 first; an object
    without a name in ``ep.objects`` is called "object"."""
    found = []
    for key, value in ep.extras.items():
        index = key[len(OBJECT_PREFIX):]
        if key.startswith(OBJECT_PREFIX) and index.isdigit():
            i = int(index)
            name = ep.objects[i] if i < len(ep.objects) else "object"
            found.append((i, name, np.asarray(value, dtype=np.float64).reshape(len(ep), -1)[:, :3]))
    return [(name, pos) for _, name, pos in sorted(found, key=lambda f: f[0])]


def _normalised_word(v: float, lo: float, hi: float) -> str:
    # position in the workspace box as a whole percentage, 0..100 (§III-B: normalised positions)
    return str(int(np.clip(round(100.0 * (float(v) - lo) / (hi - lo)), 0, 100)))


def _coordinate_word(v: float) -> str:
    # The word tokenizer strips punctuation ("-0.12" would become "012"), so positions become
    # whole centimetres with the sign spelled out: a small closed vocabulary per axis.
    cm = int(round(100.0 * float(v)))
    return f"neg{-cm}" if cm < 0 else str(cm)


def make_clamp_text(
    ep: Episode,
    t: int,
    *,
    object_dims: tuple[int, int] | None = METAWORLD_OBJECT_DIMS,
    object_name: str = "object",
    with_progress: bool = True,
) -> str:
    """CLAMP's text for step ``t`` of ``ep`` (§III-B): task description, each object's name and
    position, and progress = round(100 t / T).

    Objects come from the episode's ``object.<i>`` extras named by ``ep.objects``, each position normalised to the
    workspace box of :data:`workbench.data.views.DEFAULT_VIEWS` as whole percentages per axis
    ("puck at x 45 y 62 z 3"). Episodes recorded before those extras existed fall back to one
    object read from ``ep.state[t, object_dims[0]:object_dims[1]]`` (metaworld's object position,
    metres), written in centimetres; it is left out when the state is not that wide or
    ``object_dims`` is None.
    """
    parts = [ep.instruction or ep.task]
    objects = _objects(ep)
    if objects:
        lo, hi = DEFAULT_VIEWS.workspace_lo, DEFAULT_VIEWS.workspace_hi
        for name, pos in objects:
            words = " ".join(f"{axis} {_normalised_word(v, a, b)}" for axis, v, a, b in zip("xyz", pos[t], lo, hi))
            parts.append(f"{name} at {words}")
    elif object_dims is not None and ep.state is not None and ep.state.ndim == 2 and ep.state.shape[1] >= object_dims[1]:
        pos = np.asarray(ep.state[t, object_dims[0] : object_dims[1]], dtype=np.float64)
        parts.append(f"{object_name} at " + " ".join(f"{axis} {_coordinate_word(v)}" for axis, v in zip("xyz", pos)))
    if with_progress:
        parts.append(f"progress {int(round(100.0 * t / len(ep)))}")
    return ". ".join(parts)


def clamp_text_fn(config: CLAMPConfig) -> Callable[[Episode, int], str]:
    """The ``text_fn`` to give :class:`FrameChunkDataset` for this config's text."""
    dims = tuple(config.object_dims) if config.object_dims is not None else None
    return partial(make_clamp_text, object_dims=dims, object_name=config.object_name, with_progress=config.with_progress)


@dataclass(frozen=True)
class CLAMPConfig(MethodConfig):
    patch_size: int = 12  # ViT patch side; must divide the data's image size
    vision_width: int = 192  # ViT width
    vision_depth: int = 6  # ViT blocks
    vision_heads: int = 3  # ViT and MAP heads; must divide vision_width
    text_width: int = 128  # text transformer width
    text_depth: int = 4  # text transformer blocks
    text_heads: int = 4  # text heads; must divide text_width
    text_max_len: int = 32  # tokens incl. <cls>: description + object words + progress
    action_width: int = 128  # history-encoder width
    action_depth: int = 2  # history-encoder layers
    action_heads: int = 4  # history-encoder heads; must divide action_width
    dropout: float = 0.0  # dropout in all three towers
    embed_dim: int = 128  # shared embedding size of the three modalities
    init_temperature: float = CLAMP_INIT_TEMPERATURE  # t at init (§III-B: 10)
    max_temperature: float = MAX_TEMPERATURE  # t is clamped here
    init_bias: float = SIGLIP_INIT_BIAS  # b at init (§III-B: −10)
    object_dims: tuple[int, int] | None = METAWORLD_OBJECT_DIMS  # state columns of the object position
    object_name: str = "object"  # how the text names the object
    with_progress: bool = True  # append "progress N" to the text
    image_input: str = ImageInput.RGB.value  # "dxyz": depth + XYZ virtual views (the paper); "rgb": camera frames
    view_size: int = 32  # side of each virtual view (dxyz); patch_size must divide it
    wrist_views: bool = True  # add the two virtual wrist views (dxyz; Table III "without virtual wrist views")
    positions: str = PositionKind.STRING.value  # dxyz encoder: "string" or "learned" (Table III "without STRING")

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": dict(patch_size=8, vision_width=32, vision_depth=1, vision_heads=2, text_width=32, text_depth=1,
                      text_heads=2, text_max_len=24, action_width=32, action_depth=1, action_heads=2, embed_dim=32),
        "sample": dict(patch_size=8, vision_width=64, vision_depth=2, vision_heads=2, text_width=64, text_depth=1,
                       text_heads=2, text_max_len=24, action_width=64, action_depth=2, action_heads=4, embed_dim=64),
    }

    def __post_init__(self) -> None:
        check_positive(self, patch_size=self.patch_size, vision_width=self.vision_width, vision_depth=self.vision_depth,
                       vision_heads=self.vision_heads, text_width=self.text_width, text_depth=self.text_depth,
                       text_heads=self.text_heads, action_width=self.action_width, action_depth=self.action_depth,
                       action_heads=self.action_heads, embed_dim=self.embed_dim,
                       init_temperature=self.init_temperature)
        check_probability(self, dropout=self.dropout)
        ImageInput(self.image_input)
        PositionKind(self.positions)
        if self.image_input == ImageInput.DXYZ.value and self.view_size % self.patch_size:
            raise ValueError(f"CLAMPConfig.patch_size ({self.patch_size}) must divide view_size ({self.view_size})")
        if self.text_max_len < 2:
            raise ValueError(f"CLAMPConfig.text_max_len must be >= 2, got {self.text_max_len}")
        if self.max_temperature < self.init_temperature:
            raise ValueError(f"CLAMPConfig.max_temperature ({self.max_temperature}) must be >= init_temperature ({self.init_temperature})")
        if self.object_dims is not None:
            dims = tuple(self.object_dims)
            if len(dims) != 2 or not 0 <= dims[0] < dims[1]:
                raise ValueError(f"CLAMPConfig.object_dims must be (start, stop) with 0 <= start < stop, got {self.object_dims!r}")
            object.__setattr__(self, "object_dims", (int(dims[0]), int(dims[1])))
        for modality in ("vision", "text", "action"):
            check_heads(self, f"{modality}_heads", f"{modality}_width")


class CLAMP(Method):
    name: ClassVar[str] = "clamp"
    config_class: ClassVar[type[MethodConfig]] = CLAMPConfig
    #: data settings a training job needs for this method (merged into ``TrainConfig.data``)
    #: H = the chunk size (§III-A): the default data horizon is 16
    data_defaults: ClassVar[dict[str, Any]] = {"history": 16}

    @classmethod
    def loader_kwargs(cls, config: CLAMPConfig) -> dict[str, Any]:
        """Extra :class:`FrameChunkDataset` arguments: the CLAMP text (task, objects, progress)
        and, for ``image_input="dxyz"``, the tiled virtual views in place of the camera frames."""
        kw: dict[str, Any] = {"text_fn": clamp_text_fn(config)}
        if config.image_input == ImageInput.DXYZ.value:
            kw["image_fn"] = ViewImages(size=config.view_size, wrist=config.wrist_views)
        return kw

    def build(self) -> None:
        cfg: CLAMPConfig = self.config  # type: ignore[assignment]
        m = self.meta
        if m.history < 1:
            raise ValueError("CLAMP needs an action history: build the FrameChunkDataset with history >= 1")
        self.tokenizer = self.make_tokenizer()
        self.vision: nn.Module
        if cfg.image_input == ImageInput.DXYZ.value:
            if m.image_channels != 4 or m.image_size != cfg.view_size:
                raise ValueError(f"CLAMP dxyz needs the samples' tiled {cfg.view_size}-px depth + XYZ views (build the "
                                 f"FrameChunkDataset with CLAMP.loader_kwargs(config)); got {m.image_channels}-channel "
                                 f"{m.image_size}-px images")  # fmt: skip
            self.vision = MultiViewViT(MultiViewViTConfig(
                view_size=cfg.view_size, num_views=len(DEFAULT_VIEWS.names(cfg.wrist_views)), patch_size=cfg.patch_size,
                width=cfg.vision_width, depth=cfg.vision_depth, heads=cfg.vision_heads, dropout=cfg.dropout,
                positions=cfg.positions))  # fmt: skip
        else:
            self.vision = ViTEncoder(ViTConfig(image_size=m.image_size, patch_size=cfg.patch_size, in_channels=m.image_channels,
                                               width=cfg.vision_width, depth=cfg.vision_depth, heads=cfg.vision_heads,
                                               dropout=cfg.dropout))
        self.vision_pool = MAPHead(MAPHeadConfig(width=cfg.vision_width, heads=cfg.vision_heads, dropout=cfg.dropout))
        self.vision_proj = nn.Linear(cfg.vision_width, cfg.embed_dim)
        self.text = TextEncoder(TextEncoderConfig(vocab_size=self.tokenizer.vocab_size, max_len=cfg.text_max_len,
                                                  width=cfg.text_width, depth=cfg.text_depth, heads=cfg.text_heads,
                                                  dropout=cfg.dropout, out_dim=cfg.embed_dim))
        self.action = ActionEncoder(ActionEncoderConfig(action_dim=m.action_dim, horizon=m.history, width=cfg.action_width,
                                                        depth=cfg.action_depth, heads=cfg.action_heads,
                                                        dropout=cfg.dropout, out_dim=cfg.embed_dim, pool=PoolKind.MAP))
        self.loss_fn = TriModalSigLIPLoss(cfg.init_temperature, cfg.init_bias, cfg.max_temperature)

    def encode_images(self, images: torch.Tensor, text: list[str] | None = None) -> torch.Tensor:
        """MAP-pooled ViT embedding x (B, E), L2-normalised; text is ignored."""
        tokens = self.vision(images.to(self.device)).tokens  # (B, N, C)
        return self.normalize(self.vision_proj(self.vision_pool(tokens).pooled))

    def encode_text(self, texts: list[str]) -> torch.Tensor:
        ids, mask = self.tokenize(texts, len(texts), self.config.text_max_len)  # type: ignore[attr-defined]
        return self.normalize(self.text(ids, mask).pooled)  # (B, E)

    def encode_history(self, history: torch.Tensor) -> torch.Tensor:
        """history (B, h, A), most recent first. The zero padding before the episode start is
        fed as zeros, not masked out (§III-B), so a history at t = 0 still has an embedding."""
        return self.normalize(self.action(history.to(self.device)).embedding)  # (B, E)

    def training_step(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        b = self.to_device(batch)
        x = self.encode_images(b["image"])
        y = self.encode_text(b["text"])
        z = self.encode_history(b["history"])
        loss = self.loss_fn(x, y, z)
        with torch.no_grad():
            eye = torch.arange(x.shape[0], device=x.device)
            acc = (((x @ z.T).argmax(1) == eye).float().mean())
        return {"loss": loss, "temperature": self.loss_fn.temperature.detach(), "bias": self.loss_fn.bias.detach(),
                "img2act_top1": acc}
