"""The sidebar every page shares: dataset roots, ONE dataset and ONE run for the whole app.

``draw()`` runs in the entry script (app/main.py) before the page, so its widgets keep their values
across pages; the choice is mirrored in the URL (``?dataset=…&run=…``) so a reload or a shared link
restores it. Pages read the choice with :func:`dataset_or_stop`, :func:`run_or_none` and
:func:`analysis_inputs`. Changing the dataset drops every page's inputs (they were made for the
old one), and the run picker offers only runs that can read the chosen dataset.
"""

from __future__ import annotations

import os
from pathlib import Path

import cache
import state
import streamlit as st

from workbench.data.catalog import DEFAULT_ROOT, DatasetEntry, find_datasets
from workbench.types import DataError

SAMPLE_RUNS = DEFAULT_ROOT / "runs"


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


def run_roots() -> tuple[str, ...]:
    """Where pages look for trained runs: the user's runs root, then the shipped sample runs."""
    out = [str(runs_root())]
    if str(SAMPLE_RUNS) not in out:
        out.append(str(SAMPLE_RUNS))
    return tuple(out)


def run_label(run) -> str:
    sample = Path(run.path).parent == SAMPLE_RUNS
    return f"{run.id} · {run.method}" + (" · sample" if sample else "")


def _entries() -> list[DatasetEntry]:
    return cache.datasets_under(tuple(roots()))[0]


def _fits(run_path: str, data_path: str) -> bool:
    return cache.run_fits(run_path, cache.checkpoint_stamp(run_path), data_path, Path(data_path).stat().st_mtime)


def fitting_runs(data_path: str) -> list:
    """The runs (with a checkpoint, from both run roots) that can read the dataset."""
    return [r for r in cache.runs_in(run_roots()) if _fits(str(r.path), data_path)]


def _run_dataset(run_path: str) -> str | None:
    """The listed dataset a run trained on, if it is under the roots."""
    from workbench.data.catalog import resolve_dataset_path

    try:
        p = cache.trained_on(run_path, cache.checkpoint_stamp(run_path)).data_path
        target = resolve_dataset_path(p).resolve() if p else None
    except Exception:
        return None
    for e in _entries():
        if target is not None and Path(e.path).resolve() == target:
            return str(e.path)
    return None


def _default_pair(paths: list[str]) -> tuple[str, str | None]:
    """A dataset and a run that work together: the first run whose own training dataset is
    listed; else the first dataset (and the first run that fits it)."""
    for r in cache.runs_in(run_roots()):
        own = _run_dataset(str(r.path))
        if own in paths and _fits(str(r.path), own):
            return own, str(r.path)
    return paths[0], None


def _from_query(entries: list[DatasetEntry]) -> None:
    """On a session's first run, the dataset and run named in the URL become the choice."""
    if st.session_state.get("sidebar_query_read"):
        return
    st.session_state["sidebar_query_read"] = True
    want = st.query_params.get("dataset")
    if want:
        hit = [str(e.path) for e in entries if want in (e.name, str(e.path))]
        if hit:
            st.session_state[state.SIDEBAR_DATASET] = hit[0]
            st.session_state[state.LAST_DATASET] = hit[0]
        else:
            st.toast(f"Dataset `{want}` from the link is not under the roots; showing another.")
    want_run = st.query_params.get("run")
    if want_run:
        hit = [str(r.path) for r in cache.runs_in(run_roots()) if want_run in (r.id, str(r.path))]
        if hit:
            st.session_state[state.SIDEBAR_RUN] = hit[0]


def _reset_page_inputs() -> None:
    """The dataset changed: every page's inputs (episodes, frames, instructions…) were made for the old one."""
    for k in list(st.session_state):
        if isinstance(k, str) and k.startswith(state.DATASET_PAGES):
            del st.session_state[k]


def _add_root_form() -> None:
    with st.expander("Dataset roots", expanded=False):
        for r in roots():
            st.caption(r)
        new = st.text_input("Add a folder", key="sidebar_new_root", placeholder="/path/to/datasets")
        if st.button("Add root", key="sidebar_add_root") and new:
            p = Path(new).expanduser()
            if not p.is_dir():
                st.error(f"`{p}` is not a folder.")
                return
            problems: list[DataError] = []
            found = find_datasets([p], problems=problems)
            if not found:
                why = "; ".join(str(e) for e in problems[:3]) or "no LeRobot, robomimic or hand-pose dataset in it or its subfolders"
                st.error(f"Not added: `{p}` holds no readable dataset — {why}")
                return
            st.session_state[state.ROOTS] = roots() + [str(p.resolve())]
            if problems:
                st.session_state["sidebar_root_note"] = f"Added `{p}`; {len(problems)} folder(s) in it cannot be read: {problems[0]}"
            cache.datasets_under.clear()
            st.rerun()
        note = st.session_state.pop("sidebar_root_note", None)
        if note:
            st.warning(note)


def draw() -> None:
    """The global sidebar: roots, the dataset, the run; mirrors the choice into the URL."""
    with st.sidebar:
        _add_root_form()
        entries, problems = cache.datasets_under(tuple(roots()))
        if problems:
            st.caption(f"{len(problems)} folder(s) under the roots cannot be read: {problems[0]}"
                       + (" (and more)" if len(problems) > 1 else ""))  # fmt: skip
        if not entries:
            st.warning("No datasets found under the roots. Run `workbench data make-samples` or add a folder.")
            st.session_state[state.DATASET] = None
            st.session_state[state.RUN] = None
            return
        _from_query(entries)
        paths = [str(e.path) for e in entries]
        labels = {str(e.path): f"{e.name}  ·  {e.layout}" for e in entries}
        if st.session_state.get(state.SIDEBAR_DATASET) not in paths:
            data_default, run_default = _default_pair(paths)
            st.session_state[state.SIDEBAR_DATASET] = data_default
            if run_default is not None and state.SIDEBAR_RUN not in st.session_state:
                st.session_state[state.SIDEBAR_RUN] = run_default
        data_path = st.selectbox("Dataset", paths, format_func=labels.get, key=state.SIDEBAR_DATASET)
        last = st.session_state.get(state.LAST_DATASET)
        if last is not None and last != data_path:
            _reset_page_inputs()
        st.session_state[state.LAST_DATASET] = data_path
        st.session_state[state.DATASET] = data_path

        runs = fitting_runs(data_path)
        run_paths = [str(r.path) for r in runs]
        run_labels = {str(r.path): run_label(r) for r in runs}
        if not runs:
            st.session_state.pop(state.SIDEBAR_RUN, None)
            st.session_state[state.RUN] = None
            st.caption(f"No trained run reads `{Path(data_path).name}` (none has its camera). Train one on the Jobs "
                       "page or with `workbench train caip --preset smoke --set data.path=…`.")  # fmt: skip
            run_path = None
        else:
            if st.session_state.get(state.SIDEBAR_RUN) not in run_paths:  # prefer a run trained on this very dataset
                own = [p for p in run_paths if _run_dataset(p) == data_path]
                st.session_state[state.SIDEBAR_RUN] = (own or run_paths)[0]
            run_path = st.selectbox("Run", run_paths, format_func=run_labels.get, key=state.SIDEBAR_RUN,
                                    help="Only runs that can read the chosen dataset (they trained on one of its cameras)")  # fmt: skip
            st.session_state[state.RUN] = run_path
        name = [e.name for e in entries if str(e.path) == data_path][0]
        query = {"dataset": name}
        if run_path is not None:
            query["run"] = [r.id for r in runs if str(r.path) == run_path][0]
        if dict(st.query_params) != query:
            st.query_params.from_dict(query)


def dataset_or_stop() -> tuple[DatasetEntry, str, float]:
    """The chosen dataset, its path and modification time (the cache key); stops the page when
    there is none (the sidebar has already said why)."""
    path = st.session_state.get(state.DATASET)
    hit = [e for e in _entries() if str(e.path) == path]
    if not hit:
        st.info("Pick a dataset in the sidebar.")
        st.stop()
    return hit[0], path, Path(path).stat().st_mtime


def run_or_none():
    """The chosen run's summary, or None when no run reads the chosen dataset."""
    path = st.session_state.get(state.RUN)
    hit = [r for r in cache.runs_in(run_roots()) if str(r.path) == path]
    return hit[0] if hit else None


def analysis_inputs(page: str):
    """The run and dataset an analysis page works on: ``(run, run_path, stamp, data_path, mtime)``,
    or stops the page with a message saying what is missing."""
    entry, data_path, mtime = dataset_or_stop()
    run = run_or_none()
    if run is None:
        st.info(f"No trained run reads `{entry.name}`. Pick another dataset in the sidebar, or train a run on it "
                "on the Jobs page.")  # fmt: skip
        st.stop()
    run_path = str(run.path)
    stamp = cache.checkpoint_stamp(run_path)
    try:
        cache.restored(run_path, stamp)
    except Exception as e:  # a damaged checkpoint: say so, keep the app running
        st.error(f"Cannot load run `{run.id}`: {e}")
        st.stop()
    return run, run_path, stamp, data_path, mtime


def embeddings_or_stop(run, run_path: str, stamp: float, data_path: str, mtime: float, stride: int):
    """The run's embeddings of every ``stride``-th frame (:func:`cache.embeddings`), behind a
    spinner, or stops the page saying why the dataset cannot be embedded."""
    with st.spinner("Embedding the frames (once per run and dataset; cached on disk)…"):
        try:
            return cache.embeddings(run_path, stamp, data_path, mtime, stride)
        except Exception as e:
            st.error(f"Cannot embed this dataset with run `{run.id}`: {e}")
            st.stop()
