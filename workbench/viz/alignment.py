"""The DTW alignment of two action chunks drawn as matched steps (CLASS §4.1): both chunks over
time, one dimension each, with a grey line joining every (i, j) pair on the warping path."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

__all__ = ["plot_dtw_alignment", "step_costs"]


def step_costs(a: np.ndarray, b: np.ndarray, cost: str = "sqeuclidean") -> np.ndarray:
    """(n, m) matrix of per-step costs c(a_i, b_j) between chunks (n, D) and (m, D), the matrix DTW
    accumulates (``"sqeuclidean"`` ‖a − b‖², ``"euclidean"`` ‖a − b‖)."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"chunks must be (n, D) and (m, D) with the same D, got {x.shape} and {y.shape}")
    d = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
    if cost == "euclidean":
        return np.sqrt(d)
    if cost != "sqeuclidean":
        raise ValueError(f"cost must be 'sqeuclidean' or 'euclidean', got {cost!r}")
    return d


def plot_dtw_alignment(a: np.ndarray, b: np.ndarray, path: np.ndarray, *, dim: int = 0, offset: float | None = None,
                       labels: tuple[str, str] = ("query", "neighbour"), title: str = "") -> go.Figure:  # fmt: skip
    """Dimension ``dim`` of chunks ``a`` (n, D) and ``b`` (m, D) against the step, ``b`` shifted
    down by ``offset`` (default 1.5 × the larger range) so the matching lines stay readable."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    p = np.asarray(path)
    if p.ndim != 2 or p.shape[1] != 2 or (p[:, 0] >= len(x)).any() or (p[:, 1] >= len(y)).any():
        raise ValueError(f"path must be (L, 2) cells inside ({len(x)}, {len(y)})")
    if not 0 <= dim < x.shape[1]:
        raise ValueError(f"dim must lie in [0, {x.shape[1]})")
    xa, yb = x[:, dim], y[:, dim]
    if offset is None:
        offset = 1.5 * max(np.ptp(xa), np.ptp(yb), 1e-6)
    yb = yb - offset
    lx, ly = [], []
    for i, j in p:
        lx += [int(i), int(j), None]
        ly += [xa[i], yb[j], None]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=lx, y=ly, mode="lines", line=dict(color="rgba(120,120,120,0.6)", width=1),
                             name="alignment", hoverinfo="skip"))  # fmt: skip
    fig.add_trace(go.Scatter(x=np.arange(len(xa)), y=xa, mode="lines+markers", name=labels[0]))
    fig.add_trace(go.Scatter(x=np.arange(len(yb)), y=yb, mode="lines+markers", name=f"{labels[1]} (shifted)"))
    fig.update_layout(title=title, xaxis_title="step", yaxis_title=f"dim {dim}", template="plotly_white",
                      height=320, margin=dict(l=10, r=10, t=40, b=10))  # fmt: skip
    fig.update_yaxes(showticklabels=False)
    return fig
