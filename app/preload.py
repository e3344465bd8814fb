"""Fetch and compile the frontend's big lazy chunks while the server is still running the page.

Streamlit's frontend loads a chart's JavaScript (``PlotlyChart.*.js``: 4.7 MB, ~1–2 s of parsing
and evaluation on a loaded 2-core machine) only when the first delta with that element arrives,
i.e. after the script has run up to the chart, and then the browser works alone while the server
idles. :func:`preload_chunks` sends, as the page's first delta, a tiny script that imports those
chunks at once, so the browser compiles them while the server builds the page; the element's
own lazy import later finds the module already evaluated (one module map per document, same URL).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import streamlit as st

#: the lazy frontend chunks worth fetching early (file names without their hash)
CHUNKS = ("PlotlyChart",)
#: the pages whose first render draws a plotly chart after server work worth overlapping. Not
#: Saliency (its figure comes later, from a background thread: compiling plotly.js at once only
#: competed with its first render, 2.8-3.6 s -> 5.9 s), nor Jobs (its script takes 0.3-1 s, too
#: little to hide the compile: no gain measured), nor Playback (no plotly)
PLOTLY_PAGES = frozenset({"Datasets", "Latent space", "Neighbours"})


@functools.cache
def chunk_files(names: tuple[str, ...] = CHUNKS) -> tuple[str, ...]:
    """The hashed file names of ``names`` in the installed Streamlit's frontend (none found: ``()``;
    a name with several files, e.g. a stale build, is skipped rather than guessed)."""
    folder = Path(st.__file__).parent / "static" / "static" / "js"
    out = []
    for name in names:
        found = sorted(p.name for p in folder.glob(f"{name}.*.js"))
        if len(found) == 1:
            out.append(found[0])
    return tuple(out)


def preload_script(files: tuple[str, ...]) -> str:
    """The ``<script>`` importing ``files`` from the folder the frontend's own index script came
    from (so a ``server.baseUrlPath`` is honoured); errors are ignored (the element's own import
    still runs and reports them)."""
    return ("<script>(() => { const index = document.querySelector('script[src*=\"/static/js/index.\"]');"
            " if (!index) return; const base = new URL('.', index.src);"
            f" for (const f of {json.dumps(list(files))}) import(new URL(f, base).href).catch(() => {{}}); }})();</script>")  # fmt: skip


def preload_chunks() -> None:
    """Emit the preload script (in the sidebar: it draws nothing); a no-op when no chunk is found."""
    files = chunk_files()
    if files:
        st.sidebar.html(preload_script(files), unsafe_allow_javascript=True)
