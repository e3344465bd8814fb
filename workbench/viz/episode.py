"""Plotly figures of one episode: every scalar stream over time, and a frame strip."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from workbench.types import Episode

__all__ = ["episode_streams", "plot_episode_streams"]


def episode_streams(ep: Episode) -> dict[str, np.ndarray]:
    """Every per-step numeric stream of ``ep`` as named ``(T, D)`` arrays (hand keypoints as wrist xyz)."""
    out: dict[str, np.ndarray] = {"action": ep.actions}
    for name in ("ee_pos", "ee_quat", "gripper", "state"):
        a = getattr(ep, name)
        if a is not None:
            out[name] = np.asarray(a).reshape(len(ep), -1)
    if ep.hand_keypoints is not None:
        out["wrist_xyz"] = ep.hand_keypoints[:, 0, :3, 3]
    for k, v in ep.extras.items():
        v = np.asarray(v)
        if np.issubdtype(v.dtype, np.number) and v.ndim <= 2:
            out[k] = v.reshape(len(ep), -1)
    return out


def plot_episode_streams(ep: Episode, streams: list[str] | None = None, *, max_dims: int = 12, frame: int | None = None) -> go.Figure:
    """One subplot per stream, one line per dimension (up to ``max_dims``), time in seconds on x.

    ``frame`` draws a vertical marker at that step, so the plot follows a frame scrubber.
    """
    all_streams = episode_streams(ep)
    names = [s for s in (streams or list(all_streams)) if s in all_streams]
    if not names:
        raise ValueError(f"no such streams; the episode has {sorted(all_streams)}")
    fig = make_subplots(rows=len(names), cols=1, shared_xaxes=True, subplot_titles=names, vertical_spacing=0.04)
    t = np.asarray(ep.timestamps)
    for r, name in enumerate(names, start=1):
        a = all_streams[name]
        for d in range(min(a.shape[1], max_dims)):
            fig.add_trace(go.Scatter(x=t, y=a[:, d], mode="lines", name=f"{name}[{d}]", showlegend=False,
                                     hovertemplate=f"{name}[{d}]=%{{y:.3f}} t=%{{x:.2f}}s<extra></extra>"), row=r, col=1)  # fmt: skip
        if frame is not None and 0 <= frame < len(t):
            fig.add_vline(x=float(t[frame]), line_width=1, line_dash="dot", line_color="grey", row=r, col=1)
    fig.update_layout(height=170 * len(names) + 40, margin=dict(l=40, r=10, t=30, b=30))
    fig.update_xaxes(title_text="time (s)", row=len(names), col=1)
    return fig
