"""Evaluation units on disk: one closed-loop evaluation per ``evals/<unit>.json``, its name, its reader,
and the comparison's error type (the runner writes units; the table, the differences and collect read them)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["CompareError", "read_unit", "unit_name"]


class CompareError(Exception):
    """A comparison cannot start or continue here; the message says why and what to do."""


def unit_name(method: str, policy: str, task: str, camera: str, seed: int, step: int) -> str:
    return f"{method}__{policy}__{task}__{camera}__s{seed}__step{step}"


def read_unit(path: Path) -> dict[str, Any]:
    """One evaluation unit (``evals/<unit>.json``); unreadable JSON is a :class:`CompareError`
    naming the file (atomic writes make it a foreign file, not a cut one)."""
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise CompareError(f"{path}: not a readable evaluation ({e}); remove it and run again") from e
