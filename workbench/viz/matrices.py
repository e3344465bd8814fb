"""Matrix heatmaps: a DTW cost matrix with its alignment path (CLASS §4.1), and SigLIP pairwise
matching probabilities sigmoid(t·x yᵀ + b) (CLAMP Fig. 8)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

__all__ = ["plot_dtw_matrix", "plot_matching_matrix"]


def plot_dtw_matrix(
    cost: np.ndarray,
    path: np.ndarray | None = None,
    *,
    x_label: str = "chunk B step",
    y_label: str = "chunk A step",
    title: str = "",
) -> go.Figure:
    """Heatmap of a (n, m) step-cost (or accumulated-cost) matrix; ``path`` (L, 2) of (i, j) cells
    (from :func:`workbench.dtw.dtw_path`) drawn on top as a line."""
    c = np.asarray(cost, dtype=np.float64)
    if c.ndim != 2:
        raise ValueError(f"cost must be a 2-D matrix, got shape {c.shape}")
    fig = go.Figure(go.Heatmap(z=c, colorscale="Viridis", colorbar=dict(title="cost"), name="cost",
                               hovertemplate="A %{y} · B %{x}<br>cost %{z:.3g}<extra></extra>"))  # fmt: skip
    if path is not None:
        p = np.asarray(path)
        if p.ndim != 2 or p.shape[1] != 2:
            raise ValueError(f"path must be (L, 2) cells, got shape {p.shape}")
        if (p < 0).any() or (p[:, 0] >= c.shape[0]).any() or (p[:, 1] >= c.shape[1]).any():
            raise ValueError("path leaves the matrix")
        fig.add_trace(go.Scatter(x=p[:, 1], y=p[:, 0], mode="lines+markers", name="alignment path",
                                 line=dict(color="white", width=2), marker=dict(size=4, color="white")))  # fmt: skip
    fig.update_layout(title=title, xaxis_title=x_label, yaxis_title=y_label, template="plotly_white")
    fig.update_yaxes(autorange="reversed", scaleanchor="x", scaleratio=1)
    return fig


def plot_matching_matrix(
    probabilities: np.ndarray,
    *,
    row_labels: Sequence[str] | None = None,
    col_labels: Sequence[str] | None = None,
    x_label: str = "action",
    y_label: str = "image",
    title: str = "",
) -> go.Figure:
    """Heatmap of SigLIP matching probabilities (n, m) in [0, 1] on a fixed 0–1 colour range, so
    a trained model's bright diagonal reads against a dark background (CLAMP Fig. 8)."""
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim != 2:
        raise ValueError(f"probabilities must be a 2-D matrix, got shape {p.shape}")
    if not np.all((p >= 0) & (p <= 1)):
        raise ValueError("probabilities must lie in [0, 1]")
    fig = go.Figure(go.Heatmap(z=p, x=list(col_labels) if col_labels is not None else None,
                               y=list(row_labels) if row_labels is not None else None,
                               zmin=0.0, zmax=1.0, colorscale="Blues", colorbar=dict(title="p(match)"), name="p(match)",
                               hovertemplate="row %{y} · col %{x}<br>p %{z:.3f}<extra></extra>"))  # fmt: skip
    fig.update_layout(title=title, xaxis_title=x_label, yaxis_title=y_label, template="plotly_white")
    fig.update_yaxes(autorange="reversed")
    return fig
