"""One module per paper method (config dataclass, model assembly, loss step) plus baselines.

``build_method(name, config, meta)`` builds any of :data:`METHODS` (config: a dataclass, a dict,
a preset name such as ``"smoke"``, or None); ``load_method(path)`` restores a saved one. What a
method can embed is a type (:mod:`.capabilities`: ``isinstance(method, ActionEmbedder)``).
"""

from __future__ import annotations

from workbench.methods.base import Method, MethodConfig, masked_regression_loss, read_checkpoint_header
from workbench.methods.baselines import (
    BehaviorCloning,
    BehaviorCloningConfig,
    DirectRegression,
    DirectRegressionConfig,
    RandomEncoder,
    RandomEncoderConfig,
)
from workbench.methods.caip import CAIP, CAIPConfig
from workbench.methods.clamp import CLAMP, CLAMPConfig, clamp_text_fn, make_clamp_text
from workbench.methods.clap import (
    ActVAEMethod,
    ActVAEMethodConfig,
    RateDistortionPoint,
    rate_distortion,
    sweep_rate_distortion,
)
from workbench.methods.clap_policy import ClapNTP, ClapNTPConfig, ClapRF, ClapRFConfig
from workbench.methods.clap_vdvae import VDVAEConfig, VDVAEMethod
from workbench.methods.class_method import CLASS, CLASSConfig
from workbench.methods.registry import METHODS, build_method, load_method, method_names

__all__ = [
    "ActVAEMethod",
    "ActVAEMethodConfig",
    "BehaviorCloning",
    "BehaviorCloningConfig",
    "CAIP",
    "CAIPConfig",
    "CLAMP",
    "CLAMPConfig",
    "CLASS",
    "CLASSConfig",
    "ClapNTP",
    "ClapNTPConfig",
    "ClapRF",
    "ClapRFConfig",
    "DirectRegression",
    "DirectRegressionConfig",
    "METHODS",
    "Method",
    "MethodConfig",
    "RandomEncoder",
    "RandomEncoderConfig",
    "RateDistortionPoint",
    "VDVAEConfig",
    "VDVAEMethod",
    "build_method",
    "clamp_text_fn",
    "load_method",
    "make_clamp_text",
    "masked_regression_loss",
    "method_names",
    "rate_distortion",
    "read_checkpoint_header",
    "sweep_rate_distortion",
]
