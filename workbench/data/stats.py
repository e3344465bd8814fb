"""Dataset statistics for browsing: the episode table, per-task counts, lengths, success; action ranges."""

from __future__ import annotations

import numpy as np
import pandas as pd

from workbench.data.dataset import Dataset

__all__ = ["action_summary", "episode_table", "task_table"]


def episode_table(ds: Dataset) -> pd.DataFrame:
    """One row per episode: index, task, length, camera setup, success, instruction."""
    return pd.DataFrame(
        [{"episode": i.index, "task": i.task, "length": i.length, "camera setup": i.camera_setup,
          "success": i.success, "instruction": i.instruction} for i in ds.infos]  # fmt: skip
    )


def task_table(ds: Dataset) -> pd.DataFrame:
    """One row per task: episodes, frames, mean/min/max length, success rate, camera setups."""
    df = pd.DataFrame([{"task": i.task, "length": i.length, "success": i.success, "setup": i.camera_setup} for i in ds.infos])
    if df.empty:
        return df
    g = df.groupby("task")
    return pd.DataFrame({
        "episodes": g.size(), "frames": g["length"].sum(), "mean length": g["length"].mean().round(1),
        "min length": g["length"].min(), "max length": g["length"].max(),
        "success rate": g["success"].apply(lambda s: float(np.mean([bool(x) for x in s if x is not None])) if s.notna().any() else np.nan),
        "camera setups": g["setup"].apply(lambda s: ", ".join(sorted(set(s)))),
    }).reset_index()  # fmt: skip


def action_summary(actions: np.ndarray) -> pd.DataFrame:
    """Per action dimension: mean, std, min, max over every step given ``(N, A)``."""
    a = np.asarray(actions, dtype=np.float64)
    return pd.DataFrame({"dim": np.arange(a.shape[1]), "mean": a.mean(0), "std": a.std(0), "min": a.min(0), "max": a.max(0)})
