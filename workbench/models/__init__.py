"""Encoders (vision, text, action), pooling heads, Act-VAE and policy heads.

Every model takes one frozen config dataclass (``to_dict`` / ``from_dict``) and is rebuilt from
a checkpoint with :func:`build_model` and :func:`model_config_dict`.
"""

from __future__ import annotations

from workbench.models.act_vae import ActVAE, ActVAEConfig, ActVAEOutput
from workbench.models.action import (
    ActionEncoder,
    ActionEncoderConfig,
    ActionOutput,
    PoolKind,
)
from workbench.models.config import ModelConfig
from workbench.models.factory import ModelKind, build_model, model_config_dict
from workbench.models.heads import (
    FlowMatchingHead,
    FlowMatchingHeadConfig,
    MLPChunkHead,
    MLPChunkHeadConfig,
    TimeSampling,
    sample_flow_time,
)
from workbench.models.pooling import (
    MAPHead,
    MAPHeadConfig,
    MAPOutput,
    TextConditionedPooling,
    TextPoolingConfig,
    TextPoolingOutput,
)
from workbench.models.text import TextEncoder, TextEncoderConfig, TextOutput, WordTokenizer
from workbench.models.vision import (
    ResNetGNConfig,
    ResNetGNEncoder,
    ResNetGNOutput,
    SpatialSoftmax,
    ViTConfig,
    ViTEncoder,
    ViTOutput,
)
from workbench.models.vq import VectorQuantizer, VQOutput

__all__ = [
    "ActVAE",
    "ActVAEConfig",
    "ActVAEOutput",
    "ActionEncoder",
    "ActionEncoderConfig",
    "ActionOutput",
    "FlowMatchingHead",
    "FlowMatchingHeadConfig",
    "MAPHead",
    "MAPHeadConfig",
    "MAPOutput",
    "MLPChunkHead",
    "MLPChunkHeadConfig",
    "ModelConfig",
    "ModelKind",
    "PoolKind",
    "ResNetGNConfig",
    "ResNetGNEncoder",
    "ResNetGNOutput",
    "SpatialSoftmax",
    "TextConditionedPooling",
    "TextEncoder",
    "TextEncoderConfig",
    "TextOutput",
    "TextPoolingConfig",
    "TextPoolingOutput",
    "TimeSampling",
    "VQOutput",
    "VectorQuantizer",
    "ViTConfig",
    "ViTEncoder",
    "ViTOutput",
    "WordTokenizer",
    "build_model",
    "model_config_dict",
    "sample_flow_time",
]
