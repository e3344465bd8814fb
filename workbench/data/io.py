"""Deprecated spelling of :mod:`workbench.data.layouts` (kept so older notebooks and branches
import); use ``from workbench.data import load_dataset``."""

from __future__ import annotations

from workbench.data.layouts import detect_layout, load_dataset, validate_dataset

__all__ = ["detect_layout", "load_dataset", "validate_dataset"]
