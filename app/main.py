"""actionlens workbench — the Streamlit entry point: a router, nothing else."""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")

import streamlit as st

st.set_page_config(page_title="actionlens workbench", page_icon="🦾", layout="wide")

pages = [
    st.Page("app_pages/datasets.py", title="Datasets", icon="🗂️", default=True),
    st.Page("app_pages/jobs.py", title="Jobs", icon="🏋️"),
]
st.navigation(pages).run()
