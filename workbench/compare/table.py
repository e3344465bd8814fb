"""The comparison table: success per task and pooled, with 95 % Wilson intervals, from the cells.

Rows are (method, policy, checkpoint); a task's column pools the training seeds (summed counts:
every episode counts once) and ``pooled`` pools the tasks too. ``seeds`` gives the per-seed pooled
rates so the spread between training seeds stays visible beside the interval.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from workbench.stats import pooled_rate

__all__ = ["compare_table", "compare_table_display", "compare_table_markdown", "load_compare"]


def load_compare(path: str | Path) -> dict[str, Any]:
    """Read ``compare.json`` (a file, or the folder holding it), checking the cells' fields."""
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
    return doc


def compare_table(cells: Sequence[dict[str, Any]], level: float = 0.95) -> pd.DataFrame:
    """One row per (method, policy, camera, checkpoint): per-task and pooled success with intervals."""
    if not cells:
        return pd.DataFrame()
    df = pd.DataFrame(cells)
    tasks = sorted(df["task"].unique())
    rows = []
    for (method, policy, camera, ckpt), g in df.groupby(["method", "policy", "camera_setup", "checkpoint"], sort=True):
        row: dict[str, Any] = {"method": method, "policy": policy, "camera_setup": camera, "checkpoint": ckpt}
        for task in tasks:
            t = g[g["task"] == task]
            if len(t):
                row[task] = pooled_rate(zip(t["successes"], t["episodes"]), level)
        row["pooled"] = pooled_rate(zip(g["successes"], g["episodes"]), level)
        row["seeds"] = {int(s): pooled_rate(zip(x["successes"], x["episodes"]), level).estimate for s, x in g.groupby("seed")}
        rows.append(row)
    return pd.DataFrame(rows)


def compare_table_display(cells: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """The table as text: ``successes/episodes  rate [low, high] %`` per task and pooled."""
    t = compare_table(cells)
    if t.empty:
        return t
    keys = ["method", "policy", "camera_setup", "checkpoint"]
    out = t[keys].copy()
    for c in [c for c in t.columns if c not in (*keys, "seeds")]:
        out[c] = [f"{round(iv.estimate * iv.n)}/{iv.n}  {iv.format(percent=True)}" if hasattr(iv, "estimate") else "-"
                  for iv in t[c]]  # fmt: skip
    out["per seed (pooled)"] = [", ".join(f"s{s}: {v * 100:.0f} %" for s, v in d.items()) for d in t["seeds"]]
    return out


def compare_table_markdown(cells: Sequence[dict[str, Any]]) -> str:
    """:func:`compare_table_display` as a markdown table, with what the intervals are."""
    t = compare_table_display(cells)
    if t.empty:
        return "no cells yet\n"
    lines = ["| " + " | ".join(t.columns) + " |", "|" + "---|" * len(t.columns)]
    lines += ["| " + " | ".join(str(v) for v in r) + " |" for r in t.itertuples(index=False)]
    return "\n".join(lines) + "\n\n95 % Wilson intervals; a task's column pools the training seeds. 'max' is optimistic.\n"
