"""One library call per view: RunAnalysis gives what the separate library steps give, embedding once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import make_robot_episode
from workbench.analysis import compare_neighbours, compute_embeddings
from workbench.analysis import run_analysis as ra
from workbench.analysis.rechunk import rechunk
from workbench.analysis.run_analysis import RunAnalysis
from workbench.data import load_dataset, write_lerobot
from workbench.dtw import pairwise_dtw
from workbench.train import create_run, make_config
from workbench.train.loop import train
from workbench.train.run import load_run


@pytest.fixture(scope="module")
def run_and_data(tmp_path_factory) -> tuple[Path, Path]:
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("runanalysis")
    data = write_lerobot([make_robot_episode(i, T=12, task=("reach", "push")[i % 2]) for i in range(6)], root / "d",
                         lossless=True)  # fmt: skip
    cfg = make_config("random_encoder", "smoke", [f"data.path={data}", "steps=1", "ckpt_every=1", "data.chunk_kind=raw",
                                                  "data.horizon=4", "data.image_size=64", "data.camera=scene",
                                                  "device=cpu", "num_threads=1"])  # fmt: skip
    rd = create_run(cfg, root / "run")
    train(rd.path)
    return rd.path, data


def test_each_view_is_the_library_steps_and_embeds_once(run_and_data, tmp_path, monkeypatch):
    run_path, data = run_and_data
    run, ds = load_run(run_path, map_location="cpu"), load_dataset(data)
    calls = []
    real = ra.compute_embeddings
    monkeypatch.setattr(ra, "compute_embeddings", lambda *a, **kw: calls.append(1) or real(*a, **kw))
    view = RunAnalysis(run, ds, stride=2, cache_dir=tmp_path)
    got = view.neighbours(3, 4, kind="raw", horizon=3, window=None, cost="sqeuclidean", other_episodes=True)
    row = view.dtw_row(3, kind="raw", horizon=3, window=None, cost="sqeuclidean")
    view.alignment()
    assert len(calls) == 1  # three views, one pass of the encoder

    emb = compute_embeddings(run, ds, stride=2, cache=False)
    chunks = rechunk(emb, ds, "raw", 3)
    want = compare_neighbours(chunks, [3], 4, exclude_same_episode=True, n_random=256)
    np.testing.assert_array_equal(got.embedding_indices, want.embedding_indices)
    np.testing.assert_array_equal(got.dtw_indices, want.dtw_indices)
    np.testing.assert_allclose(row, pairwise_dtw(chunks.chunks[3:4], chunks.chunks)[0])
    shown, texts, panel = view.saliency([(0, 2), (1, 5)], ["pca"], text="push it")
    assert shown.shape[0] == 2 and texts == ("push it", "push it") and panel.overlays["pca"].shape[:1] == (2,)


def test_precompute_writes_what_the_pages_look_up(run_and_data, tmp_path):
    """scripts/precompute_samples.py goes through RunAnalysis: the projection and the DTW table it
    writes are found under the keys the app's views look up."""
    import importlib.util
    import shutil

    run_path, data = run_and_data
    root = tmp_path / "samples"
    shutil.copytree(data, root / "d")
    shutil.copytree(run_path, root / "runs" / "r", ignore=shutil.ignore_patterns("embeddings", "lock"))
    spec = importlib.util.spec_from_file_location("precompute_samples", Path(__file__).resolve().parents[1] / "scripts" / "precompute_samples.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert script.main(["--root", str(root), "--projectors", "pca"]) == 0

    view = RunAnalysis(load_run(root / "runs" / "r", map_location="cpu"), load_dataset(root / "d"), stride=2)
    assert view.stored_projection("pca") is not None and view.stored_projection("tsne") is None
    kind, horizon = view.embeddings.chunk_kind, int(view.embeddings.chunks.shape[1])
    table = view.neighbour_table(kind=kind, horizon=horizon, window=None, cost="sqeuclidean", folder=root / "neighbours")
    assert table is not None
    assert view.neighbour_table(kind=kind, horizon=horizon, window=2, cost="sqeuclidean", folder=root / "neighbours") is None
