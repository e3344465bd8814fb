"""Action-chunk figures: a predicted chunk against the true one, per dimension or as a 3-D path."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

__all__ = ["plot_action_chunks"]


def plot_action_chunks(
    true: np.ndarray,
    predicted: np.ndarray | None = None,
    *,
    mode: str = "per_dim",
    dim_names: Sequence[str] | None = None,
    dims: Sequence[int] | None = None,
    title: str = "",
) -> go.Figure:
    """``true`` and ``predicted`` chunks (H, D).

    ``"per_dim"``: one small panel per dimension (``dims``, default all), true solid and predicted
    dashed. ``"3d"``: the first three of ``dims`` (e.g. end-effector x, y, z) as 3-D paths with the
    start marked.
    """
    t = np.asarray(true, dtype=np.float64)
    if t.ndim != 2:
        raise ValueError(f"true must be (H, D), got shape {t.shape}")
    p = None if predicted is None else np.asarray(predicted, dtype=np.float64)
    if p is not None and p.shape != t.shape:
        raise ValueError(f"predicted {p.shape} must match true {t.shape}")
    dims = list(dims) if dims is not None else list(range(t.shape[1]))
    if any(not 0 <= d < t.shape[1] for d in dims):
        raise ValueError(f"dims must lie in [0, {t.shape[1]})")
    names = list(dim_names) if dim_names is not None else [f"a{d}" for d in range(t.shape[1])]
    steps = np.arange(t.shape[0])
    if mode == "3d":
        if len(dims) < 3:
            raise ValueError("mode='3d' needs three dimensions")
        x, y, z = dims[:3]
        fig = go.Figure()
        for label, c, dash in (("true", t, "solid"), ("predicted", p, "dash")):
            if c is None:
                continue
            fig.add_trace(go.Scatter3d(x=c[:, x], y=c[:, y], z=c[:, z], mode="lines+markers", name=label,
                                       line=dict(dash=dash, width=4), marker=dict(size=3),
                                       customdata=steps, hovertemplate="step %{customdata}<extra>" + label + "</extra>"))  # fmt: skip
        fig.update_layout(title=title, scene=dict(xaxis_title=names[x], yaxis_title=names[y], zaxis_title=names[z]))
        return fig
    if mode != "per_dim":
        raise ValueError(f"mode must be 'per_dim' or '3d', got {mode!r}")
    cols = min(4, len(dims))
    rows = -(-len(dims) // cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[names[d] for d in dims], shared_xaxes=True)
    colours = qualitative.Plotly
    for n, d in enumerate(dims):
        r, c = n // cols + 1, n % cols + 1
        fig.add_trace(go.Scatter(x=steps, y=t[:, d], mode="lines", name="true", legendgroup="true", showlegend=n == 0,
                                 line=dict(color=colours[0])), row=r, col=c)  # fmt: skip
        if p is not None:
            fig.add_trace(go.Scatter(x=steps, y=p[:, d], mode="lines", name="predicted", legendgroup="predicted",
                                     showlegend=n == 0, line=dict(color=colours[1], dash="dash")), row=r, col=c)  # fmt: skip
    fig.update_layout(title=title, template="plotly_white", height=200 * rows + 80)
    return fig
