"""The comparison table: success per task and pooled, with 95 % Wilson intervals, from the cells.

Rows are (method, policy, camera setup, demos, variant, checkpoint); a task's column pools the
training seeds (summed counts: every episode counts once) and ``pooled`` pools the tasks too. ``seeds`` gives the per-seed pooled
rates so the spread between training seeds stays visible beside the interval.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from workbench.compare.checkpoints import pending_max, settle_max_cells
from workbench.stats import pooled_rate
from workbench.viz.compare import demos_text

__all__ = ["ROW_KEYS", "cell_value", "compare_table", "compare_table_display", "compare_table_markdown", "load_compare", "varying"]


def load_compare(path: str | Path) -> dict[str, Any]:
    """Read ``compare.json`` (a file, or the folder holding it), checking the cells' fields; a
    "max" cell is kept only when every checkpoint of its run is known to be evaluated
    (:func:`workbench.compare.checkpoints.settle_max_cells`: cells written before ``steps_saved``
    was recorded get it from the folder's ``runs/`` when those are beside compare.json)."""
    p = Path(path)
    p = p / "compare.json" if p.is_dir() else p
    try:
        doc = json.loads(p.read_text())
    except FileNotFoundError as e:
        raise FileNotFoundError(f"{p}: no comparison results here; run `workbench compare --out {p.parent}`") from e
    except json.JSONDecodeError as e:
        raise ValueError(f"{p}: not valid JSON ({e})") from e
    need = ("method", "policy", "task", "camera_setup", "seed", "checkpoint", "episodes", "successes")
    for i, c in enumerate(doc.get("cells", [])):
        missing = [k for k in need if k not in c]
        if missing:
            raise ValueError(f"{p}: cell {i} lacks {missing[0]!r}")
    doc["cells"] = settle_max_cells(doc.get("cells", []), p.parent)
    return doc


#: What a row of the table is, beyond (method, policy): the cells' camera setup, demos per task and
#: training variant (a collected table holds several comparison folders), and the checkpoint.
ROW_KEYS = ("method", "policy", "camera_setup", "demos", "variant", "checkpoint")


def _row_key(c: dict[str, Any]) -> tuple:
    demos = cell_value(c, "demos")  # unknown (an older folder's cells): -1, sorting first
    return (c["method"], c["policy"], c["camera_setup"], -1 if demos is None else int(demos), cell_value(c, "variant"),
            c["checkpoint"])  # fmt: skip


def _episodes(cells: Sequence[dict[str, Any]]) -> set[tuple]:
    return {(c["task"], int(c["seed"]), int(c["episodes"])) for c in cells}


def compare_table(cells: Sequence[dict[str, Any]], level: float = 0.95) -> pd.DataFrame:
    """One row per (method, policy, camera, demos, variant, checkpoint): per-task and pooled success
    with intervals (``demos`` None where the cells do not say). A "max" row stands only where its
    cells cover the same tasks and training seeds as the "final" row (else it would pool other
    episodes); :func:`~workbench.compare.checkpoints.pending_max` names the rows left out."""
    if not cells:
        return pd.DataFrame()
    tasks = sorted({c["task"] for c in cells})
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for c in cells:
        groups.setdefault(_row_key(c), []).append(c)
    rows = []
    for key, g in sorted(groups.items()):
        if key[-1] == "max" and _episodes(g) != _episodes(groups.get((*key[:-1], "final"), [])):
            continue  # a "max" covering fewer tasks or seeds than "final" pools other episodes: pending
        row: dict[str, Any] = dict(zip(ROW_KEYS, key))
        row["demos"] = None if row["demos"] < 0 else row["demos"]
        for task in tasks:
            t = [c for c in g if c["task"] == task]
            if t:
                row[task] = pooled_rate([(c["successes"], c["episodes"]) for c in t], level)
        row["pooled"] = pooled_rate([(c["successes"], c["episodes"]) for c in g], level)
        seeds = sorted({int(c["seed"]) for c in g})
        row["seeds"] = {s: pooled_rate([(c["successes"], c["episodes"]) for c in g if int(c["seed"]) == s], level).estimate
                        for s in seeds}  # fmt: skip
        rows.append(row)
    return pd.DataFrame(rows)


def cell_value(cell: dict[str, Any], key: str) -> Any:
    """``cell[key]`` as the table reads it: a missing ``variant`` is the default (""), missing
    ``demos`` None (a folder written before cells named them)."""
    return str(cell.get("variant") or "") if key == "variant" else cell.get(key)


def varying(cells: Sequence[dict[str, Any]], key: str) -> list[Any]:
    """The distinct values of ``key`` among ``cells`` (sorted; None last), e.g. the camera setups or
    demos a collected table holds: a selector or a column is worth showing when there are several."""
    vals = {cell_value(c, key) for c in cells}
    return sorted(vals, key=lambda v: (v is None, v if isinstance(v, int) else -1, str(v)))


def compare_table_display(cells: Sequence[dict[str, Any]], *, camera_column: bool = True) -> pd.DataFrame:
    """The table as text: ``successes/episodes  rate [low, high] %`` per task and pooled. ``demos``
    and ``variant`` are columns only when the cells hold more than one of them."""
    t = compare_table(cells)
    if t.empty:
        return t
    keys = ["method", "policy"] + (["camera_setup"] if camera_column else [])
    keys += [k for k in ("demos", "variant") if len(varying(cells, k)) > 1] + ["checkpoint"]
    out = t[keys].copy()
    if "demos" in out:
        out["demos"] = [demos_text(d) for d in out["demos"]]
    if "variant" in out:
        out["variant"] = [v or "default" for v in out["variant"]]
    for c in [c for c in t.columns if c not in (*ROW_KEYS, "seeds")]:
        out[c] = [f"{round(iv.estimate * iv.n)}/{iv.n}  {iv.format(percent=True)}" if hasattr(iv, "estimate") else "-"
                  for iv in t[c]]  # fmt: skip
    out["per seed (pooled)"] = [", ".join(f"s{s}: {v * 100:.0f} %" for s, v in d.items()) for d in t["seeds"]]
    return out


def _markdown(t: pd.DataFrame) -> list[str]:
    lines = ["| " + " | ".join(t.columns) + " |", "|" + "---|" * len(t.columns)]
    return lines + ["| " + " | ".join(str(v) for v in r) + " |" for r in t.itertuples(index=False)]


def compare_table_markdown(cells: Sequence[dict[str, Any]]) -> str:
    """:func:`compare_table_display` as markdown, one section per camera setup (the tasks' columns
    are every task of the cells), with what the intervals are."""
    if not cells:
        return "no cells yet\n"
    tasks = sorted({c["task"] for c in cells})
    lines: list[str] = []
    for camera in varying(cells, "camera_setup"):
        sel = [c for c in cells if c["camera_setup"] == camera]
        t = compare_table_display(sel, camera_column=False)
        for task in tasks:  # the same columns in every section
            if task not in t:
                t.insert(list(t.columns).index("pooled"), task, "-")
        demos = ", ".join(str(d) for d in varying(sel, "demos") if d is not None)
        lines += [f"## {camera} camera" + (f" ({demos} demos per task)" if demos else ""), "", *_markdown(t), ""]
    note = ("95 % Wilson intervals; a task's column pools the training seeds. 'max' is optimistic, and shown only once "
            "every checkpoint of every training seed's run is evaluated. 'variant' names a folder's training settings that "
            "differ from the defaults.\n")  # fmt: skip
    pending = pending_max(cells)
    if pending:
        note += "\n'max' not shown for (checkpoints of its runs not all evaluated, or not recorded):\n\n"
        note += "".join(f"- {x}\n" for x in pending)
    return "\n".join(lines) + "\n" + note
