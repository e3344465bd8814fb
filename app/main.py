"""actionlens workbench — the Streamlit entry point: a router, nothing else."""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")

import preload
import streamlit as st

st.set_page_config(page_title="actionlens workbench", page_icon=":material/precision_manufacturing:", layout="wide")

pages = [
    st.Page("app_pages/datasets.py", title="Datasets", icon=":material/dataset:", default=True),
    st.Page("app_pages/playback.py", title="Playback", icon=":material/play_circle:"),
    st.Page("app_pages/latent.py", title="Latent space", icon=":material/scatter_plot:", url_path="latent"),
    st.Page("app_pages/neighbours.py", title="Neighbours", icon=":material/compare:", url_path="neighbours"),
    st.Page("app_pages/saliency.py", title="Saliency", icon=":material/visibility:", url_path="saliency"),
    st.Page("app_pages/jobs.py", title="Jobs", icon=":material/model_training:"),
    st.Page("app_pages/compare.py", title="Compare", icon=":material/leaderboard:", url_path="compare"),
]
page = st.navigation(pages)
# the browser compiles plotly.js while the server builds the page (ACTIONLENS_PRELOAD=0: not, to compare)
if page.title in preload.PLOTLY_PAGES and os.environ.get("ACTIONLENS_PRELOAD", "1") != "0":
    preload.preload_chunks()

import cache  # noqa: E402  (after the preload: a fresh server's first request imports pandas here, ~0.5 s)
import sidebar  # noqa: E402

sidebar.draw()  # one dataset and one run for every page, drawn here so they persist across pages
try:
    page.run()
finally:  # started once the first page is drawn, so its imports (numba) do not slow it down
    # (UMAP is not warmed here: its ~40 s compile holds the GIL and would slow every page; the shipped
    # runs carry their UMAPs, and the Latent page starts the compile when a UMAP is not on disk)
    if os.environ.get("ACTIONLENS_WARM_IMPORTS", "1") != "0":
        cache.imports_warmup()  # torch, scikit-learn…: imported while the user reads the first page, not on the next click
    if os.environ.get("ACTIONLENS_WARM_DTW", "1") != "0":
        cache.dtw_warmup()  # the DTW kernels, likewise (compiled once per clone, then loaded from numba's cache)
