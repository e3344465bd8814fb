"""Comparisons that resolve: representations × policies × tasks in closed loop, with intervals.

``run_compare(out, CompareConfig(...))`` generates the demonstrations, trains every method on them,
evaluates k-NN and MLP-head policies in parallel closed-loop rollouts under the trained camera
setup, and writes ``compare.json`` (``{"cells": [...]}``), a table with 95 % Wilson intervals and a
plotly figure; a killed comparison continues where it stopped. ``workbench compare`` is its command.
``collect_compare(out, folders)`` (``workbench compare collect``) gathers several comparison folders
(the stages: camera setups, demos, variants) into one table. ``paired_difference(results, a, b)``
(``workbench compare diff``) measures A − B over the same episodes, with its interval and verdict.
"""

from __future__ import annotations

from workbench.compare.checkpoints import max_complete, pending_max, saved_steps, settle_max_cells
from workbench.compare.collect import CELL_KEY, COMPARABLE, CollectResult, collect_compare
from workbench.compare.config import CELL_METHODS, METHOD_SETTINGS, POLICIES, CompareConfig, smoke_config, split_overrides
from workbench.compare.differences import (
    CLAIMS,
    DIFFERENCES_NOTE,
    Claim,
    PairedDifference,
    claim_differences,
    differences_frame,
    paired_difference,
)
from workbench.compare.runner import CompareError, CompareResult, assemble_cells, describe_cells, run_compare
from workbench.compare.table import cell_value, compare_table, compare_table_display, compare_table_markdown, load_compare, varying

__all__ = [
    "CLAIMS",
    "DIFFERENCES_NOTE",
    "Claim",
    "claim_differences",
    "differences_frame",
    "CELL_KEY",
    "CELL_METHODS",
    "COMPARABLE",
    "CollectResult",
    "METHOD_SETTINGS",
    "POLICIES",
    "PairedDifference",
    "CompareConfig",
    "CompareError",
    "CompareResult",
    "assemble_cells",
    "cell_value",
    "collect_compare",
    "compare_table",
    "compare_table_display",
    "compare_table_markdown",
    "describe_cells",
    "load_compare",
    "max_complete",
    "paired_difference",
    "pending_max",
    "run_compare",
    "saved_steps",
    "settle_max_cells",
    "smoke_config",
    "split_overrides",
    "varying",
]
