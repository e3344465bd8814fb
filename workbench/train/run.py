"""A trained run, loaded once: the one front door evaluation, analysis, the app and notebooks use.

:func:`load_run` turns a run directory (its latest checkpoint by default), a checkpoint file, or a
file written by :meth:`workbench.methods.Method.save` into a :class:`TrainedRun`:

* ``config`` — the complete, typed :class:`~workbench.train.config.TrainConfig` (``run.data`` is its
  :class:`~workbench.train.config.DataConfig`);
* ``method`` — in eval mode, on the chosen device (CUDA when present, by default);
* ``sample_meta``, ``norm_stats`` and ``split`` — what training resolved and computed;
* :meth:`TrainedRun.samples` — **the** implementation of "the samples as training saw them": the
  same camera, chunk kind, horizon, image size, history, normalisation and per-sample text;
* :meth:`TrainedRun.fits` — whether a dataset can give those samples, with the reason when not;
* ``image_encoder`` / ``action_encoder`` / ``history_encoder`` / ``text_encoder`` — the method
  typed by what it can embed (:mod:`workbench.methods.capabilities`), or None.

The settings of the samples come from the run's :class:`~workbench.data.training_samples.SampleMeta` — the
camera, image size, chunk kind, horizon and history training actually resolved (a config's
``camera: null`` becomes the first camera's name there) — and the data config only where the
meta is silent. One order, used by every consumer.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import torch

from workbench.data.dataset import Dataset
from workbench.data.normalize import NormStats
from workbench.data.training_samples import FrameChunkDataset, SampleMeta
from workbench.methods.base import Method
from workbench.methods.capabilities import (
    ActionEmbedder,
    ActionSource,
    HistoryEmbedder,
    ImageEmbedder,
    TextEmbedder,
    action_source,
)
from workbench.train.checkpoint import CheckpointError, load_checkpoint
from workbench.train.config import ConfigError, DataConfig, TrainConfig
from workbench.train.rundir import JobError, RunDir, TrainedOn
from workbench.types import Episode

__all__ = ["Fit", "TrainedRun", "checkpoint_hash", "load_run", "model_hash"]


def checkpoint_hash(path: str | Path, *, block: int = 1 << 20) -> str:
    """A short content hash of a checkpoint file (cache keys for embeddings and projections)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(block):
            h.update(chunk)
    return h.hexdigest()[:16]


def model_hash(method: torch.nn.Module) -> str:
    """A short content hash of a model's weights, class and config (cache keys for in-memory models)."""
    h = hashlib.sha256(type(method).__qualname__.encode())
    cfg = method.config if isinstance(method, Method) else None
    if cfg is not None:
        h.update(json.dumps(cfg.to_dict(), sort_keys=True, default=str).encode())
    for name, t in sorted(method.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class Fit:
    """Whether a dataset can give a run its samples; ``reason`` says why not (empty when it can)."""

    ok: bool
    reason: str = ""

    def __bool__(self) -> bool:
        return self.ok


@dataclass(frozen=True)
class TrainedRun:
    """One trained run (see the module docstring). Build it with :func:`load_run` or
    :meth:`from_method`."""

    method: Method  # in eval mode
    config: TrainConfig  # the complete job config (for a bare Method.save file: rebuilt from its meta)
    sample_meta: SampleMeta  # what training resolved: camera, image size, chunk shape, vocabulary
    norm_stats: NormStats | None  # chunk statistics of the training split (None: chunks not normalised)
    split: dict[str, list[int]]  # "train" / "val" -> Episode.index values ({} when unknown)
    step: int  # optimiser steps behind the weights
    checkpoint: Path | None  # the file the weights came from (None for an in-memory method)
    run_dir: Path | None  # the run directory (None for a checkpoint file or an in-memory method)

    # -- identity -------------------------------------------------------------------------------
    @property
    def id(self) -> str:
        if self.run_dir is not None:
            return self.run_dir.name
        return self.checkpoint.stem if self.checkpoint is not None else f"{self.method_name}-{self.model_id[:8]}"

    @property
    def method_name(self) -> str:
        return self.config.method

    @property
    def data(self) -> DataConfig:
        """The data settings of the job (``path`` is "" when the run does not say)."""
        return self.config.data

    @property
    def device(self) -> torch.device:
        return self.method.device

    @cached_property
    def model_id(self) -> str:
        """Content hash of the weights: the checkpoint file's, or the in-memory model's."""
        return checkpoint_hash(self.checkpoint) if self.checkpoint is not None else model_hash(self.method)

    # -- what the method can embed ----------------------------------------------------------------
    @property
    def image_encoder(self) -> ImageEmbedder:
        return self.method  # every Method embeds images

    @property
    def action_encoder(self) -> ActionEmbedder | None:
        """The tower over the following action chunk (CAIP, CLAP), or None."""
        return self.method if isinstance(self.method, ActionEmbedder) else None

    @property
    def history_encoder(self) -> HistoryEmbedder | None:
        """The tower over the past actions (CLAMP), or None."""
        return self.method if isinstance(self.method, HistoryEmbedder) else None

    @property
    def text_encoder(self) -> TextEmbedder | None:
        return self.method if isinstance(self.method, TextEmbedder) else None

    @property
    def action_source(self) -> ActionSource:
        return action_source(self.method)

    # -- data -------------------------------------------------------------------------------------
    def open_dataset(self) -> Dataset:
        """The dataset the run trained on (its path resolved from anywhere, as training did)."""
        from workbench.data.catalog import resolve_dataset_path
        from workbench.data.layouts import load_dataset

        if not self.data.path:
            raise JobError(f"run {self.id}: the checkpoint does not say which dataset it trained on; pass a dataset")
        return load_dataset(resolve_dataset_path(self.data.path))

    def episodes(self, split: str) -> list[int]:
        """The ``Episode.index`` values of ``split`` ("train" or "val")."""
        eps = self.split.get(split)
        if not eps:
            raise JobError(f"run {self.id}: its split has no {split!r} episodes (a checkpoint without a run directory "
                           "carries no split; use the run directory)")  # fmt: skip
        return [int(e) for e in eps]

    @property
    def trained_on(self) -> TrainedOn:
        """Its camera and dataset, by the one run-camera rule (:class:`~workbench.train.rundir.TrainedOn`)."""
        return TrainedOn.from_record({"camera": self.sample_meta.camera}, {"camera": self.data.camera, "path": self.data.path})

    @property
    def camera(self) -> str | None:
        """The camera the samples come from (what training resolved; None = each episode's first)."""
        return self.trained_on.camera

    def fits(self, dataset: Dataset | Sequence[Episode]) -> Fit:
        """Whether ``dataset`` can give this run's samples: it must have the run's camera
        (:meth:`TrainedOn.reads <workbench.train.rundir.TrainedOn.reads>`)."""
        on = self.trained_on
        if on.camera is None:  # any dataset can (without opening it)
            return Fit(True)
        if isinstance(dataset, Dataset):
            cams = tuple(dataset.info().cameras)
            where = f"dataset {dataset.path}"
        else:
            cams = tuple(sorted({c for ep in dataset for c in ep.cameras}))
            where = "the given episodes"
        if on.reads(cams):
            return Fit(True)
        return Fit(False, f"run {self.id} was trained on camera {on.camera!r}, which {where} cannot provide (it has {list(cams)})")

    def samples(
        self,
        dataset: Dataset | Sequence[Episode] | str | Path | None = None,
        *,
        episodes: Sequence[int] | None = None,
        split: str | None = None,
        stride: int | None = None,
        chunk_kind: str | None = None,
        horizon: int | None = None,
        camera: str | None = None,
        image_size: int | None = None,
    ) -> FrameChunkDataset:
        """The image + chunk (+ history, + text) samples of ``dataset`` as training saw them.

        Args:
            dataset: a dataset, its path, or episodes; None = the run's own dataset.
            episodes: ``Episode.index`` values; ``split`` ("train"/"val") takes the run's split
                instead; neither = every episode.
            stride: one sample every ``stride`` steps; None = the training stride.
            chunk_kind, horizon, camera, image_size: overrides of what training used (e.g. ee
                chunks for drawing paths); chunks are normalised with the run's statistics only
                when chunk kind and horizon are the training ones.
        """
        if episodes is not None and split is not None:
            raise ValueError("pass episodes or split, not both")
        if split is not None:
            episodes = self.episodes(split)
        if dataset is None:
            dataset = self.open_dataset()
        elif isinstance(dataset, (str, Path)):
            from workbench.data.layouts import load_dataset

            dataset = load_dataset(dataset)
        meta = self.sample_meta
        kind = chunk_kind or meta.chunk_kind
        H = int(horizon or meta.horizon)
        same_chunks = kind == meta.chunk_kind and H == meta.horizon
        return FrameChunkDataset(
            dataset,
            camera=camera if camera is not None else self.camera,
            chunk_kind=kind,
            horizon=H,
            stride=int(stride if stride is not None else self.data.stride),
            image_size=image_size or meta.image_size,
            episodes=episodes,
            history=meta.history,
            norm_stats=self.norm_stats if same_chunks else None,
            **type(self.method).loader_kwargs(self.method.config),
        )

    # -- construction -----------------------------------------------------------------------------
    @classmethod
    def from_method(cls, method: Method) -> TrainedRun:
        """An in-memory method as a run: its settings from its sample meta, no split, no statistics."""
        if not isinstance(method, Method):
            raise ValueError(f"expected a workbench Method, got {type(method).__name__}")
        return cls(method, _config_from_meta(method), method.meta, None, {}, 0, None, None)


def _config_from_meta(method: Method, data: dict[str, Any] | None = None) -> TrainConfig:
    m = method.meta
    d = {"path": "", "camera": m.camera or None, "chunk_kind": m.chunk_kind, "horizon": m.horizon,
         "image_size": m.image_size, "history": m.history, **(data or {})}  # fmt: skip
    return TrainConfig(method=method.name, method_config=method.config.to_dict(), data=DataConfig(**d))


def _run_config(rd: RunDir | None, meta: dict[str, Any], ckpt_path: Path) -> TrainConfig:
    """The job config: the run's config.yaml, its data section as the checkpoint recorded it."""
    base: dict[str, Any] = {}
    if rd is not None and rd.config_path.is_file():
        try:
            base = TrainConfig.from_yaml(rd.config_path).to_dict()
        except ConfigError:
            base = {}  # an edited or older config: the checkpoint's record is enough
    d = {**base, "method": meta["method"], "method_config": meta["method_config"]}
    if meta.get("data"):
        d["data"] = meta["data"]
    try:
        return TrainConfig.from_dict(d)
    except ConfigError as e:
        raise CheckpointError(f"{ckpt_path}: the recorded config is not valid any more ({e})") from e


def _device(map_location: str | torch.device) -> torch.device:
    if str(map_location) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(map_location)


def load_run(run: str | Path, *, checkpoint: str | Path | None = None, map_location: str | torch.device = "auto") -> TrainedRun:
    """The trained run at ``run`` (a run directory, or a checkpoint file), method in eval mode on
    ``map_location`` ("auto" = CUDA when present)."""
    from workbench.methods import build_method, load_method
    from workbench.methods.base import read_checkpoint_header

    device = _device(map_location)
    p = Path(run)
    if p.is_file():
        try:
            header = read_checkpoint_header(p)
        except ValueError:
            header = None
        if header is not None:  # a Method.save file
            m = load_method(p, device).eval()
            return TrainedRun(m, _config_from_meta(m), m.meta, None, {}, 0, p, None)
        ckpt_path, rd = p, None
    else:
        rd = RunDir(p)
        if not rd.exists():
            raise JobError(f"{p}: not a run directory (no config.yaml) nor a checkpoint file")
        ckpt_path = Path(checkpoint) if checkpoint else rd.latest_checkpoint()
        if ckpt_path is None:
            raise JobError(f"{p}: the run has no checkpoint yet")
        if not ckpt_path.is_absolute() and not ckpt_path.exists():
            ckpt_path = rd.ckpt_dir / ckpt_path
    ck = load_checkpoint(ckpt_path, map_location=device)
    meta = ck.meta
    for key in ("method", "method_config", "sample_meta"):
        if key not in meta:
            raise CheckpointError(f"{ckpt_path}: checkpoint metadata has no {key!r}; it was not written by a workbench run")
    sample_meta = SampleMeta.from_dict(meta["sample_meta"])
    from workbench.train.deps import load_dependencies

    runs, _ = load_dependencies(meta["method"], meta["method_config"], load=load_run, map_location=device)  # CLAP's later stages
    method = build_method(meta["method"], meta["method_config"], sample_meta, runs=runs)
    try:
        method.load_state_dict(ck.model)
    except RuntimeError as e:
        raise CheckpointError(f"{ckpt_path}: weights do not fit the {meta['method']} model ({e})") from e
    method.to(device).eval()
    stats = NormStats.from_dict(meta["norm_stats"]) if meta.get("norm_stats") else None
    return TrainedRun(method, _run_config(rd, meta, ckpt_path), sample_meta, stats, dict(meta.get("split", {})),
                      int(meta.get("step", 0)), ckpt_path, rd.path if rd else None)  # fmt: skip
