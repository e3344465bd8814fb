"""Neighbour grids: a query frame with its top-k by embedding and by action DTW (CLASS App. J.2,
Fig. 14/15). Row 1 is the embedding's neighbours, row 2 the DTW neighbours; the query leads both."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from workbench.viz.images import png_data_uri

__all__ = ["plot_neighbour_grid"]


def _check_images(a: np.ndarray, name: str) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim != 4 or a.shape[-1] != 3:
        raise ValueError(f"{name} must be (k, H, W, 3) images, got shape {a.shape}")
    return a.astype(np.uint8)


def plot_neighbour_grid(
    query: np.ndarray,
    embedding_images: np.ndarray,
    dtw_images: np.ndarray | None = None,
    *,
    embedding_captions: Sequence[str] | None = None,
    dtw_captions: Sequence[str] | None = None,
    query_caption: str = "query",
    title: str = "",
) -> go.Figure:
    """``query`` (H, W, 3) and neighbours (k, H, W, 3) uint8 -> a grid of ``go.Image`` traces
    (1 + k per row; the DTW row only when ``dtw_images`` is given). Captions label each tile
    (e.g. ``"ep 3 t 12 · cos 0.93"``).

    Each tile is a lossless PNG data URI (``source``), not a pixel array (``z``): the figure's JSON
    is ~10x smaller and the browser draws each tile as one image instead of painting every pixel
    (the Neighbours page's grid of 18 frames: 0.7 MB of JSON as pixel arrays)."""
    q = np.asarray(query)
    if q.ndim != 3 or q.shape[-1] != 3:
        raise ValueError(f"query must be (H, W, 3), got shape {q.shape}")
    rows = [("embedding", _check_images(embedding_images, "embedding_images"), embedding_captions)]
    if dtw_images is not None:
        rows.append(("action DTW", _check_images(dtw_images, "dtw_images"), dtw_captions))
    k = max(len(r[1]) for r in rows)
    titles = []
    for label, imgs, caps in rows:
        caps = list(caps) if caps is not None else [f"{label} #{i + 1}" for i in range(len(imgs))]
        titles += [query_caption] + caps + [""] * (k - len(imgs))
    fig = make_subplots(rows=len(rows), cols=k + 1, subplot_titles=titles, horizontal_spacing=0.01, vertical_spacing=0.08)
    for r, (label, imgs, _) in enumerate(rows, start=1):
        fig.add_trace(go.Image(source=png_data_uri(q.astype(np.uint8)), name=f"{label}: query"), row=r, col=1)
        for i, im in enumerate(imgs):
            fig.add_trace(go.Image(source=png_data_uri(im), name=f"{label} #{i + 1}"), row=r, col=i + 2)
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False)
    fig.update_annotations(font_size=10)
    fig.update_layout(title=title, height=170 * len(rows) + 60, margin=dict(l=10, r=10, t=60, b=10))
    return fig
