"""Job configuration: dataclasses serialised to YAML, presets, and ``--set key=value`` overrides.

A :class:`TrainConfig` is complete and validated before any work starts: unknown keys and bad
values are refused with a :class:`ConfigError` naming the key and what is allowed. The method's own
settings live in ``method_config`` and are validated by the method's config dataclass.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

__all__ = ["ConfigError", "DataConfig", "OptimConfig", "TrainConfig", "TRAIN_PRESETS", "make_config", "apply_overrides", "config_diff"]


class ConfigError(ValueError):
    """A configuration key or value is not allowed; the message names it and the alternatives."""


CHUNK_KINDS = ("raw", "ee", "hand", "relative")
OPTIMIZERS = ("adamw", "lars")


@dataclass
class DataConfig:
    path: str = "data_samples/metaworld"  # dataset folder or file (any layout load_dataset reads)
    camera: str | None = None  # which camera's frames; None = the dataset's first camera
    chunk_kind: str = "ee"  # raw actions, end-effector poses (CLASS App. B), hand poses or relative SE(3) motion of hands/end effector (CAIP §2.4.2)
    horizon: int = 16  # chunk length H (CLASS App. B: 16; CAIP: 64 at 30 Hz)
    stride: int = 1  # one sample every `stride` steps
    image_size: int | None = 64  # square side images are resized to; None keeps the stored size
    val_fraction: float = 0.25  # held-out episodes per task (stratified, seeded)
    history: int = 0  # CLAMP action-history length (0 = none)
    split_seed: int | None = None  # seed of the train/val split; None = the run's seed (seed sweeps on one split set it)

    def __post_init__(self) -> None:
        if self.chunk_kind not in CHUNK_KINDS:
            raise ConfigError(f"data.chunk_kind must be one of {CHUNK_KINDS}, got {self.chunk_kind!r}")
        for name in ("horizon", "stride"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"data.{name} must be ≥ 1, got {getattr(self, name)}")
        if self.image_size is not None and not 8 <= int(self.image_size) <= 1024:
            raise ConfigError(f"data.image_size must be in [8, 1024] or null, got {self.image_size}")
        if not 0 <= float(self.val_fraction) < 1:
            raise ConfigError(f"data.val_fraction must be in [0, 1), got {self.val_fraction}")
        if int(self.history) < 0:
            raise ConfigError(f"data.history must be ≥ 0, got {self.history}")


@dataclass
class OptimConfig:
    lr: float = 3e-4  # peak learning rate
    weight_decay: float = 1e-4  # AdamW decoupled weight decay (CAIP App. C.3: 1e-4)
    beta1: float = 0.9
    beta2: float = 0.98  # CAIP App. C.3
    eps: float = 1e-6  # CAIP App. C.3
    warmup_steps: int = 10  # linear warm-up, then cosine decay to zero (CAIP App. C.3)
    grad_clip: float = 1.0  # max global gradient norm; 0 disables
    name: str = "adamw"  # "adamw" (CAIP App. C.3) or "lars" (CLASS App. B; see workbench.train.optim)
    momentum: float = 0.9  # LARS momentum (CLASS App. B Table 4: 0.9)
    ema_power: float = 0.0  # EMA of the weights with this power (CLASS App. B Table 3: 0.75); 0 = off
    accumulate: int = 1  # micro-batches per step (gradient accumulation); batch_size must divide by it

    def __post_init__(self) -> None:
        if self.name not in OPTIMIZERS:
            raise ConfigError(f"optim.name must be one of {OPTIMIZERS}, got {self.name!r}")
        if not 0 <= float(self.momentum) < 1 or float(self.ema_power) < 0 or int(self.accumulate) < 1:
            raise ConfigError("optim.momentum must be in [0, 1), optim.ema_power ≥ 0 and optim.accumulate ≥ 1")
        if not float(self.lr) > 0:
            raise ConfigError(f"optim.lr must be > 0, got {self.lr}")
        if float(self.weight_decay) < 0 or float(self.grad_clip) < 0 or int(self.warmup_steps) < 0:
            raise ConfigError("optim.weight_decay, optim.grad_clip and optim.warmup_steps must be ≥ 0")
        for b in ("beta1", "beta2"):
            if not 0 <= float(getattr(self, b)) < 1:
                raise ConfigError(f"optim.{b} must be in [0, 1), got {getattr(self, b)}")


@dataclass
class TrainConfig:
    method: str  # caip, class, clamp, clap_actvae, bc, direct_regression, random_encoder
    method_config: dict = field(default_factory=dict)  # the method's own config (validated by it)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    steps: int = 200  # optimiser steps
    batch_size: int = 32  # the global batch (split across ranks under torchrun)
    seed: int = 0
    log_every: int = 10  # metrics.jsonl and status.json every N steps
    ckpt_every: int = 50  # checkpoint every N steps (and at the end, and on SIGTERM)
    keep_checkpoints: int = 3  # older checkpoints are deleted, the newest N kept
    device: str = "auto"  # auto (cuda if available), cpu, cuda, cuda:N
    num_threads: int = 0  # torch CPU threads; 0 = torch's default
    preset: str | None = None  # the preset this config started from (informational)

    def __post_init__(self) -> None:
        if isinstance(self.data, dict):
            self.data = _build(DataConfig, self.data, "data")
        if isinstance(self.optim, dict):
            self.optim = _build(OptimConfig, self.optim, "optim")
        from workbench.methods import METHODS

        if self.method not in METHODS:
            raise ConfigError(f"method must be one of {sorted(METHODS)}, got {self.method!r}")
        for name in ("steps", "batch_size", "log_every", "ckpt_every", "keep_checkpoints"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name} must be ≥ 1, got {getattr(self, name)}")
        if int(self.batch_size) % int(self.optim.accumulate):
            raise ConfigError(f"batch_size {self.batch_size} is not divisible by optim.accumulate {self.optim.accumulate}")
        if not (self.device in ("auto", "cpu", "cuda") or self.device.startswith("cuda:")):
            raise ConfigError(f"device must be auto, cpu, cuda or cuda:N, got {self.device!r}")
        self.method_config = dict(self.method_config or {})
        self.method_config_object()  # validates the method's settings now, not mid-run

    def method_config_object(self):
        from workbench.methods import METHODS

        cfg_cls = METHODS[self.method][0]
        try:
            return _build(cfg_cls, self.method_config, "method_config")
        except ConfigError:
            raise
        except (TypeError, ValueError) as e:
            raise ConfigError(f"method_config: {e}") from e

    # -- (de)serialisation -------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        return _build(cls, d, "")

    @classmethod
    def from_yaml(cls, path: str | Path) -> TrainConfig:
        path = Path(path)
        try:
            text = path.read_text()
        except FileNotFoundError as e:
            raise ConfigError(f"{path}: config file not found") from e
        return cls.from_yaml_text(text, where=str(path))

    @classmethod
    def from_yaml_text(cls, text: str, *, where: str = "config") -> TrainConfig:
        """The config in YAML ``text`` (an edited config, a file's contents); :class:`ConfigError`
        names ``where`` when it is not YAML or not a mapping."""
        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise ConfigError(f"{where}: not valid YAML ({e})") from e
        if not isinstance(raw, dict):
            raise ConfigError(f"{where}: expected a mapping at the top level")
        return cls.from_dict(raw)


def _build(cls, d: dict, prefix: str):
    """Instantiate dataclass ``cls`` from ``d``, refusing unknown keys by name."""
    if not isinstance(d, dict):
        raise ConfigError(f"{prefix or 'config'} must be a mapping, got {type(d).__name__}")
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
        where = f"{prefix}." if prefix else ""
        raise ConfigError(f"unknown key {where}{unknown[0]}; allowed: {', '.join(sorted(names))}")
    missing = [f.name for f in fields(cls) if f.name not in d and f.default is dataclasses.MISSING
               and f.default_factory is dataclasses.MISSING]  # fmt: skip
    if missing:
        raise ConfigError(f"{prefix or 'config'} is missing required key {missing[0]!r}")
    d = {k: _coerce(cls, k, v, prefix) for k, v in d.items()}
    try:
        return cls(**d)
    except ConfigError:
        raise
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{prefix + ': ' if prefix else ''}{e}") from e


def _coerce(cls, key: str, value: Any, prefix: str) -> Any:
    """Numbers written as strings (YAML 1.1 reads ``3e-3`` as text) become the field's number type."""
    kind = str(next(f.type for f in fields(cls) if f.name == key))
    if not isinstance(value, str) or kind.split("|")[0].strip() not in ("int", "float"):
        return value
    try:
        return int(value) if kind.startswith("int") else float(value)
    except ValueError:
        where = f"{prefix}.{key}" if prefix else key
        raise ConfigError(f"{where} must be a number, got {value!r}") from None


#: Train-level settings per preset; the method's own preset supplies ``method_config``.
TRAIN_PRESETS: dict[str, dict[str, Any]] = {
    # under a minute on 2 cores: a handful of steps on small images
    "smoke": {"steps": 12, "batch_size": 16, "log_every": 2, "ckpt_every": 4, "num_threads": 1,
              "data": {"image_size": 64, "stride": 2},
              "optim": {"warmup_steps": 2, "lr": 1e-3}},
    # a useful model on the shipped samples in ≤ 10 minutes on 2 cores
    "sample": {"steps": 1500, "batch_size": 64, "log_every": 10, "ckpt_every": 250, "num_threads": 1,
               "data": {"image_size": 64, "stride": 1},
               "optim": {"warmup_steps": 30, "lr": 5e-4}},
    # CLASS App. B Tables 3-4: LARS (lr 0.5, momentum 0.9, weight decay 1e-6) at batch 160, 500
    # warm-up steps then cosine, clip 0.5, EMA power 0.75; 2,000 steps ≈ 50 epochs of 32 demos on
    # three tasks. Hours on 2 cores: a GPU preset. optim.accumulate=K splits the batch when memory
    # requires (note: a contrastive loss then sees 160/K negatives per micro-batch).
    "class-appb": {"steps": 2000, "batch_size": 160, "log_every": 10, "ckpt_every": 250, "keep_checkpoints": 9,
                   "data": {"image_size": 64, "stride": 1},
                   "optim": {"name": "lars", "lr": 0.5, "momentum": 0.9, "weight_decay": 1e-6, "warmup_steps": 500,
                             "grad_clip": 0.5, "ema_power": 0.75, "accumulate": 1}},
}  # fmt: skip


def _merge(base: dict, update: dict) -> dict:
    out = dict(base)
    for k, v in update.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def make_config(method: str, preset: str | None = None, overrides: list[str] | None = None, **base: Any) -> TrainConfig:
    """A validated config for ``method`` from an optional preset and ``key=value`` overrides."""
    from workbench.methods import METHODS

    if method not in METHODS:
        raise ConfigError(f"method must be one of {sorted(METHODS)}, got {method!r}")
    d: dict[str, Any] = {"method": method, **base}
    if preset is not None:
        own = METHODS[method][0].TRAIN_PRESETS  # a method's own presets (CLAP's "paper")
        if preset not in TRAIN_PRESETS and preset not in own:
            raise ConfigError(f"preset must be one of {sorted({*TRAIN_PRESETS, *own})}, got {preset!r}")
        train_level = _merge(TRAIN_PRESETS.get(preset, {}), own.get(preset, {}))
        d = _merge(_merge(TrainConfig(method=method).to_dict(), train_level), d)
        d["method_config"] = _merge(method_preset(method, preset), d.get("method_config", {}))
        d["preset"] = preset
    defaults = getattr(METHODS[method][1], "data_defaults", {})
    if defaults:
        d["data"] = _merge(defaults, d.get("data", {})) if preset is None else _merge(d.get("data", {}), defaults)
    cfg = TrainConfig.from_dict(_merge(TrainConfig(method=method).to_dict(), d))
    return apply_overrides(cfg, overrides or [])


def method_preset(method: str, preset: str) -> dict:
    """The method's own settings for ``preset``; a method without that preset uses its defaults."""
    from workbench.methods import METHODS

    cfg_cls = METHODS[method][0]
    name = preset if preset in getattr(cfg_cls, "PRESETS", {}) else "default"
    return cfg_cls.preset(name).to_dict()


def _parse_value(text: str) -> Any:
    """A YAML value, plus the numbers YAML 1.1 leaves as strings (``3e-3`` has no dot)."""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        value = text
    if isinstance(value, str):
        for kind in (int, float):
            try:
                return kind(value)
            except ValueError:
                pass
    return value


def apply_overrides(cfg: TrainConfig, overrides: list[str]) -> TrainConfig:
    """Apply ``key=value`` overrides (dotted keys, YAML values): ``optim.lr=1e-3``, ``data.camera=wrist``."""
    d = cfg.to_dict()
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like key=value")
        key, text = item.split("=", 1)
        parts = key.strip().split(".")
        node = d
        for i, p in enumerate(parts[:-1]):
            if not isinstance(node.get(p), dict):
                where = ".".join(parts[: i + 1])
                raise ConfigError(f"unknown key {where}; allowed: {', '.join(sorted(k for k in node))}")
            node = node[p]
        leaf = parts[-1]
        if leaf not in node and parts[0] != "method_config":
            raise ConfigError(f"unknown key {key}; allowed: {', '.join(sorted(node))}")
        node[leaf] = _parse_value(text)
    return TrainConfig.from_dict(d)


def config_diff(a: dict, b: dict, prefix: str = "") -> list[tuple[str, Any, Any]]:
    """``(key, a_value, b_value)`` for every leaf that differs between two config dicts."""
    out = []
    for k in sorted(set(a) | set(b)):
        va, vb = a.get(k), b.get(k)
        key = f"{prefix}{k}"
        if isinstance(va, dict) and isinstance(vb, dict):
            out += config_diff(va, vb, key + ".")
        elif va != vb:
            out.append((key, va, vb))
    return out
