"""Every Streamlit cache wrapper of the app lives here, so pages never cache on their own."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from workbench.data import load_dataset
from workbench.data.catalog import DatasetEntry, find_datasets
from workbench.types import Episode


@st.cache_data(ttl=30, show_spinner=False)
def datasets_under(roots: tuple[str, ...]) -> list[DatasetEntry]:
    return find_datasets(list(roots))


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
def rerun_server(path: str, mtime: float, index: int, horizon: int, point_cloud: bool):
    """A served Rerun recording of one episode; kept alive by the cache (evicted ones stop)."""
    from workbench.viz.rerun import serve_episode

    return serve_episode(episode(path, mtime, index), horizon=horizon, point_cloud=point_cloud)


@st.cache_data(show_spinner="Making thumbnails…", max_entries=8)
def thumbnails(path: str, mtime: float, camera: str | None = None, size: int = 48) -> dict[int, str]:
    """``{episode: data URI}`` of each episode's first frame (a small PNG)."""
    import base64
    import io

    from PIL import Image

    ds = dataset(path, mtime)
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
