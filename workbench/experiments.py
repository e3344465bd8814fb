"""Deprecated spelling of :mod:`workbench.figures.runs` (kept so older notebooks and branches import)."""

from __future__ import annotations

from workbench.figures.runs import *  # noqa: F403
from workbench.figures.runs import PROJECT_ROOT, __all__  # noqa: F401
