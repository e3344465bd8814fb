"""Rebuilding a trained method from a run directory (or a checkpoint file) for evaluation and analysis.

A training checkpoint carries everything needed: the method name and config, the sample meta
(vocabulary, chunk shape, image size), the normalisation statistics, the train/val split and the
data settings. :func:`load_run` turns a run (its latest checkpoint by default) back into a
:class:`RestoredRun`; a file written by :meth:`workbench.methods.Method.save` is accepted too.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import torch

from workbench.data.loader import SampleMeta
from workbench.data.normalize import NormStats
from workbench.train.checkpoint import CheckpointError, load_checkpoint
from workbench.train.rundir import JobError, RunDir

__all__ = ["RestoredRun", "load_run", "checkpoint_hash"]


@dataclass(frozen=True)
class RestoredRun:
    method: torch.nn.Module  # in eval mode
    method_name: str
    sample_meta: SampleMeta
    norm_stats: NormStats | None
    split: dict[str, list[int]]
    data: dict  # the run's DataConfig as a dict (path, camera, chunk_kind, horizon, …)
    step: int
    checkpoint: Path
    run_dir: Path | None

    @property
    def id(self) -> str:
        return self.run_dir.name if self.run_dir is not None else self.checkpoint.stem


def checkpoint_hash(path: str | Path, *, block: int = 1 << 20) -> str:
    """A short content hash of a checkpoint file (cache keys for embeddings and projections)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(block):
            h.update(chunk)
    return h.hexdigest()[:16]


def load_run(run: str | Path, *, checkpoint: str | Path | None = None, map_location: str | torch.device = "cpu") -> RestoredRun:
    """The trained method of ``run`` (a run directory, or a checkpoint file), in eval mode."""
    from workbench.methods import build_method
    from workbench.methods.base import Method, read_checkpoint_header

    p = Path(run)
    if p.is_file():
        try:
            header = read_checkpoint_header(p)
        except ValueError:
            header = None
        if header is not None:  # a Method.save file
            m = Method.load(p, map_location).eval()
            return RestoredRun(m, header["method"], m.meta, None, {}, {}, 0, p, None)
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
    ck = load_checkpoint(ckpt_path, map_location=map_location)
    meta = ck.meta
    for key in ("method", "method_config", "sample_meta"):
        if key not in meta:
            raise CheckpointError(f"{ckpt_path}: checkpoint metadata has no {key!r}; it was not written by a workbench run")
    sample_meta = SampleMeta.from_dict(meta["sample_meta"])
    from workbench.train.deps import load_dependencies

    runs, _ = load_dependencies(meta["method"], meta["method_config"], map_location=map_location)
    method = build_method(meta["method"], meta["method_config"], sample_meta, runs=runs)
    try:
        method.load_state_dict(ck.model)
    except RuntimeError as e:
        raise CheckpointError(f"{ckpt_path}: weights do not fit the {meta['method']} model ({e})") from e
    method.to(map_location).eval()
    stats = NormStats.from_dict(meta["norm_stats"]) if meta.get("norm_stats") else None
    return RestoredRun(method, meta["method"], sample_meta, stats, meta.get("split", {}), meta.get("data", {}),
                       int(meta.get("step", 0)), ckpt_path, rd.path if rd else None)  # fmt: skip
