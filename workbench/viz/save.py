"""``save_figure``: where every notebook's figures end up, in one folder, in formats that open offline."""

from __future__ import annotations

import json
import os
from pathlib import Path

import plotly.graph_objects as go

from workbench.atomic import atomic_path, atomic_write_text

__all__ = ["save_figure", "figures_dir"]


def figures_dir(default: str | Path = "figures") -> Path:
    """The output folder: ``ACTIONLENS_FIGURES`` when set (``workbench figures --out``), else ``default``."""
    return Path(os.environ.get("ACTIONLENS_FIGURES", default))


def save_figure(fig: go.Figure, name: str, out_dir: str | Path | None = None, *, meta: dict | None = None) -> Path:
    """Write ``fig`` as ``<name>.html`` (interactive, plotly.js beside it, no network needed) and
    ``<name>.json`` (the figure spec, plus ``meta`` such as the numbers a README quotes).

    Returns the HTML path.
    """
    out = Path(out_dir) if out_dir is not None else figures_dir()
    out.mkdir(parents=True, exist_ok=True)
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    html = out / f"{safe}.html"
    with atomic_path(html, suffix=".html") as tmp:
        # a fixed div id (not plotly's random one): the same figure writes the same file
        fig.write_html(tmp, include_plotlyjs="directory", full_html=True, div_id=safe)
    spec = json.loads(fig.to_json())
    if meta:
        spec["actionlens_meta"] = meta
    atomic_write_text(out / f"{safe}.json", json.dumps(spec))
    return html
