"""The sidebar every page shares: dataset roots and the chosen dataset."""

from __future__ import annotations

import os
from pathlib import Path

import cache
import state
import streamlit as st

from workbench.data.catalog import DEFAULT_ROOT, DatasetEntry


def roots() -> list[str]:
    """Dataset roots: ``ACTIONLENS_ROOTS`` (os.pathsep-separated) or the shipped samples, plus any added."""
    if state.ROOTS not in st.session_state:
        env = os.environ.get("ACTIONLENS_ROOTS")
        st.session_state[state.ROOTS] = env.split(os.pathsep) if env else [str(DEFAULT_ROOT)]
    return st.session_state[state.ROOTS]


def runs_root() -> Path:
    """Where runs live: ``ACTIONLENS_RUNS`` or ``runs/`` beside the app."""
    if state.JOBS_RUNS_ROOT not in st.session_state:
        st.session_state[state.JOBS_RUNS_ROOT] = os.environ.get("ACTIONLENS_RUNS", str(DEFAULT_ROOT.parent / "runs"))
    return Path(st.session_state[state.JOBS_RUNS_ROOT])


def choose_dataset() -> DatasetEntry | None:
    """Root management and a dataset picker; returns the chosen dataset or None."""
    with st.sidebar:
        st.subheader("Datasets")
        with st.expander("Dataset roots", expanded=False):
            for r in roots():
                st.caption(r)
            new = st.text_input("Add a folder", key="sidebar_new_root", placeholder="/path/to/datasets")
            if st.button("Add root", key="sidebar_add_root") and new:
                p = Path(new).expanduser()
                if p.is_dir():
                    st.session_state[state.ROOTS] = roots() + [str(p.resolve())]
                    st.rerun()
                else:
                    st.error(f"{p} is not a folder")
        entries = cache.datasets_under(tuple(roots()))
        if not entries:
            st.warning("No datasets found under the roots. Run `workbench data make-samples` or add a folder.")
            return None
        labels = [f"{e.name}  ·  {e.layout}" for e in entries]
        paths = [str(e.path) for e in entries]
        current = st.session_state.get(state.DATASET)
        idx = paths.index(current) if current in paths else 0
        pick = st.selectbox("Dataset", range(len(entries)), index=idx, format_func=lambda i: labels[i], key="sidebar_dataset")
        st.session_state[state.DATASET] = paths[pick]
        return entries[pick]
