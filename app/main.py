"""actionlens workbench — the Streamlit entry point: a router, nothing else."""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")

import streamlit as st

st.set_page_config(page_title="actionlens workbench", page_icon=":material/precision_manufacturing:", layout="wide")

pages = [
    st.Page("app_pages/datasets.py", title="Datasets", icon=":material/dataset:", default=True),
    st.Page("app_pages/playback.py", title="Playback", icon=":material/play_circle:"),
    st.Page("app_pages/jobs.py", title="Jobs", icon=":material/model_training:"),
]
st.navigation(pages).run()
