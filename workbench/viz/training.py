"""Training curves from ``metrics.jsonl`` records."""

from __future__ import annotations

import plotly.graph_objects as go

__all__ = ["plot_training_curves", "metric_keys"]


def metric_keys(records: list[dict]) -> list[str]:
    """Numeric metric names present in the records (step, time and lr excluded)."""
    keys: list[str] = []
    for r in records:
        for k, v in r.items():
            if k not in ("step", "time") and isinstance(v, (int, float)) and k not in keys:
                keys.append(k)
    return keys


def plot_training_curves(runs: dict[str, list[dict]], key: str = "loss", *, log_y: bool = False) -> go.Figure:
    """One line per run of metric ``key`` against the step."""
    fig = go.Figure()
    for name, recs in runs.items():
        pts = [(r["step"], r[key]) for r in recs if key in r and "step" in r]
        if pts:
            xs, ys = zip(*pts)
            fig.add_trace(go.Scatter(x=list(xs), y=list(ys), mode="lines+markers", name=name, marker=dict(size=4)))
    fig.update_layout(xaxis_title="step", yaxis_title=key, height=360, margin=dict(l=40, r=10, t=30, b=40),
                      legend=dict(orientation="h", y=-0.25))  # fmt: skip
    if log_y:
        fig.update_yaxes(type="log")
    return fig
