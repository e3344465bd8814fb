"""The method registry: name -> (config class, method class), and the factories over it.

Written out by hand (no decorators, no import-time magic): adding a method means importing it
here and adding one line to :data:`METHODS`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_model

from workbench.data.training_samples import SampleMeta
from workbench.methods.base import FrozenRun, Method, MethodConfig, read_checkpoint_header
from workbench.methods.baselines import (
    BehaviorCloning,
    BehaviorCloningConfig,
    DirectRegression,
    DirectRegressionConfig,
    RandomEncoder,
    RandomEncoderConfig,
)
from workbench.methods.caip import CAIP, CAIPConfig
from workbench.methods.clamp import CLAMP, CLAMPConfig
from workbench.methods.clap import ActVAEMethod, ActVAEMethodConfig
from workbench.methods.clap_policy import ClapNTP, ClapNTPConfig, ClapRF, ClapRFConfig
from workbench.methods.clap_vdvae import VDVAEConfig, VDVAEMethod
from workbench.methods.class_method import CLASS, CLASSConfig
from workbench.methods.comparators import SigLIP, SigLIPConfig, SimCLR, SimCLRConfig

__all__ = ["METHODS", "build_method", "load_method", "method_names"]

METHODS: dict[str, tuple[type[MethodConfig], type[Method]]] = {
    "caip": (CAIPConfig, CAIP),
    "class": (CLASSConfig, CLASS),
    "clamp": (CLAMPConfig, CLAMP),
    "clap_actvae": (ActVAEMethodConfig, ActVAEMethod),
    "clap_vdvae": (VDVAEConfig, VDVAEMethod),
    "clap_ntp": (ClapNTPConfig, ClapNTP),
    "clap_rf": (ClapRFConfig, ClapRF),
    "bc": (BehaviorCloningConfig, BehaviorCloning),
    "direct_regression": (DirectRegressionConfig, DirectRegression),
    "random_encoder": (RandomEncoderConfig, RandomEncoder),
    "siglip": (SigLIPConfig, SigLIP),
    "simclr": (SimCLRConfig, SimCLR),
}


def method_names() -> list[str]:
    return sorted(METHODS)


def build_method(
    name: str,
    config: MethodConfig | dict[str, Any] | str | None,
    meta: SampleMeta,
    *,
    dataset: Any = None,
    runs: Mapping[str, FrozenRun] | None = None,
) -> Method:
    """Build method ``name`` from a config (dataclass, ``to_dict`` dict, a preset name, or None
    for the defaults) and the sample meta; with ``dataset`` also run ``prepare(dataset)``. ``runs``:
    the trained runs the method builds on (:meth:`Method.dependencies`), already loaded."""
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; choose one of {method_names()}")
    config_cls, method_cls = METHODS[name]
    if config is None:
        config = config_cls()
    elif isinstance(config, str):
        config = config_cls.preset(config)
    elif isinstance(config, dict):
        config = config_cls.from_dict(config)
    elif not isinstance(config, config_cls):
        raise ValueError(f"config for {name!r} must be a {config_cls.__name__}, got {type(config).__name__}")
    method = method_cls(config, meta, runs)
    if dataset is not None:
        method.prepare(dataset)
    return method


def load_method(path: str | Path, map_location: str | torch.device = "cpu", *, expect: type[Method] = Method) -> Method:
    """The method saved at ``path`` by :meth:`Method.save` (any registered method; ``expect``
    refuses one of another class)."""
    header = read_checkpoint_header(path)
    name = header["method"]
    if name not in METHODS:
        raise ValueError(f"{path}: unknown method {name!r}; known: {sorted(METHODS)}")
    config_cls, method_cls = METHODS[name]
    if not issubclass(method_cls, expect):
        raise ValueError(f"{path} holds a {name!r} method, not a {expect.__name__}")
    method = method_cls(config_cls.from_dict(header["config"]), SampleMeta.from_dict(header["meta"]))
    load_model(method, str(path), strict=True, device=str(map_location))
    return method.to(map_location)
