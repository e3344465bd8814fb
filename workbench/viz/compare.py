"""The comparison figures: success per task and pooled, bars with 95 % Wilson intervals; and, where a
collected table holds several numbers of demos for a camera setup, success against demos (CLASS
Fig. 11)."""

from __future__ import annotations

from typing import Any

__all__ = ["demo_sweep_cameras", "demos_text", "plot_compare", "plot_demo_sweep"]

_PALETTE = ["#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2", "#B279A2", "#FF9DA6", "#9D755D", "#BAB0AC", "#EECA3B"]


def demos_text(demos: Any) -> str:
    """A table row's ``demos`` as text: "?" where the cells do not say (None, or NaN in a table
    column that mixes them with numbers); the figure's bars and the markdown table both read it."""
    return "?" if demos is None or demos != demos else str(int(demos))


def _bar_name(r: Any, demos: bool, variant: bool) -> str:
    parts = [r.method, r.policy]
    if demos:
        parts.append(f"{demos_text(r.demos)} demos")
    if variant:
        parts.append(r.variant or "default")
    return " · ".join(str(p) for p in parts)


def plot_compare(table: Any, level: float = 0.95):
    """Grouped bars: x = task (and "pooled"), one bar per method/policy (and demos / variant where
    the table holds several), one panel per camera setup (rows) and checkpoint ("final", "max";
    columns); ``table`` is :func:`workbench.compare.compare_table`'s, whose Wilson intervals (at
    ``level``) are the error bars."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    t = table
    ckpts = [c for c in ("final", "max") if c in set(t["checkpoint"])] if not t.empty else ["final"]
    cameras = sorted(set(t["camera_setup"])) if not t.empty else [""]
    titles = [(f"{cam} camera · " if len(cameras) > 1 else "") + f"{c} checkpoint" + (" (optimistic)" if c == "max" else "")
              for cam in cameras for c in ckpts]  # fmt: skip
    fig = make_subplots(rows=len(cameras), cols=len(ckpts), shared_yaxes=True, subplot_titles=titles,
                        vertical_spacing=0.12 if len(cameras) > 1 else 0.3)  # fmt: skip
    if t.empty:
        return fig
    cols = [c for c in t.columns if c not in ("method", "policy", "camera_setup", "demos", "variant", "checkpoint", "seeds")]
    many_demos = "demos" in t and t["demos"].nunique(dropna=False) > 1
    many_variants = "variant" in t and t["variant"].nunique() > 1
    t = t.assign(_name=[_bar_name(r, many_demos, many_variants) for r in t.itertuples()])
    names = sorted(set(t["_name"]))
    shown: set[str] = set()
    for i_cam, cam in enumerate(cameras, start=1):
        for j, ck in enumerate(ckpts, start=1):
            for i, name in enumerate(names):
                sel = t[(t["checkpoint"] == ck) & (t["camera_setup"] == cam) & (t["_name"] == name)]
                if sel.empty:
                    continue
                r = sel.iloc[0]
                xs = [c for c in cols if hasattr(r[c], "estimate")]
                fig.add_trace(go.Bar(
                    x=xs, y=[r[c].estimate for c in xs], name=name, legendgroup=name, showlegend=name not in shown,
                    marker_color=_PALETTE[i % len(_PALETTE)],
                    error_y=dict(type="data", symmetric=False, array=[r[c].high - r[c].estimate for c in xs],
                                 arrayminus=[r[c].estimate - r[c].low for c in xs]),
                    customdata=[[r[c].n, r[c].low, r[c].high] for c in xs],
                    hovertemplate="%{x}: %{y:.2f} [%{customdata[1]:.2f}, %{customdata[2]:.2f}], n=%{customdata[0]}<extra>"
                                  + f"{name} ({cam})</extra>",
                ), row=i_cam, col=j)  # fmt: skip
                shown.add(name)
    camera = ", ".join(cameras)
    fig.update_layout(barmode="group", title=f"closed-loop success ({camera} camera), {int(level * 100)} % Wilson intervals",
                      legend_title="method · policy" + (" · demos" if many_demos else "") + (" · variant" if many_variants else ""),
                      height=450 if len(cameras) == 1 else 120 + 330 * len(cameras))  # fmt: skip
    fig.update_yaxes(range=[0, 1.05])
    fig.update_yaxes(title_text="success rate", col=1)
    return fig


def _sweep_lines(table: Any) -> tuple[Any, bool]:
    """The "final" rows a demo sweep draws, each named by its line (``_name``: method · policy, and
    variant where the rows hold several), kept only where its line holds two or more numbers of
    demos under its camera setup (a row at one number stays in the bar figure); and whether the
    names carry the variant."""
    t = table[(table["checkpoint"] == "final") & table["demos"].notna()]
    t = t[t.groupby("camera_setup")["demos"].transform("nunique") > 1]
    many_variants = t["variant"].nunique() > 1
    t = t.assign(_name=[_bar_name(r, False, many_variants) for r in t.itertuples()])
    return t[t.groupby(["camera_setup", "_name"])["demos"].transform("nunique") > 1], many_variants


def demo_sweep_cameras(table: Any) -> list[str]:
    """The camera setups where some method · policy holds two or more numbers of demos in its
    "final" rows (a line to plot)."""
    if table.empty or "demos" not in table:
        return []
    return sorted(set(_sweep_lines(table)[0]["camera_setup"]))


def plot_demo_sweep(table: Any, level: float = 0.95):
    """CLASS Fig. 11: pooled success (the final checkpoint, over tasks and training seeds) against
    demonstrations per task, log-scaled x; one line per method · policy (and variant where the
    table holds several) that has two or more numbers of demos, Wilson intervals at ``level`` as
    error bars, the lines dodged a few % apart on the x axis; one panel per camera setup
    with two or more numbers of demos (:func:`demo_sweep_cameras`). ``table`` is
    :func:`workbench.compare.compare_table`'s. A point pools whatever tasks its row holds: compare
    lines whose tasks agree."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    cameras = demo_sweep_cameras(table)
    fig = make_subplots(rows=1, cols=max(1, len(cameras)), shared_yaxes=True,
                        subplot_titles=[f"{cam} camera" for cam in cameras] or [""])  # fmt: skip
    if not cameras:
        return fig
    t, many_variants = _sweep_lines(table)
    names = sorted(set(t["_name"]))
    shown: set[str] = set()
    for j, cam in enumerate(cameras, start=1):
        for i, name in enumerate(names):
            sel = t[(t["camera_setup"] == cam) & (t["_name"] == name)].sort_values("demos")
            if sel.empty:
                continue
            ivs = list(sel["pooled"])
            xs = [int(d) for d in sel["demos"]]
            # lines side by side around each number of demos (a few % on the log axis), so the bars do not hide each other
            dodge = 1.0 + 0.03 * (i - (len(names) - 1) / 2)
            fig.add_trace(go.Scatter(
                x=[x * dodge for x in xs], y=[iv.estimate for iv in ivs], mode="lines+markers", name=name, legendgroup=name,
                showlegend=name not in shown,
                line=dict(color=_PALETTE[i % len(_PALETTE)]),
                error_y=dict(type="data", symmetric=False, array=[iv.high - iv.estimate for iv in ivs],
                             arrayminus=[iv.estimate - iv.low for iv in ivs]),
                customdata=[[iv.n, iv.low, iv.high, x] for iv, x in zip(ivs, xs)],
                hovertemplate="%{customdata[3]} demos: %{y:.2f} [%{customdata[1]:.2f}, %{customdata[2]:.2f}], n=%{customdata[0]}<extra>"
                              + f"{name} ({cam})</extra>",
            ), row=1, col=j)  # fmt: skip
            shown.add(name)
        ticks = sorted({int(d) for d in t[t["camera_setup"] == cam]["demos"]})
        fig.update_xaxes(type="log", tickvals=ticks, ticktext=[str(d) for d in ticks], title_text="demonstrations per task",
                         row=1, col=j)  # fmt: skip
    fig.update_layout(title=f"success vs demonstrations per task (final checkpoint, pooled over tasks and training seeds; "
                            f"{int(level * 100)} % Wilson)",
                      legend_title="method · policy" + (" · variant" if many_variants else ""), height=450)  # fmt: skip
    top = max(iv.high for iv in t["pooled"])
    fig.update_yaxes(range=[0, min(1.05, 1.15 * top + 0.02)])
    fig.update_yaxes(title_text="success rate", col=1)
    return fig
