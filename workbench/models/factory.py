"""One factory layer: rebuild any model of this package from ``(kind, config dict)``.

A checkpoint stores ``model_config_dict(model)`` next to ``model.state_dict()``;
``build_model(**that_dict)`` then gives a module the state dict loads into.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from torch import nn

from workbench.models.act_vae import ActVAE, ActVAEConfig
from workbench.models.action import ActionEncoder, ActionEncoderConfig
from workbench.models.config import ModelConfig
from workbench.models.heads import FlowMatchingHead, FlowMatchingHeadConfig, MLPChunkHead, MLPChunkHeadConfig
from workbench.models.pooling import MAPHead, MAPHeadConfig, TextConditionedPooling, TextPoolingConfig
from workbench.models.text import TextEncoder, TextEncoderConfig
from workbench.models.vision import ResNetGNConfig, ResNetGNEncoder, ViTConfig, ViTEncoder

__all__ = ["ModelKind", "build_model", "model_config_dict"]


class ModelKind(str, Enum):
    VIT = "vit"
    RESNET_GN = "resnet_gn"
    TEXT = "text"
    ACTION = "action"
    ACT_VAE = "act_vae"
    MAP_HEAD = "map_head"
    TEXT_POOLING = "text_pooling"
    MLP_CHUNK_HEAD = "mlp_chunk_head"
    FLOW_MATCHING_HEAD = "flow_matching_head"


_REGISTRY: dict[ModelKind, tuple[type[ModelConfig], type[nn.Module]]] = {
    ModelKind.VIT: (ViTConfig, ViTEncoder),
    ModelKind.RESNET_GN: (ResNetGNConfig, ResNetGNEncoder),
    ModelKind.TEXT: (TextEncoderConfig, TextEncoder),
    ModelKind.ACTION: (ActionEncoderConfig, ActionEncoder),
    ModelKind.ACT_VAE: (ActVAEConfig, ActVAE),
    ModelKind.MAP_HEAD: (MAPHeadConfig, MAPHead),
    ModelKind.TEXT_POOLING: (TextPoolingConfig, TextConditionedPooling),
    ModelKind.MLP_CHUNK_HEAD: (MLPChunkHeadConfig, MLPChunkHead),
    ModelKind.FLOW_MATCHING_HEAD: (FlowMatchingHeadConfig, FlowMatchingHead),
}


def _kind(kind: ModelKind | str) -> ModelKind:
    try:
        return ModelKind(kind)
    except ValueError:
        raise ValueError(f"unknown model kind {kind!r}; choose one of {[k.value for k in ModelKind]}") from None


def build_model(kind: ModelKind | str, config: ModelConfig | dict[str, Any] | None = None) -> nn.Module:
    """Build a model of ``kind`` from its config (dataclass, dict from ``to_dict``, or None for
    the defaults)."""
    k = _kind(kind)
    config_cls, model_cls = _REGISTRY[k]
    if config is None:
        config = config_cls()
    elif isinstance(config, dict):
        config = config_cls.from_dict(config)
    elif not isinstance(config, config_cls):
        raise ValueError(f"config for {k.value!r} must be {config_cls.__name__}, got {type(config).__name__}")
    return model_cls(config)  # type: ignore[call-arg]


def model_config_dict(model: nn.Module) -> dict[str, Any]:
    """``{"kind": ..., "config": {...}}``, JSON-able; ``build_model(**d)`` rebuilds the model."""
    for kind, (config_cls, model_cls) in _REGISTRY.items():
        if type(model) is model_cls:
            return {"kind": kind.value, "config": model.config.to_dict()}  # type: ignore[union-attr]
    raise ValueError(f"{type(model).__name__} is not a model this factory can rebuild")
