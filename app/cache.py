"""Every Streamlit cache wrapper of the app lives here, so pages never cache on their own.

Each wrapper is one library call for one view; the run-on-a-dataset views all go through one
:class:`~workbench.analysis.run_analysis.RunAnalysis` per (run, dataset, stride), which opens the
dataset and embeds it once. The few plain functions compute cache keys or read through the caches.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from workbench.data import load_dataset
from workbench.data.catalog import DatasetEntry, find_datasets
from workbench.types import Episode
from workbench.warmup import Warmup, import_modules


_BACKGROUND = ThreadPoolExecutor(max_workers=1, thread_name_prefix="actionlens-projection")  # one at a time on 2 cores
_THUMBNAILS = ThreadPoolExecutor(max_workers=1, thread_name_prefix="actionlens-thumbnails")
_MAPS = ThreadPoolExecutor(max_workers=1, thread_name_prefix="actionlens-maps")  # not behind a minute of t-SNE


@st.cache_data(ttl=30, show_spinner=False)
def datasets_under(roots: tuple[str, ...]) -> tuple[list[DatasetEntry], list[str]]:
    """The datasets under the roots, and one line per folder that looks like a dataset but cannot be read."""
    problems: list = []
    return find_datasets(list(roots), problems=problems), [str(e) for e in problems]


@st.cache_resource(show_spinner=False, max_entries=8)
def dataset(path: str, mtime: float):
    """The opened dataset; ``mtime`` (of the folder) is part of the key so edits reload it."""
    return load_dataset(path, strict=False)


def open_dataset(path: str):
    p = Path(path)
    return dataset(str(p), p.stat().st_mtime)


@st.cache_data(show_spinner=False, max_entries=8)
def episode_table(path: str, mtime: float) -> pd.DataFrame:
    from workbench.data.stats import episode_table as table

    return table(dataset(path, mtime))


@st.cache_resource(show_spinner=False, max_entries=16)
def episode(path: str, mtime: float, index: int) -> Episode:
    return dataset(path, mtime).episode(index)


@st.cache_data(show_spinner=False, max_entries=32)
def frames(path: str, mtime: float, index: int, camera: str) -> np.ndarray:
    return episode(path, mtime, index).cameras[camera].rgb.load()


@st.cache_resource(show_spinner=False, max_entries=2)
def rerun_server(path: str, mtime: float, index: int, horizon: int, point_cloud: bool, worms: tuple = (), virtual_views: bool = False):
    """A served Rerun recording of one episode; kept alive by the cache (evicted ones stop).
    ``worms``: ``(name, run_path, stamp, k, anchor)`` per predicted-chunk worm (see :func:`ee_paths`)."""
    from workbench.viz.rerun import serve_episode

    predicted = {name: ee_paths(run, stamp, path, mtime, index, k, anchor) for name, run, stamp, k, anchor in worms}
    return serve_episode(episode(path, mtime, index), horizon=horizon, point_cloud=point_cloud, predicted_chunks=[predicted],
                         virtual_views=virtual_views)  # fmt: skip


@st.cache_resource(show_spinner=False, max_entries=8)
def thumbnails_job(path: str, mtime: float) -> Future:
    """``{episode: data URI}`` of each episode's first frame, made in a background thread: decoding
    every episode's video takes tens of seconds on a large dataset, and the table is useful before."""
    from workbench.viz.images import episode_thumbnails

    return _THUMBNAILS.submit(episode_thumbnails, dataset(path, mtime))


@st.cache_data(show_spinner=False, max_entries=8)
def task_stats(path: str, mtime: float):
    from workbench.data.stats import task_table

    return task_table(dataset(path, mtime))


# ------------------------------------------------------------------------------------------------
# runs, embeddings and the analyses built on them
# ------------------------------------------------------------------------------------------------


#: what the analysis pages and Jobs import (torch, scikit-learn, scipy, numba, matplotlib behind
#: them), most-needed first: imported in the background once the first page is drawn
HEAVY_MODULES = (
    "workbench.train.run", "workbench.analysis.run_analysis", "workbench.analysis.trajectories", "workbench.viz.latent",
    "workbench.methods", "workbench.train.jobs", "workbench.data.chunks", "workbench.dtw", "workbench.viz.neighbours",
    "workbench.viz.matrices", "workbench.viz.alignment", "workbench.viz.actions", "workbench.analysis.run_saliency",
    "workbench.viz.saliency", "workbench.eval.results", "workbench.eval.jobs", "workbench.viz.curves", "workbench.viz.training",
)  # fmt: skip


@st.cache_resource(show_spinner=False)
def imports_warmup() -> threading.Thread:
    """Import :data:`HEAVY_MODULES` in a background thread, once per server process: ~4 s of
    imports a user would otherwise wait for on their first visit of each analysis page."""
    return import_modules(HEAVY_MODULES, "actionlens-imports").start()


@st.cache_resource(show_spinner=False)
def umap_warmup() -> threading.Thread:
    """Start compiling umap-learn's kernels in a background thread, once per server process: when
    a UMAP is asked for that is not on disk (~40 s of the compiler holding the GIL, so not at start)."""

    def start() -> None:
        from workbench.analysis.projection import warm_umap

        warm_umap()

    return Warmup("actionlens-start-umap", start).start()  # its imports (numba) off the page's path


@st.cache_resource(show_spinner=False)
def dtw_warmup() -> threading.Thread:
    """Start compiling the DTW kernels in a background thread, once per server process (a fresh
    clone compiles them once, ~25 s of CPU; numba caches them on disk after that)."""

    def start() -> None:
        from workbench.dtw import warm_dtw

        warm_dtw()

    return Warmup("actionlens-start-dtw", start).start()


def dtw_ready() -> bool:
    """False while the background compile runs (a DTW call now would wait for it)."""
    from workbench.dtw.warmup import dtw_is_warming

    if os.environ.get("ACTIONLENS_WARM_DTW", "1") != "0" and dtw_warmup().is_alive():
        return False  # still importing, about to compile
    return not dtw_is_warming()


def umap_ready() -> bool:
    from workbench.analysis.projection import umap_is_warm

    return umap_is_warm()


@st.cache_data(ttl=5, show_spinner=False)
def runs_in(roots: tuple[str, ...]):
    """Runs with a checkpoint under each root, in root order (a model is needed to analyse them)."""
    from workbench.train import list_runs

    return [r for root in roots for r in list_runs(root, trained_only=True)]


def checkpoint_stamp(run_path: str) -> float:
    """Modification time of the run's latest checkpoint: part of every key, so a new one reloads."""
    from workbench.train.rundir import RunDir

    ck = RunDir(run_path).latest_checkpoint()
    return ck.stat().st_mtime if ck is not None else 0.0


@st.cache_resource(show_spinner=False, max_entries=6)
def restored(run_path: str, stamp: float):
    """The :class:`~workbench.train.run.TrainedRun` at ``run_path`` (``stamp``: its latest checkpoint's time)."""
    from workbench.train.run import load_run

    return load_run(run_path)


@st.cache_resource(show_spinner=False, max_entries=8)
def run_on_dataset(run_path: str, stamp: float, data_path: str, mtime: float, stride: int):
    """The run on the dataset (:class:`~workbench.analysis.run_analysis.RunAnalysis`): every view below asks it."""
    from workbench.analysis.run_analysis import RunAnalysis

    # cache_dir None: the run's own embeddings/ folder, keyed by content (the shipped samples carry theirs)
    return RunAnalysis(restored(run_path, stamp), dataset(data_path, mtime), stride)


@st.cache_resource(show_spinner=False, max_entries=8)
def embeddings(run_path: str, stamp: float, data_path: str, mtime: float, stride: int):
    """Every ``stride``-th frame of the dataset embedded by the run, cached in the run's ``embeddings/``
    folder keyed by the checkpoint's and the dataset's content (scripts/precompute_samples.py)."""
    return run_on_dataset(run_path, stamp, data_path, mtime, stride).embeddings


@st.cache_data(show_spinner=False, max_entries=16)
def projection(run_path: str, stamp: float, data_path: str, mtime: float, stride: int, projector: str) -> np.ndarray:
    return run_on_dataset(run_path, stamp, data_path, mtime, stride).projection(projector)


def stored_projection(run_path: str, stamp: float, data_path: str, mtime: float, stride: int, projector: str) -> np.ndarray | None:
    """The projection when it is on disk (the shipped samples carry theirs), else None; computes nothing."""
    return run_on_dataset(run_path, stamp, data_path, mtime, stride).stored_projection(projector)


@st.cache_resource(show_spinner=False, max_entries=16)
def projection_job(run_path: str, stamp: float, data_path: str, mtime: float, stride: int, projector: str) -> tuple[Future, float]:
    """The projection computed in a background thread (t-SNE and UMAP take a minute on a fresh
    run): ``(future, start time)``; a projection already on disk is done at once."""
    analysis = run_on_dataset(run_path, stamp, data_path, mtime, stride)
    analysis.embeddings  # noqa: B018 (embedded here, in the page's thread, not behind another job)
    return _BACKGROUND.submit(analysis.projection, projector), time.time()


@st.cache_data(show_spinner=False, max_entries=64)
def trained_on(run_path: str, stamp: float):
    """The run's camera and dataset (:func:`~workbench.train.rundir.trained_on`), read from its
    checkpoint's header: the sidebar lists runs without importing torch or loading a model."""
    from workbench.train.rundir import trained_on as read

    return read(run_path)


@st.cache_data(show_spinner=False, max_entries=64)
def run_fits(run_path: str, stamp: float, data_path: str, mtime: float) -> bool:
    """Whether the run can read the dataset (it trained on one of the dataset's cameras)."""
    try:
        return trained_on(run_path, stamp).reads(dataset(data_path, mtime).info().cameras)
    except Exception:  # a damaged run or dataset fits nothing
        return False


@st.cache_data(show_spinner=False, max_entries=16)
def alignment(run_path: str, stamp: float, data_path: str, mtime: float, stride: int):
    return run_on_dataset(run_path, stamp, data_path, mtime, stride).alignment()


@st.cache_resource(show_spinner=False, max_entries=8)
def rechunked(run_path: str, stamp: float, data_path: str, mtime: float, stride: int, kind: str, horizon: int):
    return run_on_dataset(run_path, stamp, data_path, mtime, stride).rechunked(kind, horizon)


@st.cache_data(show_spinner=False, max_entries=32)
def neighbours(run_path: str, stamp: float, data_path: str, mtime: float, stride: int, kind: str, horizon: int,
               row: int, k: int, window: int | None, cost: str, other_episodes: bool):  # fmt: skip
    return run_on_dataset(run_path, stamp, data_path, mtime, stride).neighbours(
        row, k, kind=kind, horizon=horizon, window=window, cost=cost, other_episodes=other_episodes)


@st.cache_resource(show_spinner=False, max_entries=16)
def neighbour_table(run_path: str, stamp: float, data_path: str, mtime: float, stride: int, kind: str, horizon: int,
                    window: int | None, cost: str):  # fmt: skip
    """The shipped DTW neighbour table of these chunks when its content key matches, else None
    (scripts/precompute_samples.py writes them into data_samples/neighbours/)."""
    return run_on_dataset(run_path, stamp, data_path, mtime, stride).neighbour_table(
        kind=kind, horizon=horizon, window=window, cost=cost)


@st.cache_data(show_spinner=False, max_entries=32)
def table_neighbours(run_path: str, stamp: float, data_path: str, mtime: float, stride: int, kind: str, horizon: int,
                     row: int, k: int, window: int | None, cost: str):  # fmt: skip
    """:func:`neighbours` among other episodes, read from the shipped table (no DTW computed)."""
    analysis = run_on_dataset(run_path, stamp, data_path, mtime, stride)
    table = neighbour_table(run_path, stamp, data_path, mtime, stride, kind, horizon, window, cost)
    return analysis.table_neighbours(row, k, table, kind=kind, horizon=horizon)


@st.cache_data(show_spinner=False, max_entries=32)
def dtw_threshold(run_path: str, stamp: float, data_path: str, mtime: float, stride: int, kind: str, horizon: int,
                  window: int | None, cost: str, quantile: float) -> float:  # fmt: skip
    """CLASS's K % positive threshold, from 20 000 random pairs (App. B's estimate)."""
    return run_on_dataset(run_path, stamp, data_path, mtime, stride).dtw_threshold(
        kind=kind, horizon=horizon, window=window, cost=cost, quantile=quantile)


@st.cache_data(show_spinner=False, max_entries=32)
def dtw_row(run_path: str, stamp: float, data_path: str, mtime: float, stride: int, kind: str, horizon: int, row: int,
            window: int | None, cost: str) -> np.ndarray:  # fmt: skip
    return run_on_dataset(run_path, stamp, data_path, mtime, stride).dtw_row(
        row, kind=kind, horizon=horizon, window=window, cost=cost)


@st.cache_data(show_spinner=False, max_entries=16)
def ee_paths(run_path: str, stamp: float, data_path: str, mtime: float, episode_index: int, k: int, anchor: bool) -> np.ndarray:
    from workbench.eval.ee_paths import knn_ee_paths

    return knn_ee_paths(restored(run_path, stamp), dataset(data_path, mtime), episode_index, k=k, anchor=anchor)


@st.cache_data(show_spinner=False, max_entries=32)
def saliency_panel(run_path: str, stamp: float, data_path: str, mtime: float, refs: tuple[tuple[int, int], ...],
                   text: str | None, names: tuple[str, ...], stride: int = 2):  # fmt: skip
    """Overlays of every map of ``names`` on frames ``refs``; ``text`` replaces their instruction."""
    return run_on_dataset(run_path, stamp, data_path, mtime, stride).saliency(refs, names, text=text)


@st.cache_resource(show_spinner=False, max_entries=16)
def saliency_job(run_path: str, stamp: float, data_path: str, mtime: float, refs: tuple[tuple[int, int], ...],
                 text: str | None, names: tuple[str, ...], stride: int = 2) -> Future:  # fmt: skip
    """:func:`saliency_panel` computed in a background thread, so the Saliency page is drawn at
    once and fills in the maps when they are ready."""
    analysis = run_on_dataset(run_path, stamp, data_path, mtime, stride)
    return _MAPS.submit(analysis.saliency, refs, names, text=text)


@st.cache_data(show_spinner=False, max_entries=16)
def randomisation(run_path: str, stamp: float, data_path: str, mtime: float, refs: tuple[tuple[int, int], ...],
                  text: str | None, name: str, stride: int = 2):  # fmt: skip
    return run_on_dataset(run_path, stamp, data_path, mtime, stride).randomisation(refs, name, text=text)


@st.cache_data(ttl=5, show_spinner=False, max_entries=16)
def eval_results(run_path: str) -> dict:
    from workbench.eval import load_eval_results

    return load_eval_results(run_path)


@st.cache_data(show_spinner=False, max_entries=512)
def frame(path: str, mtime: float, index: int, t: int, camera: str | None = None) -> np.ndarray:
    """One RGB frame (the camera's, or the episode's first camera's), decoded alone: the analysis
    pages show single frames of many episodes (neighbours, a selection), not whole episodes."""
    ep = episode(path, mtime, index)
    cam = camera if camera in ep.cameras else next(iter(ep.cameras))
    rgb = ep.cameras[cam].rgb
    return np.asarray(rgb[min(max(int(t), 0), len(rgb) - 1)])
