"""A Plotly figure that a rerun updates in place: the Playback page's 3-D path, redrawn every step.

``st.plotly_chart`` makes the figure's spec part of the element's identity, so a figure that
changes (the chunk worm and the marker move with the scrubber) is a new element: the browser
mounts a new graph, for a 3-D scene a new WebGL context, 1.4 s per step in software-rendered
Chromium. This component (``app/live_plot.html``) keeps one graph and hands each new figure to
``Plotly.react``, which updates the traces of the scene already there (0.05 s for the same figure);
a ``layout.uirevision`` that stays the same keeps the user's camera. The page and the plotly.js
bundle that the ``plotly`` package ships are served by the Streamlit server itself.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
from pathlib import Path

import plotly
import plotly.graph_objects as go
import streamlit.components.v1 as components

from workbench.atomic import atomic_link, atomic_write_text
from workbench.paths import cache_root

_PAGE = Path(__file__).with_name("live_plot.html")
_BUNDLE = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def _component_folder() -> Path:
    page = _PAGE.read_text(encoding="utf-8")
    # keyed by plotly's version and the page's content: two checkouts sharing a cache each serve their own page
    tag = hashlib.blake2b(page.encode(), digest_size=6).hexdigest()
    folder = cache_root() / f"plotly-{importlib.metadata.version('plotly')}" / tag
    bundle = folder / _BUNDLE.name
    if not bundle.is_file() or bundle.stat().st_size != _BUNDLE.stat().st_size:
        atomic_link(_BUNDLE, bundle)
    if not (folder / "index.html").is_file() or (folder / "index.html").read_text(encoding="utf-8") != page:
        atomic_write_text(folder / "index.html", page)
    return folder


_plot = components.declare_component("live_plot", path=str(_component_folder()))


def live_plot(fig: go.Figure, *, key: str, height: int | None = None) -> None:
    """``fig`` in one Plotly graph that stays mounted across reruns (see the module docstring);
    ``height`` defaults to the figure's own ``layout.height`` (else 450 px)."""
    h = height or fig.layout.height or 450
    _plot(figure=fig.to_json(), height=int(h), key=key, default=None)
