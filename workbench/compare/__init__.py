"""Comparisons that resolve: representations × policies × tasks in closed loop, with intervals.

``run_compare(out, CompareConfig(...))`` generates the demonstrations, trains every method on them,
evaluates k-NN and MLP-head policies in parallel closed-loop rollouts under the trained camera
setup, and writes ``compare.json`` (``{"cells": [...]}``), a table with 95 % Wilson intervals and a
plotly figure; a killed comparison continues where it stopped. ``workbench compare`` is its command.
"""

from __future__ import annotations

from workbench.compare.config import CELL_METHODS, METHOD_SETTINGS, POLICIES, CompareConfig, smoke_config, split_overrides
from workbench.compare.runner import CompareError, CompareResult, assemble_cells, run_compare
from workbench.compare.table import compare_table, compare_table_display, compare_table_markdown, load_compare

__all__ = [
    "CELL_METHODS",
    "METHOD_SETTINGS",
    "POLICIES",
    "CompareConfig",
    "CompareError",
    "CompareResult",
    "assemble_cells",
    "compare_table",
    "compare_table_display",
    "compare_table_markdown",
    "load_compare",
    "run_compare",
    "smoke_config",
    "split_overrides",
]
