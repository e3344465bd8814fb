"""The comparison figure: success per task and pooled, bars with 95 % Wilson intervals."""

from __future__ import annotations

from typing import Any

__all__ = ["plot_compare"]


def plot_compare(table: Any, level: float = 0.95):
    """Grouped bars: x = task (and "pooled"), one bar per method/policy, one panel per checkpoint
    ("final", "max"); ``table`` is :func:`workbench.compare.compare_table`'s, whose Wilson
    intervals (at ``level``) are the error bars."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    t = table
    ckpts = [c for c in ("final", "max") if c in set(t["checkpoint"])] if not t.empty else ["final"]
    fig = make_subplots(rows=1, cols=len(ckpts), shared_yaxes=True,
                        subplot_titles=[f"{c} checkpoint" + (" (optimistic)" if c == "max" else "") for c in ckpts])  # fmt: skip
    if t.empty:
        return fig
    cols = [c for c in t.columns if c not in ("method", "policy", "camera_setup", "checkpoint", "seeds")]
    palette = ["#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2", "#B279A2", "#FF9DA6", "#9D755D", "#BAB0AC", "#EECA3B"]
    names = sorted({f"{r.method} · {r.policy}" for r in t.itertuples()})
    for j, ck in enumerate(ckpts, start=1):
        for i, name in enumerate(names):
            method, policy = name.split(" · ")
            sel = t[(t["checkpoint"] == ck) & (t["method"] == method) & (t["policy"] == policy)]
            if sel.empty:
                continue
            r = sel.iloc[0]
            xs = [c for c in cols if hasattr(r[c], "estimate")]
            est = [r[c].estimate for c in xs]
            fig.add_trace(go.Bar(
                x=xs, y=est, name=name, legendgroup=name, showlegend=j == 1, marker_color=palette[i % len(palette)],
                error_y=dict(type="data", symmetric=False, array=[r[c].high - r[c].estimate for c in xs],
                             arrayminus=[r[c].estimate - r[c].low for c in xs]),
                customdata=[[r[c].n, r[c].low, r[c].high] for c in xs],
                hovertemplate="%{x}: %{y:.2f} [%{customdata[1]:.2f}, %{customdata[2]:.2f}], n=%{customdata[0]}<extra>" + name + "</extra>",
            ), row=1, col=j)  # fmt: skip
    camera = ", ".join(sorted(set(t["camera_setup"])))
    fig.update_layout(barmode="group", title=f"closed-loop success ({camera} camera), {int(level * 100)} % Wilson intervals",
                      yaxis_title="success rate", yaxis_range=[0, 1.05], legend_title="method · policy", height=450)  # fmt: skip
    return fig
