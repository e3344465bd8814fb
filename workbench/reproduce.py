"""Deprecated spelling of :mod:`workbench.figures.notebooks` (kept so older branches import)."""

from __future__ import annotations

from workbench.figures.notebooks import *  # noqa: F403
from workbench.figures.notebooks import __all__  # noqa: F401
