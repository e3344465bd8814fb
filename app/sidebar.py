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


SAMPLE_RUNS = DEFAULT_ROOT / "runs"


def run_roots() -> tuple[str, ...]:
    """Where pages look for trained runs: the user's runs root, then the shipped sample runs."""
    out = [str(runs_root())]
    if str(SAMPLE_RUNS) not in out:
        out.append(str(SAMPLE_RUNS))
    return tuple(out)


def run_label(run) -> str:
    sample = Path(run.path).parent == SAMPLE_RUNS
    return f"{run.id} · {run.method}" + (" · sample" if sample else "")


def choose_run(container, key: str, *, label: str = "Run"):
    """A run (with a checkpoint) from both run roots, or None with a note saying how to get one."""
    runs = cache.runs_in(run_roots())
    if not runs:
        container.info(f"No trained run found under {' or '.join(f'`{r}`' for r in run_roots())}. "
                       "Train one on the Jobs page or with `workbench train caip --preset smoke`.")  # fmt: skip
        return None
    pick = container.selectbox(label, range(len(runs)), format_func=lambda i: run_label(runs[i]), key=key)
    return runs[min(pick, len(runs) - 1)]


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
        # a widget whose key is already in the session state takes its value from there; passing
        # `index` as well makes Streamlit warn, so pass it only the first time
        kept = st.session_state.get("sidebar_dataset")
        if kept is not None and not (isinstance(kept, int) and 0 <= kept < len(entries)):
            del st.session_state["sidebar_dataset"]
        kw = {} if "sidebar_dataset" in st.session_state else {"index": idx}
        pick = st.selectbox("Dataset", range(len(entries)), format_func=lambda i: labels[i], key="sidebar_dataset", **kw)
        st.session_state[state.DATASET] = paths[pick]
        return entries[pick]


def fits(restored, data_path: str) -> bool:
    """Whether a run can read a dataset (the library decides: :meth:`TrainedRun.fits`)."""
    try:
        return restored.fits(cache.dataset(data_path, Path(data_path).stat().st_mtime)).ok
    except Exception:
        return False


def prefer_dataset_of(restored) -> None:
    """Before the dataset picker is drawn: when the current dataset does not fit the run but the
    run's own training dataset is listed, make that the chosen one (and say so)."""
    entries = cache.datasets_under(tuple(roots()))
    if not entries:
        return
    paths = [str(e.path) for e in entries]
    current = st.session_state.get(state.DATASET)
    current = current if current in paths else paths[0]
    if fits(restored, current):
        return
    own = _run_dataset(restored)
    if own is not None and own in paths:
        st.session_state[state.DATASET] = own
        st.session_state["sidebar_dataset"] = paths.index(own)
        st.toast(f"Switched to `{Path(own).name}`, the dataset this run trained on.")


def dataset_or_stop() -> tuple[DatasetEntry, str, float]:
    """The chosen dataset, its path and modification time (the cache key); stops the page when
    there is none (``choose_dataset`` has already said why)."""
    entry = choose_dataset()
    if entry is None:
        st.stop()
    path = str(entry.path)
    return entry, path, Path(path).stat().st_mtime


def analysis_inputs(page: str):
    """The run and dataset an analysis page works on: ``(run, run_path, stamp, data_path, mtime)``,
    or stops the page with a message saying what is missing."""
    run = choose_run(st.sidebar, f"{page}_run")
    if run is None:
        choose_dataset()
        st.stop()
    run_path = str(run.path)
    stamp = cache.checkpoint_stamp(run_path)
    try:
        restored = cache.restored(run_path, stamp)
    except Exception as e:  # a damaged checkpoint: say so, keep the app running
        choose_dataset()
        st.error(f"Cannot load run `{run.id}`: {e}")
        st.stop()
    prefer_dataset_of(restored)
    entry, data_path, mtime = dataset_or_stop()
    if not fits(restored, data_path):
        st.warning(f"Run `{run.id}` was trained on camera `{restored.sample_meta.camera}`, which dataset `{entry.name}` "
                   "cannot provide. Pick another dataset or run in the sidebar.")  # fmt: skip
        st.stop()
    return run, run_path, stamp, data_path, mtime


def _run_dataset(restored) -> str | None:
    """The listed dataset a run trained on, if it is under the roots."""
    from workbench.data.catalog import resolve_dataset_path

    p = restored.data.path
    if not p:
        return None
    try:
        target = resolve_dataset_path(p).resolve()
    except Exception:
        return None
    for e in cache.datasets_under(tuple(roots())):
        if Path(e.path).resolve() == target:
            return str(e.path)
    return None
