"""Curves, bars and tables from the evaluations: linear-probe accuracy vs samples per class with the
zero-shot line (CAIP §3.2, Fig. 3), the rate–distortion curve and table (CLAP §IV-B, Fig. 5,
Table V), cross-modal Recall@k (CLAMP App. B, Fig. 7), one bar per design variant with
baseline lines (CLASS Fig. 4), and estimates with their intervals, one panel per metric and one
colour per arm (CLAP §III-D / §III-E)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative

if TYPE_CHECKING:
    from workbench.stats import Interval

__all__ = ["plot_interval_panels", "plot_probe_curves", "plot_rate_distortion", "plot_recall_at_k", "plot_variant_bars",
           "rate_distortion_table"]

_PALETTE = qualitative.Plotly


def plot_probe_curves(
    curves: Mapping[str, tuple[Sequence[int], Sequence[float]] | tuple[Sequence[int], Sequence[float], Sequence[float]]],
    *,
    zero_shot: Mapping[str, float] | None = None,
    title: str = "",
) -> go.Figure:
    """Accuracy vs samples per class on a log x axis, one line per method (``name -> (shots,
    mean[, std])``; std draws error bars), and each method's zero-shot accuracy as a dashed
    horizontal line in the same colour."""
    fig = go.Figure()
    colours = {}
    for n, (name, c) in enumerate(curves.items()):
        shots, mean = np.asarray(c[0]), np.asarray(c[1], dtype=np.float64)
        if shots.shape != mean.shape or shots.ndim != 1:
            raise ValueError(f"{name}: shots and accuracies must be 1-D and equal length")
        std = np.asarray(c[2], dtype=np.float64) if len(c) > 2 else None
        colours[name] = _PALETTE[n % len(_PALETTE)]
        fig.add_trace(go.Scatter(x=shots, y=mean, mode="lines+markers", name=f"{name} (linear probe)",
                                 line=dict(color=colours[name]),
                                 error_y=dict(type="data", array=std, visible=True) if std is not None else None))  # fmt: skip
    for n, (name, acc) in enumerate((zero_shot or {}).items()):
        colour = colours.get(name, _PALETTE[(len(curves) + n) % len(_PALETTE)])
        xs = [min((min(c[0]) for c in curves.values()), default=1), max((max(c[0]) for c in curves.values()), default=256)]
        fig.add_trace(go.Scatter(x=xs, y=[acc, acc], mode="lines", name=f"{name} (zero-shot)",
                                 line=dict(color=colour, dash="dash")))  # fmt: skip
    fig.update_layout(title=title, xaxis_title="samples per class", yaxis_title="accuracy", template="plotly_white")
    fig.update_xaxes(type="log")
    return fig


def _get(p: Any, key: str) -> float:
    return float(p[key] if isinstance(p, Mapping) else getattr(p, key))


def plot_rate_distortion(
    points: Sequence[Any],
    *,
    group_by: str = "nq",
    y: str = "psnr",
    title: str = "",
) -> go.Figure:
    """Rate (Eq. 8) vs PSNR or MSE, one line per N_q (``group_by="nq"``) or per codebook size K
    (``"k"``), points sorted by rate (CLAP Fig. 5). ``points`` are
    :class:`~workbench.methods.clap.RateDistortionPoint` or dicts with ``nq, k, rate, psnr, mse``."""
    if group_by not in ("nq", "k"):
        raise ValueError(f"group_by must be 'nq' or 'k', got {group_by!r}")
    if y not in ("psnr", "mse"):
        raise ValueError(f"y must be 'psnr' or 'mse', got {y!r}")
    other = "k" if group_by == "nq" else "nq"
    groups: dict[int, list[Any]] = {}
    for p in points:
        groups.setdefault(int(_get(p, group_by)), []).append(p)
    fig = go.Figure()
    for n, (g, ps) in enumerate(sorted(groups.items())):
        ps = sorted(ps, key=lambda p: _get(p, "rate"))
        fig.add_trace(go.Scatter(
            x=[_get(p, "rate") for p in ps], y=[_get(p, y) for p in ps], mode="lines+markers",
            name=f"{'N_q' if group_by == 'nq' else 'K'} = {g}", line=dict(color=_PALETTE[n % len(_PALETTE)]),
            text=[f"{'K' if other == 'k' else 'N_q'} = {int(_get(p, other))}" for p in ps],
            hovertemplate="rate %{x:.3g}<br>" + y.upper() + " %{y:.3g}<br>%{text}<extra></extra>",
        ))  # fmt: skip
    fig.update_layout(title=title, xaxis_title="rate r (Eq. 8)", yaxis_title="PSNR (dB)" if y == "psnr" else "MSE",
                      template="plotly_white")  # fmt: skip
    return fig


def plot_recall_at_k(recalls: Mapping[str, Mapping[int, float]], *, title: str = "") -> go.Figure:
    """Grouped bars: x = k, one bar trace per series (e.g. ``"image→action"`` or a method), values
    in [0, 1] (CLAMP Fig. 7)."""
    fig = go.Figure()
    for n, (name, r) in enumerate(recalls.items()):
        ks = sorted(int(k) for k in r)
        vals = [float(r[k]) for k in ks]
        if any(not 0.0 <= v <= 1.0 for v in vals):
            raise ValueError(f"{name}: recall values must lie in [0, 1]")
        fig.add_trace(go.Bar(x=[f"R@{k}" for k in ks], y=vals, name=name, marker_color=_PALETTE[n % len(_PALETTE)],
                             text=[f"{v:.2f}" for v in vals], textposition="outside"))  # fmt: skip
    fig.update_layout(title=title, barmode="group", yaxis=dict(range=[0, 1.05], title="recall"), template="plotly_white")
    return fig


def plot_variant_bars(rows: Sequence[Mapping[str, Any]], *, value: str, label: str = "variant", group: str = "panel",
                      baselines: Sequence[str] = (), name: str = "", title: str = "", yaxis_title: str = "",
                      xaxis_title: str = "", error: str | None = None) -> go.Figure:  # fmt: skip
    """One bar per row (``row[label]``, height ``row[value]``), coloured by ``row[group]``, with a
    dotted / dashed horizontal line for each of ``baselines`` (keys of the first row; the line is
    named after the key without ``_mse``), and an error bar of half-width ``row[error]`` when
    ``error`` names a key (an interval over seeds; infinite or missing widths are not drawn).
    CLASS Fig. 4: k-NN error per design choice."""
    groups = list(dict.fromkeys(r[group] for r in rows))
    colour = {g: _PALETTE[i % len(_PALETTE)] for i, g in enumerate(groups)}
    bars = {}
    if error is not None:
        widths = [float(r.get(error, float("nan"))) for r in rows]
        bars["error_y"] = dict(type="data", array=[w if math.isfinite(w) else 0.0 for w in widths], visible=True)
    fig = go.Figure(go.Bar(x=[f"{r[label]}" for r in rows], y=[r[value] for r in rows],
                           marker_color=[colour[r[group]] for r in rows], text=[f"{r[value]:.4f}" for r in rows],
                           textposition="outside", name=name, **bars))  # fmt: skip
    for key, dash in zip(baselines, ("dot", "dash", "dashdot", "longdash")):
        if rows and key in rows[0]:
            fig.add_hline(y=rows[0][key], line_dash=dash, annotation_text=key.removesuffix("_mse").replace("_", " "))
    fig.update_layout(title=title, yaxis_title=yaxis_title, xaxis_title=xaxis_title)
    return fig


def rate_distortion_table(points: Sequence[Any], *, title: str = "") -> go.Figure:
    """CLAP Table V: N_q, K, MSE, PSNR, rate and codebook usage per point of a rate–distortion sweep."""
    cols = [[p.nq for p in points], [p.k for p in points], [f"{p.mse:.5f}" for p in points], [f"{p.psnr:.2f}" for p in points],
            [f"{p.rate:.3f}" for p in points], [f"{p.usage:.2f}" for p in points]]  # fmt: skip
    fig = go.Figure(go.Table(header=dict(values=["N_q", "K", "MSE", "PSNR (dB)", "rate", "codebook usage"]),
                             cells=dict(values=cols)))  # fmt: skip
    fig.update_layout(title=title)
    return fig


def plot_interval_panels(
    panels: Mapping[str, Mapping[str, tuple[Sequence[str], Sequence[Interval]]]],
    *,
    colors: Sequence[str] | None = None,
    references: Mapping[str, float] | None = None,
    title: str = "",
    height: int = 420,
) -> go.Figure:
    """Estimates with their intervals as markers with asymmetric error bars: one panel per entry
    of ``panels`` (``panel title -> arm -> (x labels, intervals)``, e.g. each training seed and the
    pooled rate), an arm keeps its colour (``colors`` in the order arms first appear) and one
    legend entry across panels; ``references`` draws a dashed line at a level in a panel
    (``panel title -> y``: the reference model's score)."""
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=list(panels))
    palette = list(colors) if colors else _PALETTE
    colour: dict[str, str] = {}
    for c, (panel, arms) in enumerate(panels.items(), start=1):
        for arm, (xs, ivs) in arms.items():
            first = arm not in colour
            colour.setdefault(arm, palette[len(colour) % len(palette)])
            fig.add_trace(go.Scatter(x=list(xs), y=[v.estimate for v in ivs], mode="markers", name=arm, legendgroup=arm,
                                     showlegend=first, marker=dict(size=9, color=colour[arm]),
                                     error_y=dict(type="data", symmetric=False, array=[v.high - v.estimate for v in ivs],
                                                  arrayminus=[v.estimate - v.low for v in ivs])), row=1, col=c)  # fmt: skip
        if references and panel in references:
            fig.add_hline(y=references[panel], line_dash="dash", row=1, col=c)
    fig.update_layout(title=title, height=height)
    return fig
