"""A light 3-D view of an episode's path with the action-chunk "worm" at one step (plotly)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from workbench.types import Episode

__all__ = ["episode_path", "plot_path_3d"]


def episode_path(ep: Episode) -> np.ndarray | None:
    """``(T, 3)``: the end-effector path, or the (first) wrist for hand episodes."""
    if ep.ee_pos is not None:
        return np.asarray(ep.ee_pos, dtype=np.float64)
    if ep.hand_keypoints is not None:
        return ep.hand_keypoints[:, 0, :3, 3]
    return None


def plot_path_3d(ep: Episode, frame: int = 0, horizon: int = 16, predicted: dict[str, np.ndarray] | None = None) -> go.Figure:
    """The whole path, the current position, the next ``horizon`` steps of ground truth and, for
    each predicted chunk ``(T, H, 3)``, its prediction at ``frame``."""
    path = episode_path(ep)
    if path is None:
        raise ValueError(f"episode {ep.index} has neither an end-effector pose nor hand keypoints")
    fig = go.Figure()
    fig.add_trace(go.Scatter3d(x=path[:, 0], y=path[:, 1], z=path[:, 2], mode="lines", name="path",
                               line=dict(color="lightgrey", width=3)))  # fmt: skip
    worm = path[frame : frame + horizon]
    fig.add_trace(go.Scatter3d(x=worm[:, 0], y=worm[:, 1], z=worm[:, 2], mode="lines+markers", name="ground truth chunk",
                               line=dict(color="#2ca02c", width=6), marker=dict(size=2)))  # fmt: skip
    for i, (name, chunks) in enumerate((predicted or {}).items()):
        c = np.asarray(chunks)[frame]
        fig.add_trace(go.Scatter3d(x=c[:, 0], y=c[:, 1], z=c[:, 2], mode="lines+markers", name=name,
                                   line=dict(width=6), marker=dict(size=2)))  # fmt: skip
    p = path[frame]
    fig.add_trace(go.Scatter3d(x=[p[0]], y=[p[1]], z=[p[2]], mode="markers", name=f"t={frame}", marker=dict(size=6, color="#d62728")))
    fig.update_layout(height=420, margin=dict(l=0, r=0, t=10, b=0), scene=dict(aspectmode="data"), legend=dict(orientation="h"))
    return fig
