"""Training jobs: configs, the loop, checkpoints, run directories, the job launcher, and the trained-run front door (:mod:`.run`).

The names below are imported on first use (PEP 562), so ``workbench.train.rundir`` or
``.jobs`` — listing runs, reading their status — does not import torch; the app's first page
lists runs that way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from workbench.lazy import lazy_attributes

if TYPE_CHECKING:
    from workbench.train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
    from workbench.train.config import ConfigError, DataConfig, OptimConfig, TrainConfig, make_config
    from workbench.train.jobs import create_run, diff_runs, launch, list_runs, resolve_run, resume_run, stop_run, wait_for
    from workbench.train.run import Fit, TrainedRun, load_run
    from workbench.train.rundir import JobError, RunDir, RunState, RunStatus

_HOMES = {
    "workbench.train.checkpoint": ("CheckpointError", "load_checkpoint", "save_checkpoint"),
    "workbench.train.config": ("ConfigError", "DataConfig", "OptimConfig", "TrainConfig", "make_config"),
    "workbench.train.jobs": ("create_run", "diff_runs", "launch", "list_runs", "resolve_run", "resume_run", "stop_run", "wait_for"),
    "workbench.train.run": ("Fit", "TrainedRun", "load_run"),
    "workbench.train.rundir": ("JobError", "RunDir", "RunState", "RunStatus"),
}
__getattr__, __all__ = lazy_attributes(__name__, _HOMES)
