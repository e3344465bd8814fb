"""Deprecated spelling of :mod:`workbench.train.run` (kept so older notebooks and branches import);
use ``from workbench.train.run import TrainedRun, load_run``."""

from __future__ import annotations

from workbench.train.run import TrainedRun, checkpoint_hash, load_run

RestoredRun = TrainedRun

__all__ = ["RestoredRun", "checkpoint_hash", "load_run"]
