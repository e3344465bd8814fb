"""Saliency overlays side by side: rows are images, columns are encoders or attribution methods
(CAIP Fig. 4: input, CAIP, SigLIP, DINOv2). Takes ready overlays (uint8 images, e.g. from
:func:`workbench.analysis.saliency.overlay_map`), so it needs no model."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

__all__ = ["plot_saliency_overlays"]


def plot_saliency_overlays(
    columns: Mapping[str, np.ndarray],
    *,
    row_labels: Sequence[str] | None = None,
    scores: Mapping[str, Sequence[float]] | None = None,
    title: str = "",
) -> go.Figure:
    """``columns``: name -> (R, H, W, 3) uint8 images (put the raw input first, e.g. ``"input"``).
    One ``go.Image`` trace per cell. ``scores`` (name -> R numbers, e.g. mass in the gripper/object
    mask) are appended to that column's tile titles."""
    if not columns:
        raise ValueError("columns is empty")
    arrays = {k: np.asarray(v) for k, v in columns.items()}
    n_rows = {a.shape[0] for a in arrays.values()}
    for k, a in arrays.items():
        if a.ndim != 4 or a.shape[-1] != 3:
            raise ValueError(f"column {k!r} must be (R, H, W, 3) images, got shape {a.shape}")
    if len(n_rows) != 1:
        raise ValueError(f"columns differ in their number of images: { {k: a.shape[0] for k, a in arrays.items()} }")
    rows = n_rows.pop()
    names = list(arrays)
    titles = []
    for r in range(rows):
        for name in names:
            t = name if r == 0 else ""
            if scores is not None and name in scores:
                t = f"{t} {float(scores[name][r]):.2f}".strip()
            titles.append(t)
    fig = make_subplots(rows=rows, cols=len(names), subplot_titles=titles, horizontal_spacing=0.01, vertical_spacing=0.03)
    for r in range(rows):
        for c, name in enumerate(names):
            fig.add_trace(go.Image(z=arrays[name][r].astype(np.uint8), name=f"{name} {r}"), row=r + 1, col=c + 1)
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False)
    if row_labels is not None:
        for r, label in enumerate(row_labels):
            fig.update_yaxes(title_text=label, row=r + 1, col=1)
    fig.update_layout(title=title, height=180 * rows + 60, margin=dict(l=10, r=10, t=60, b=10))
    return fig
