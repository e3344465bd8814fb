"""Deprecated spelling of :mod:`workbench.train.jobs` (kept so older branches import)."""

from __future__ import annotations

from workbench.train.jobs import *  # noqa: F403
from workbench.train.jobs import __all__  # noqa: F401
