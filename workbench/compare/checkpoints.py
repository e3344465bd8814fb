"""Which checkpoints a "max" cell ranges over, and whether every one of them was evaluated.

"max" is the best of the evaluations at every saved checkpoint of a (method, training seed) run,
the papers' "max over evaluations during training". A run part-way through the comparison's second
pass (its earlier checkpoints) has only some of them evaluated: their best is not that maximum, and
beside complete rows it would read as one. So a "max" cell exists only when every saved checkpoint
of its run is in its ``steps_evaluated``, and every cell records ``steps_saved`` beside
``steps_evaluated``, so that a collected table decides from compare.json alone.

Cells written before ``steps_saved`` was recorded get it only where it is provably right
(:func:`settle_max_cells`):

* the state k-NN trains nothing: its one evaluation is all there is;
* an untrained method (:data:`~workbench.compare.config.UNTRAINED`) holds its initial weights at
  every checkpoint: its one evaluated step stands for all of them;
* a trained method: the checkpoints of its finished run, read from the comparison folder's
  ``runs/<method>-s<seed>/`` when that is on disk. Not from ``ckpt_every``: a run stopped by
  SIGTERM and resumed also saved a checkpoint off that grid, so the grid proves nothing.

Otherwise (a collected compare.json written before the field, whose runs are not beside it) the
"max" cell is dropped and the table says which rows lack it: collect again from the comparison
folders to have it back.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from workbench.compare.config import STATE_KNN, UNTRAINED

__all__ = ["max_complete", "pending_max", "run_path", "saved_steps", "settle_max_cells"]


def run_path(out: str | Path, method: str, seed: int) -> Path:
    """Where a comparison folder keeps ``method``'s training run for ``seed``."""
    return Path(out) / "runs" / f"{method}-s{int(seed)}"


def saved_steps(out: str | Path, method: str, seed: int) -> list[int] | None:
    """The checkpoint steps a "max" of ``method`` at ``seed`` ranges over in the comparison folder
    ``out``: [0] for the state k-NN, an untrained method's last checkpoint alone (all hold the same
    weights), else every checkpoint of the finished run; None when the run is not on disk or not
    finished (unknown)."""
    from workbench.train import RunDir
    from workbench.train.rundir import RunState

    if method == STATE_KNN:
        return [0]
    rd = RunDir(run_path(out, method, seed))
    if not rd.exists() or rd.read_status().state != RunState.FINISHED.value:
        return None
    steps = [s for s, _ in rd.checkpoints()]
    if not steps:
        return None
    return steps[-1:] if method in UNTRAINED else steps


def max_complete(cell: dict[str, Any]) -> bool:
    """Whether every checkpoint ``cell``'s run saved was evaluated (False when that is unknown)."""
    saved = cell.get("steps_saved")
    if saved is None:
        return False
    return set(int(s) for s in saved) <= set(int(s) for s in cell.get("steps_evaluated", [cell.get("step")]))


def _provable_steps(cell: dict[str, Any], folder: Path | None) -> list[int] | None:
    evaluated = sorted(int(s) for s in cell.get("steps_evaluated", [cell.get("step")]) if s is not None)
    if cell["method"] == STATE_KNN:  # evaluated once: that is all there is
        return evaluated if len(evaluated) == 1 else None
    if cell["method"] in UNTRAINED:
        return evaluated[-1:] or None
    return None if folder is None else saved_steps(folder, cell["method"], cell["seed"])


def settle_max_cells(cells: Sequence[dict[str, Any]], folder: str | Path | None = None) -> list[dict[str, Any]]:
    """``cells`` with ``steps_saved`` added where a cell lacks it and it can be proven (see the
    module docstring; ``folder`` is the comparison folder holding ``runs/``, None for a table read
    alone), and without the "max" cells that are not complete."""
    root = None if folder is None else Path(folder)
    out = []
    for c in cells:
        if "steps_saved" not in c:
            saved = _provable_steps(c, root)
            if saved is not None:
                c = c | {"steps_saved": saved}
        if c["checkpoint"] == "max" and not max_complete(c):
            continue
        out.append(c)
    return out


def pending_max(cells: Sequence[dict[str, Any]]) -> list[str]:
    """One line per table row whose "max" is not shown because some of its runs have checkpoints
    still to evaluate ("s1: 1 of 3 checkpoints evaluated") or did not record them ("unknown"); read
    from the "final" cells, which every run has."""
    rows: dict[tuple, dict[int, tuple[int, int] | None]] = {}
    for c in cells:
        if c["checkpoint"] != "final" or max_complete(c):
            continue
        key = (c["method"], c["policy"], c["camera_setup"], c.get("demos"), str(c.get("variant") or ""))
        saved = c.get("steps_saved")
        got = None if saved is None else (len(set(saved) & set(c.get("steps_evaluated", []))), len(saved))
        seeds = rows.setdefault(key, {})
        # the least-advanced task of a seed speaks for it; unknown above all
        if int(c["seed"]) not in seeds or got is None or (seeds[int(c["seed"])] is not None and got < seeds[int(c["seed"])]):
            seeds[int(c["seed"])] = got
    lines = []
    for (method, policy, camera, demos, variant), seeds in sorted(rows.items(), key=lambda kv: str(kv[0])):
        where = ", ".join(x for x in (camera, None if demos is None else f"{demos} demos", variant) if x)
        by: dict[str, list[str]] = {}  # seeds in the same state share their words
        for s, g in sorted(seeds.items()):
            what = "checkpoints not recorded (collect again from the comparison folder)" if g is None else \
                f"{g[0]} of {g[1]} checkpoints evaluated"  # fmt: skip
            by.setdefault(what, []).append(f"s{s}")
        lines.append(f"{method} · {policy} ({where}): " + "; ".join(f"{', '.join(v)} {k}" for k, v in by.items()))
    return lines
