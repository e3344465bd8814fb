"""Training jobs: configs, the loop, checkpoints, run directories, the job launcher, and the trained-run front door (:mod:`.run`)."""

from __future__ import annotations

from workbench.train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from workbench.train.config import ConfigError, DataConfig, OptimConfig, TrainConfig, make_config
from workbench.train.jobs import create_run, diff_runs, launch, list_runs, resolve_run, resume_run, stop_run, wait_for
from workbench.train.run import Fit, TrainedRun, load_run
from workbench.train.rundir import JobError, RunDir, RunState, RunStatus

__all__ = [
    "CheckpointError",
    "ConfigError",
    "DataConfig",
    "Fit",
    "JobError",
    "OptimConfig",
    "RunDir",
    "RunState",
    "RunStatus",
    "TrainConfig",
    "TrainedRun",
    "create_run",
    "diff_runs",
    "launch",
    "list_runs",
    "load_checkpoint",
    "load_run",
    "make_config",
    "resolve_run",
    "resume_run",
    "save_checkpoint",
    "stop_run",
    "wait_for",
]
