"""What every method shares: the config base with presets, the :class:`Method` module and its
checkpoint format.

A method is one ``nn.Module`` built from two things: its config (sizes and loss settings, a
frozen dataclass) and the :class:`~workbench.data.training_samples.SampleMeta` of the data it trains on
(chunk size, horizon, vocabulary, image size). ``training_step(batch)`` takes a collated batch
from :class:`~workbench.data.training_samples.FrameChunkDataset` and returns a dict of scalar tensors with
``loss`` first; the optimiser, schedule, autocast and logging belong to the training loop.

Checkpoints are one safetensors file: the weights, plus the method name, config and sample meta
as JSON in the file's metadata header, so loading never unpickles anything. Files are written to
a temporary name and moved into place with ``os.replace``, so a crash never leaves half a file.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, TypeVar

import torch
import torch.nn.functional as F
from safetensors.torch import save_model
from torch import nn

from workbench.atomic import atomic_path
from workbench.tensorfile import read_metadata
from workbench.data.training_samples import SampleMeta
from workbench.models.config import ModelConfig
from workbench.models.text import WordTokenizer

__all__ = ["CHECKPOINT_FORMAT", "FrozenRun", "Method", "RunDependency", "check_resnet_image_size", "MethodConfig", "masked_regression_loss", "read_checkpoint_header", "split_param_groups"]

CHECKPOINT_FORMAT = "actionlens-method/1"
C = TypeVar("C", bound="MethodConfig")


class FrozenRun(Protocol):
    """A trained run another method builds on, frozen (what ``workbench.train`` loads for it)."""

    @property
    def id(self) -> str: ...
    @property
    def method(self) -> nn.Module: ...
    @property
    def method_name(self) -> str: ...
    @property
    def sample_meta(self) -> SampleMeta: ...
    @property
    def norm_stats(self) -> Any: ...  # NormStats | None: how its chunks were normalised


@dataclass(frozen=True)
class RunDependency:
    """A trained run a method needs (CLAP's VD-VAE needs an Act-VAE and an image tower).

    The method's config holds a reference to it in ``field``: a run directory, a run id, or
    ``"auto"``, which trains (or reuses) a run of ``method`` with ``method_config`` on the same data
    and preset as the dependant run.
    """

    field: str  # name of the config field holding the run reference
    method: str  # the registry method an "auto" reference trains
    method_config: dict[str, Any] = field(default_factory=dict)  # its overrides for an "auto" run
    optional: bool = False  # an empty reference means "not used"


class MethodConfig(ModelConfig):
    """Mixin for method configs: ``to_dict``/``from_dict`` plus named presets.

    ``PRESETS`` maps a preset name to field overrides of the defaults; add an entry (e.g. a
    ``sample`` preset sized for the shipped datasets) to extend it.
    """

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {}
    #: train-level settings (steps, optim, data) a preset of this method brings, merged over the
    #: training preset of that name; a preset only a method has (CLAP's ``paper``) lives here alone
    TRAIN_PRESETS: ClassVar[dict[str, dict[str, Any]]] = {}

    @classmethod
    def preset(cls: type[C], name: str, **overrides: Any) -> C:
        """The config of preset ``name`` (``"default"`` = the dataclass defaults), with overrides."""
        if name == "default":
            return cls(**overrides)
        if name not in cls.PRESETS:
            raise ValueError(f"{cls.__name__} has no preset {name!r}; choose one of {['default', *cls.PRESETS]}")
        return cls(**{**cls.PRESETS[name], **overrides})

    def replace(self: C, **changes: Any) -> C:
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]


def masked_regression_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, kind: str = "l1") -> torch.Tensor:
    """Mean L1 or squared error over the valid steps only (CAIP App. E: "masked over valid
    timesteps"). pred, target (B, H, D); mask (B, H) bool."""
    if kind == "l1":
        err = (pred - target).abs()
    elif kind == "mse":
        err = (pred - target).pow(2)
    else:
        raise ValueError(f"loss kind must be 'l1' or 'mse', got {kind!r}")
    w = mask[..., None].to(err.dtype).expand_as(err)  # (B, H, D)
    return (err * w).sum() / w.sum().clamp_min(1.0)


def split_param_groups(module: nn.Module, special: list[nn.Parameter], scale: float) -> list[dict[str, Any]]:
    """Two optimiser groups: ``special`` at ``lr_scale=scale``, every other trainable parameter at 1."""
    ids = {id(p) for p in special}
    rest = [p for p in module.parameters() if p.requires_grad and id(p) not in ids]
    return [{"params": rest, "lr_scale": 1.0}, {"params": [p for p in special if p.requires_grad], "lr_scale": scale}]


def check_resnet_image_size(owner: str, image_size: int) -> None:
    """ResNet-18 downsamples 32x: below 64 px its last feature map is 1x1 and the spatial
    softmax returns the same keypoints for every image, so nothing could be learned."""
    if image_size < 64:
        raise ValueError(
            f"{owner}: images of {image_size} px leave ResNet-18 a 1x1 feature map; build the "
            f"FrameChunkDataset with image_size >= 64"
        )


class Method(nn.Module):
    """Base class: subclasses set ``name``/``config_class`` and implement ``build``,
    ``training_step`` and ``encode_images``."""

    name: ClassVar[str] = ""
    config_class: ClassVar[type[MethodConfig]]
    #: False for a method whose weights are never updated (the random-encoder baseline); a
    #: training loop skips the backward pass and the optimiser for it.
    trains: ClassVar[bool] = True

    def __init__(self, config: MethodConfig | None, meta: SampleMeta, runs: Mapping[str, FrozenRun] | None = None) -> None:
        super().__init__()
        if config is None:
            config = self.config_class()
        if not isinstance(config, self.config_class):
            raise ValueError(f"{type(self).__name__} needs a {self.config_class.__name__}, got {type(config).__name__}")
        self.config = config
        self.meta = meta
        #: the trained runs this method builds on, by dependency name (see :meth:`dependencies`)
        self.runs: dict[str, FrozenRun] = dict(runs or {})
        missing = [k for k, dep in self.dependencies(config).items()
                   if k not in self.runs and not (dep.optional and not getattr(config, dep.field))]  # fmt: skip
        if missing:
            refs = ", ".join(f"{self.dependencies(config)[k].field}={getattr(config, self.dependencies(config)[k].field)!r}" for k in missing)
            raise ValueError(f"{self.name} builds on trained runs ({refs}) that were not loaded; build it through "
                             f"workbench.train (build_training / load_run), which loads them")
        self.build()

    @classmethod
    def dependencies(cls, config: MethodConfig) -> dict[str, RunDependency]:
        """The trained runs this method builds on, by name; none by default."""
        return {}

    # -- subclass hooks -------------------------------------------------------------------------
    @classmethod
    def loader_kwargs(cls, config: MethodConfig) -> dict[str, Any]:
        """Extra :class:`~workbench.data.training_samples.FrameChunkDataset` arguments this method's samples
        need (CLAMP: its text function); the training loop and
        :meth:`workbench.train.run.TrainedRun.samples` both pass them, so the samples agree."""
        return {}

    def build(self) -> None:
        """Create the networks from ``self.config`` and ``self.meta``."""
        raise NotImplementedError

    def prepare(self, dataset: Any) -> None:
        """Once, before training, with the training :class:`FrameChunkDataset` (CLASS computes
        its DTW positives here). Nothing by default."""

    def training_step(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """One batch -> ``{"loss": scalar, **metrics}``; the caller does backward and the step."""
        raise NotImplementedError

    def param_groups(self) -> list[dict[str, Any]]:
        """Optimiser parameter groups of the trainable parameters; a group's ``lr_scale``
        multiplies the scheduled learning rate. One group at scale 1 by default."""
        return [{"params": [p for p in self.parameters() if p.requires_grad], "lr_scale": 1.0}]

    def after_step(self) -> None:
        """Once after every optimiser step (an EMA teacher's update, CLAP Alg. 2 line 29)."""

    def encode_images(self, images: torch.Tensor, text: list[str] | None = None) -> torch.Tensor:
        """images (B, 3, S, S) uint8 or [0, 1] float -> L2-normalised embeddings (B, C)."""
        raise NotImplementedError

    # -- helpers ----------------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        for p in self.parameters():
            return p.device
        return torch.device("cpu")

    def to_device(self, batch: dict[str, Any]) -> dict[str, Any]:
        """The batch with its tensors on this method's device (strings untouched)."""
        dev = self.device
        return {k: v.to(dev, non_blocking=True) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}

    def make_tokenizer(self) -> WordTokenizer:
        return WordTokenizer(list(self.meta.vocab))

    def tokenize(self, texts: list[str] | None, batch_size: int, max_len: int) -> tuple[torch.Tensor, torch.Tensor]:
        """ids, mask (B, L) on this device; missing text becomes the empty instruction."""
        texts = list(texts) if texts is not None else [""] * batch_size
        if len(texts) != batch_size:
            raise ValueError(f"got {len(texts)} texts for {batch_size} images")
        ids, mask = self.tokenizer.encode(texts, max_len)  # type: ignore[attr-defined]
        return ids.to(self.device), mask.to(self.device)

    @staticmethod
    def normalize(x: torch.Tensor) -> torch.Tensor:
        return F.normalize(x, dim=-1)

    # -- checkpoints ------------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write weights + JSON header to ``path`` (one .safetensors file), atomically."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        header = {
            "format": CHECKPOINT_FORMAT,
            "method": self.name,
            "config": json.dumps(self.config.to_dict()),
            "meta": json.dumps(self.meta.to_dict()),
        }
        with atomic_path(path) as tmp:
            save_model(self, str(tmp), metadata=header)
        return path


def read_checkpoint_header(path: str | Path) -> dict[str, Any]:
    """``{"method", "config", "meta"}`` of a checkpoint, parsed, without loading the weights."""
    path = Path(path)
    raw = read_metadata(path)  # FileNotFoundError passes through; a bad header is a ValueError
    if raw.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path}: not an {CHECKPOINT_FORMAT} checkpoint (format {raw.get('format')!r})")
    return {"method": raw["method"], "config": json.loads(raw["config"]), "meta": json.loads(raw["meta"])}
