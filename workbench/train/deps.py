"""Trained runs that a method builds on (CLAP's VD-VAE on an Act-VAE and an image tower, its token
policy on the VD-VAE, its RF head on the token policy): resolve the references in a method's
config, train the ``"auto"`` ones, and load them frozen.

A reference is a run directory, a run id (under the runs root or ``runs/``), or ``"auto"``: a run of
the dependency's method (its :class:`~workbench.methods.base.RunDependency`) on the same data, seed
and preset as the dependant, trained once into ``<runs root>/deps/<method>-<config hash>`` and
reused by every later run of the same config — so ``workbench train clap_rf --preset smoke`` works
on a fresh clone. :func:`load_dependencies` is the one place that loads such runs; the caller hands
it the loader (:func:`workbench.train.run.load_run`) and, to train "auto" runs, the training
function (:func:`workbench.train.loop.train`), so this module imports neither (no import cycle).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from workbench.train.config import ConfigError, TrainConfig, make_config
from workbench.train.rundir import DEFAULT_RUNS_ROOT, JobError, RunDir, RunState

__all__ = ["AUTO", "config_hash", "dependency_config", "load_dependencies", "resolve_run_ref", "train_or_reuse"]

AUTO = "auto"


def config_hash(cfg: TrainConfig) -> str:
    """A short hash of a complete config (the data path made absolute)."""
    d = cfg.to_dict()
    d["data"] = {**d["data"], "path": str(Path(d["data"]["path"]).resolve())}
    return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:12]


def train_or_reuse(cfg: TrainConfig, path: str | Path, train: Callable[[Path], RunState]) -> bool:
    """Train ``cfg`` in this process into ``path`` with ``train`` (:func:`workbench.train.loop.train`),
    or reuse a finished run of it there; a run left unfinished (interrupted) is deleted and trained
    again. Returns True when reused."""
    from workbench.train.jobs import create_run

    rd = RunDir(path)
    if rd.exists():
        if rd.read_status().state == RunState.FINISHED.value and rd.latest_checkpoint() is not None:
            return True
        if rd.is_locked():
            raise JobError(f"{rd.path}: another process is training this config now; wait for it, then run again")
        shutil.rmtree(rd.path)
    create_run(cfg, rd.path)
    state = train(rd.path)
    if state != RunState.FINISHED:
        raise JobError(f"{rd.path}: training ended in state {state.value}; see {rd.path}/stdout.txt and status.json")
    return False


def dependency_config(method: str, method_config: dict[str, Any], dependant: TrainConfig) -> TrainConfig:
    """The config of an ``"auto"`` dependency: ``method`` on the dependant's data and seed, at its
    preset when the dependency has it (else ``smoke``)."""
    from workbench.methods import METHODS

    cfg_cls = METHODS[method][0]
    preset = dependant.preset if dependant.preset in ("smoke", "sample", *cfg_cls.PRESETS) else "smoke"
    data = dependant.to_dict()["data"]
    data["path"] = str(Path(data["path"]).resolve()) if Path(data["path"]).exists() else data["path"]
    data["history"] = 0
    d = make_config(method, preset, [f"seed={dependant.seed}", f"num_threads={dependant.num_threads}",
                                     f"device={dependant.device}"]).to_dict()
    d["data"] = data
    d["method_config"] = {**d["method_config"], **method_config}
    return TrainConfig.from_dict(d)


def resolve_run_ref(ref: str, runs_root: str | Path | None = None) -> Path:
    """A run directory from a path or an id (under ``runs_root``, then ``runs/``)."""
    for cand in (Path(ref), *([Path(runs_root) / ref] if runs_root is not None else []), DEFAULT_RUNS_ROOT / ref):
        if RunDir(cand).exists() or cand.is_file():
            return cand
    raise JobError(f"no run {ref!r} (looked for it as a directory, and under {runs_root or DEFAULT_RUNS_ROOT})")


def _deps_dir(runs_root: str | Path) -> Path:
    root = Path(runs_root)
    return root if root.name == "deps" else root / "deps"


def load_dependencies(method: str, method_config: dict[str, Any], *, load: Callable[..., Any],
                      train: Callable[[Path], RunState] | None = None, train_config: TrainConfig | None = None,
                      runs_root: str | Path | None = None, map_location: Any = "cpu") -> tuple[dict[str, Any], dict[str, Any]]:
    """Load with ``load`` (:func:`workbench.train.run.load_run`) the runs ``method`` builds on,
    training ``"auto"`` ones first with ``train`` on ``train_config``'s data.

    Returns the restored runs by dependency name and ``method_config`` with every reference made a
    concrete run directory (what checkpoints record, so a trained run reloads the same runs).
    """
    from workbench.methods import METHODS

    cfg_cls, method_cls = METHODS[method]
    config = cfg_cls.from_dict(method_config)
    resolved = dict(method_config)
    runs: dict[str, Any] = {}
    loaded: dict[Path, Any] = {}
    for name, dep in method_cls.dependencies(config).items():
        ref = str(getattr(config, dep.field) or "")
        if not ref:
            if dep.optional:
                continue
            raise ConfigError(f"method_config.{dep.field} must name a {dep.method} run (a directory, an id, or 'auto')")
        if ref == AUTO:
            if train_config is None or train is None:
                raise JobError(f"{method}: method_config.{dep.field} is 'auto', which only a training job can resolve")
            dep_cfg = dependency_config(dep.method, dep.method_config, train_config)
            path = _deps_dir(runs_root or DEFAULT_RUNS_ROOT) / f"{dep.method}-{config_hash(dep_cfg)}"
            train_or_reuse(dep_cfg, path, train)
        else:
            path = resolve_run_ref(ref, runs_root)
        path = path.resolve()
        if path not in loaded:
            loaded[path] = load(path, map_location=map_location)
        runs[name] = loaded[path]
        resolved[dep.field] = str(path)
    return runs, resolved
