"""Every Streamlit cache wrapper of the app lives here, so pages never cache on their own."""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from workbench.data import load_dataset
from workbench.data.catalog import DatasetEntry, find_datasets
from workbench.types import Episode


_BACKGROUND = ThreadPoolExecutor(max_workers=1, thread_name_prefix="actionlens-projection")  # one at a time on 2 cores
_THUMBNAILS = ThreadPoolExecutor(max_workers=1, thread_name_prefix="actionlens-thumbnails")


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
    ds = dataset(path, mtime)
    return pd.DataFrame(
        [{"episode": i.index, "task": i.task, "length": i.length, "camera setup": i.camera_setup,
          "success": i.success, "instruction": i.instruction} for i in ds.infos]  # fmt: skip
    )


@st.cache_resource(show_spinner=False, max_entries=16)
def episode(path: str, mtime: float, index: int) -> Episode:
    return dataset(path, mtime).episode(index)


@st.cache_data(show_spinner=False, max_entries=32)
def frames(path: str, mtime: float, index: int, camera: str) -> np.ndarray:
    return episode(path, mtime, index).cameras[camera].rgb.load()


@st.cache_resource(show_spinner=False, max_entries=2)
def rerun_server(path: str, mtime: float, index: int, horizon: int, point_cloud: bool, worms: tuple = ()):
    """A served Rerun recording of one episode; kept alive by the cache (evicted ones stop).
    ``worms``: ``(name, run_path, stamp, k, anchor)`` per predicted-chunk worm (see :func:`ee_paths`)."""
    from workbench.viz.rerun import serve_episode

    predicted = {name: ee_paths(run, stamp, path, mtime, index, k, anchor) for name, run, stamp, k, anchor in worms}
    return serve_episode(episode(path, mtime, index), horizon=horizon, point_cloud=point_cloud, predicted_chunks=[predicted])


@st.cache_resource(show_spinner=False, max_entries=8)
def thumbnails_job(path: str, mtime: float) -> Future:
    """Thumbnails (:func:`_thumbnails`) in a background thread: decoding every episode's video takes tens of
    seconds on a large dataset, and the table is useful before they arrive."""
    return _THUMBNAILS.submit(_thumbnails, dataset(path, mtime))


def _thumbnails(ds, camera: str | None = None, size: int = 48) -> dict[int, str]:
    """``{episode: data URI}`` of each episode's first frame (a small PNG)."""
    import base64
    import io

    from PIL import Image

    out: dict[int, str] = {}
    for info in ds.infos:
        try:
            ep = ds.episode(info.index)
        except Exception:  # a bad episode has no thumbnail; the table still lists it
            continue
        cams = ep.cameras
        if not cams:
            continue
        cam = cams.get(camera) if camera in cams else next(iter(cams.values()))
        img = Image.fromarray(cam.rgb[0]).resize((size, size))
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        out[info.index] = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
    return out


@st.cache_data(show_spinner=False, max_entries=8)
def task_stats(path: str, mtime: float):
    from workbench.data.stats import task_table

    return task_table(dataset(path, mtime))


# ------------------------------------------------------------------------------------------------
# runs, embeddings and the analyses built on them
# ------------------------------------------------------------------------------------------------


@st.cache_resource(show_spinner=False)
def umap_warmup():
    """Start compiling umap-learn's kernels in a background thread, once per server process."""
    from workbench.analysis import warm_umap

    return warm_umap()


def umap_ready() -> bool:
    from workbench.analysis.projection import umap_is_warm

    return umap_is_warm()


@st.cache_data(ttl=5, show_spinner=False)
def runs_in(roots: tuple[str, ...]):
    """Runs with a checkpoint under each root, in root order (a model is needed to analyse them)."""
    from workbench.train import list_runs
    from workbench.train.rundir import RunDir

    out = []
    for root in roots:
        for r in list_runs(root):
            if RunDir(r.path).latest_checkpoint() is not None:
                out.append(r)
    return out


def checkpoint_stamp(run_path: str) -> float:
    """Modification time of the run's latest checkpoint: part of every key, so a new one reloads."""
    from workbench.train.rundir import RunDir

    ck = RunDir(run_path).latest_checkpoint()
    return ck.stat().st_mtime if ck is not None else 0.0


@st.cache_resource(show_spinner=False, max_entries=6)
def restored(run_path: str, stamp: float):
    from workbench.train.restore import load_run

    return load_run(run_path)


@st.cache_data(show_spinner=False, max_entries=64)
def run_fits(run_path: str, stamp: float, data_path: str, mtime: float) -> bool:
    """Whether the run can read the dataset: the dataset has the camera the run trained on."""
    try:
        camera = restored(run_path, stamp).sample_meta.camera
        return not camera or camera in dataset(data_path, mtime).info().cameras
    except Exception:  # a damaged run or dataset fits nothing; the sidebar says why elsewhere
        return False


@st.cache_resource(show_spinner=False, max_entries=8)
def embeddings(run_path: str, stamp: float, data_path: str, mtime: float, stride: int):
    """Every ``stride``-th frame of the dataset embedded by the run, cached on disk in the run's own
    ``embeddings/`` folder keyed by the checkpoint's and the dataset's content (so the shipped
    sample runs carry theirs, see scripts/precompute_samples.py, and a restart reads it back)."""
    from workbench.analysis import compute_embeddings

    return compute_embeddings(restored(run_path, stamp), dataset(data_path, mtime), stride=stride)


@st.cache_data(show_spinner=False, max_entries=16)
def projection(run_path: str, stamp: float, data_path: str, mtime: float, stride: int, projector: str) -> np.ndarray:
    from workbench.analysis import make_projector, project_cached

    emb = embeddings(run_path, stamp, data_path, mtime, stride)
    return project_cached(make_projector(projector, random_state=0), emb.vectors, cache_dir=projection_dir(run_path))




@st.cache_resource(show_spinner=False, max_entries=16)
def projection_job(run_path: str, stamp: float, data_path: str, mtime: float, stride: int, projector: str) -> tuple[Future, float]:
    """The projection computed in a background thread (t-SNE and UMAP take a minute on a fresh
    run): ``(future, start time)``; a projection already on disk is done at once."""
    from workbench.analysis import make_projector, project_cached

    emb = embeddings(run_path, stamp, data_path, mtime, stride)
    job = _BACKGROUND.submit(project_cached, make_projector(projector, random_state=0), emb.vectors, cache_dir=projection_dir(run_path))
    return job, time.time()


def projection_dir(run_path: str) -> Path:
    """Projections live beside the run's embeddings (keyed by the vectors' bytes), shipped with the samples."""
    return Path(run_path) / "embeddings" / "projections"


@st.cache_data(show_spinner=False, max_entries=16)
def alignment(run_path: str, stamp: float, data_path: str, mtime: float, stride: int):
    from workbench.analysis import trajectory_alignment

    emb = embeddings(run_path, stamp, data_path, mtime, stride)
    return trajectory_alignment(emb.vectors, emb.episode, emb.task, emb.progress)


@st.cache_resource(show_spinner=False, max_entries=8)
def rechunked(run_path: str, stamp: float, data_path: str, mtime: float, stride: int, kind: str, horizon: int):
    from workbench.analysis.rechunk import rechunk

    return rechunk(embeddings(run_path, stamp, data_path, mtime, stride), dataset(data_path, mtime), kind, horizon)


@st.cache_data(show_spinner=False, max_entries=32)
def neighbours(run_path: str, stamp: float, data_path: str, mtime: float, stride: int, kind: str, horizon: int,
               row: int, k: int, window: int | None, cost: str, other_episodes: bool):  # fmt: skip
    from workbench.analysis import compare_neighbours

    emb = rechunked(run_path, stamp, data_path, mtime, stride, kind, horizon)
    return compare_neighbours(emb, [row], k, exclude_same_episode=other_episodes, window=window, cost=cost, n_random=256)


@st.cache_data(show_spinner=False, max_entries=32)
def dtw_threshold(run_path: str, stamp: float, data_path: str, mtime: float, stride: int, kind: str, horizon: int,
                  window: int | None, cost: str, quantile: float) -> float:  # fmt: skip
    """CLASS's K % positive threshold, from 20 000 random pairs (App. B's estimate)."""
    from workbench.dtw import estimate_threshold

    emb = rechunked(run_path, stamp, data_path, mtime, stride, kind, horizon)
    return estimate_threshold(emb.chunks, quantile, n_pairs=20_000, window=window, cost=cost).threshold


@st.cache_data(show_spinner=False, max_entries=32)
def dtw_row(run_path: str, stamp: float, data_path: str, mtime: float, stride: int, kind: str, horizon: int, row: int,
            window: int | None, cost: str) -> np.ndarray:  # fmt: skip
    from workbench.dtw import pairwise_dtw

    emb = rechunked(run_path, stamp, data_path, mtime, stride, kind, horizon)
    return pairwise_dtw(emb.chunks[row : row + 1], emb.chunks, window=window, cost=cost)[0]


@st.cache_data(show_spinner=False, max_entries=16)
def ee_paths(run_path: str, stamp: float, data_path: str, mtime: float, episode_index: int, k: int, anchor: bool) -> np.ndarray:
    from workbench.eval.ee_paths import knn_ee_paths

    return knn_ee_paths(restored(run_path, stamp), dataset(data_path, mtime), episode_index, k=k, anchor=anchor)


@st.cache_data(show_spinner=False, max_entries=32)
def saliency_panel(run_path: str, stamp: float, data_path: str, mtime: float, refs: tuple[tuple[int, int], ...],
                   text: str | None, names: tuple[str, ...], stride: int = 4):  # fmt: skip
    """Overlays of every map of ``names`` on frames ``refs``; ``text`` replaces their instruction."""
    from workbench.analysis.run_saliency import frame_samples, run_saliency, saliency_target, target_kind

    run = restored(run_path, stamp)
    samples = frame_samples(run, dataset(data_path, mtime), refs)
    if text is not None:
        samples = samples.with_text(text)
    target = None
    if any(n not in ("text_pooling", "map_probe", "pca") for n in names):
        emb = embeddings(run_path, stamp, data_path, mtime, stride) if target_kind(run.method) == "prototype" else None
        target = saliency_target(run.method, samples, embeddings=emb)
    return samples.display, samples.texts, run_saliency(run.method, samples, target, names)


@st.cache_data(show_spinner=False, max_entries=16)
def randomisation(run_path: str, stamp: float, data_path: str, mtime: float, refs: tuple[tuple[int, int], ...],
                  text: str | None, name: str, stride: int = 4):  # fmt: skip
    from workbench.analysis.run_saliency import frame_samples, randomisation_score, target_kind

    run = restored(run_path, stamp)
    samples = frame_samples(run, dataset(data_path, mtime), refs)
    if text is not None:
        samples = samples.with_text(text)
    emb = embeddings(run_path, stamp, data_path, mtime, stride) if target_kind(run.method) == "prototype" else None
    return randomisation_score(run.method, samples, name, embeddings=emb)


@st.cache_data(ttl=5, show_spinner=False, max_entries=16)
def eval_results(run_path: str) -> dict:
    from workbench.eval import load_eval_results

    return load_eval_results(run_path)


def frame(path: str, mtime: float, index: int, t: int, camera: str | None = None) -> np.ndarray:
    """One RGB frame (the camera's, or the episode's first camera's) through the per-episode cache."""
    ep = episode(path, mtime, index)
    cam = camera if camera in ep.cameras else next(iter(ep.cameras))
    rgb = frames(path, mtime, index, cam)
    return rgb[min(max(int(t), 0), len(rgb) - 1)]
