"""Latent-trajectory figures: one path per episode through a 2-D projection (CLASS App. J.1, Fig. 13).

Each episode is one trace (lines + markers, in time order). Hover shows the episode, task, camera
setup and step; ``customdata`` rows are ``[sample_id, episode, time]`` so an app can map a clicked
or lasso-selected point back to its frame (``point["customdata"][0]``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative, sample_colorscale

from workbench.analysis.trajectories import LatentTrajectory



__all__ = ["plot_latent_trajectories", "plot_latent_panels", "selected_sample_ids", "distinct_colours", "COLOR_BY"]

COLOR_BY = ("episode", "task", "time", "camera_setup")


def plot_latent_trajectories(
    trajectories: Sequence[LatentTrajectory],
    *,
    color_by: str = "episode",
    title: str = "",
    show_markers: bool = True,
) -> go.Figure:
    """A figure with one scatter trace per trajectory (2-D points).

    ``color_by``: ``"episode"`` (a colour per episode), ``"task"`` or ``"camera_setup"`` (a colour
    per value, one legend entry per value), or ``"time"`` (markers coloured by the step on a shared
    colour bar, lines grey).
    """
    if color_by not in COLOR_BY:
        raise ValueError(f"color_by must be one of {COLOR_BY}, got {color_by!r}")
    if color_by != "time":
        keys = {str({"episode": t.episode, "task": t.task, "camera_setup": t.camera_setup}[color_by]) for t in trajectories}
        palette = distinct_colours(len(keys))
    fig = go.Figure()
    groups: dict[str, int] = {}
    tmax = max((int(t.time.max()) for t in trajectories if len(t)), default=1)
    for n, tr in enumerate(trajectories):
        pts = np.asarray(tr.points)
        if pts.ndim != 2 or pts.shape[1] != 2:
            raise ValueError(f"episode {tr.episode}: trajectories must be 2-D points, got shape {pts.shape}")
        custom = np.stack([tr.sample_ids, np.full(len(tr), tr.episode), tr.time], axis=1)
        if color_by == "time":
            colour, group, show = "rgba(120,120,120,0.5)", None, False
            marker = dict(size=5, color=tr.time, colorscale="Viridis", cmin=0, cmax=tmax,
                          showscale=n == 0, colorbar=dict(title="step"))  # fmt: skip
        else:
            key = {"episode": str(tr.episode), "task": tr.task, "camera_setup": tr.camera_setup}[color_by]
            first = key not in groups
            groups.setdefault(key, len(groups))
            colour = palette[groups[key] % len(palette)]
            group, show = key, first or color_by == "episode"
            marker = dict(size=5, color=colour)
        fig.add_trace(go.Scatter(
            x=pts[:, 0], y=pts[:, 1], mode="lines+markers" if show_markers else "lines",
            line=dict(color=colour, width=1.5), marker=marker, customdata=custom,
            name=f"episode {tr.episode}" if color_by in ("episode", "time") else str(group),
            legendgroup=group, showlegend=show,
            hovertemplate=(f"episode %{{customdata[1]}}<br>task {tr.task}<br>camera {tr.camera_setup}"
                           "<br>step %{customdata[2]}<br>sample %{customdata[0]}<extra></extra>"),
        ))  # fmt: skip
    fig.update_layout(title=title, xaxis_title="dim 1", yaxis_title="dim 2", template="plotly_white",
                      legend=dict(itemsizing="constant"))  # fmt: skip
    fig.update_yaxes(scaleanchor="x", scaleratio=1)
    return fig


def distinct_colours(n: int) -> list[str]:
    """``n`` colours no two of which are the same: Plotly's ten when they suffice, else ``n`` hues
    of the Turbo scale visited in golden-ratio steps (so neighbouring indices differ strongly)."""
    if n <= len(qualitative.Plotly):
        return list(qualitative.Plotly[: max(n, 1)])
    golden = (np.sqrt(5) - 1) / 2
    return sample_colorscale("Turbo", [0.05 + 0.9 * ((i * golden) % 1.0) for i in range(n)])


def selected_sample_ids(points: Sequence[dict], trajectories: Sequence[LatentTrajectory]) -> list[int]:
    """The sample ids of the points of a Plotly selection event (Streamlit's ``event.selection.points``),
    sorted and unique.

    Plotly 6 sends a numpy ``customdata`` row in its compact form, ``{"0": id, "1": episode, …}``,
    older versions a list; without ``customdata`` the trace and point index name the sample.
    """
    rows: set[int] = set()
    for p in points:
        cd = p.get("customdata")
        if isinstance(cd, dict) and cd:
            rows.add(int(cd.get("0", cd.get(0))))
        elif isinstance(cd, (list, tuple)) and cd:
            rows.add(int(cd[0]))
        else:
            trace, index = p.get("curve_number"), p.get("point_index", p.get("point_number"))
            if trace is None or index is None or not 0 <= int(trace) < len(trajectories):
                continue
            rows.add(int(trajectories[int(trace)].sample_ids[int(index)]))
    return sorted(rows)


def plot_latent_panels(points: Mapping[str, np.ndarray], labels: Sequence[str], *, subtitles: Mapping[str, str] | None = None,
                       title: str = "", height: int = 450) -> go.Figure:  # fmt: skip
    """One scatter panel per entry of ``points`` (name -> (N, 2) projection of the same N items),
    every point coloured by its ``labels`` entry with one shared legend (CLAP Fig. 9: t-SNE of the
    action latents of two training arms, coloured by task)."""
    from plotly.subplots import make_subplots

    names = list(points)
    lab = np.asarray(labels)
    fig = make_subplots(rows=1, cols=len(names), subplot_titles=[(subtitles or {}).get(n, n) for n in names])
    palette = qualitative.Plotly
    colours = {v: palette[i % len(palette)] for i, v in enumerate(sorted(set(lab.tolist())))}
    for c, name in enumerate(names, start=1):
        xy = np.asarray(points[name])
        for value, colour in colours.items():
            sel = lab == value
            fig.add_trace(go.Scatter(x=xy[sel, 0], y=xy[sel, 1], mode="markers", name=str(value), legendgroup=str(value),
                                     showlegend=c == 1, marker=dict(size=5, color=colour)), row=1, col=c)  # fmt: skip
    fig.update_layout(title=title, height=height)
    return fig
