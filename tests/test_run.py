"""The trained-run front door: typed config, the samples exactly as training saw them, fits(),
and capabilities by type; the shipped runs load through it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import make_robot_episode
from workbench.data import write_lerobot
from workbench.methods import CAIP, CLAMP, CLASS, build_method
from workbench.methods.capabilities import (
    ActionEmbedder,
    ActionSource,
    HistoryEmbedder,
    ImageEmbedder,
    TextEmbedder,
    action_source,
)
from workbench.train import DataConfig, TrainConfig, create_run, make_config
from workbench.train.loop import build_training, train
from workbench.train.run import Fit, TrainedRun, load_run

ROOT = Path(__file__).resolve().parents[1]


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny models: one intra-op thread is as fast


@pytest.fixture(scope="module")
def robot_data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("rundata")
    eps = [make_robot_episode(i, T=14, task=("reach", "push")[i % 2]) for i in range(6)]
    return write_lerobot(eps, root / "robots", lossless=True)


def _config(method: str, data: Path, extra: list[str] = ()) -> TrainConfig:
    return make_config(method, "smoke", [f"data.path={data}", "steps=2", "ckpt_every=2", "data.chunk_kind=raw",
                                         "data.horizon=4", "data.image_size=32", "data.stride=2", "device=cpu",
                                         "num_threads=1", "data.camera=wrist", *extra])  # fmt: skip


@pytest.fixture(scope="module")
def clamp_run(robot_data, tmp_path_factory) -> tuple[Path, TrainConfig]:
    # CLAMP: its own text function and an action history, the two things a rebuild most easily forgets
    cfg = _config("clamp", robot_data)
    rd = create_run(cfg, tmp_path_factory.mktemp("runs") / "clamp")
    train(rd.path)
    return rd.path, cfg


def test_a_run_carries_its_typed_config_split_and_statistics(clamp_run):
    path, cfg = clamp_run
    run = load_run(path)
    assert isinstance(run, TrainedRun) and isinstance(run.config, TrainConfig) and isinstance(run.data, DataConfig)
    assert run.config.to_dict() == cfg.to_dict()
    assert run.method_name == "clamp" and run.step == 2 and run.id == path.name
    assert not run.method.training and run.device.type in ("cpu", "cuda")
    assert sorted(run.split["train"] + run.split["val"]) == list(range(6))
    assert run.norm_stats is not None and run.camera == "wrist"


def test_samples_are_exactly_what_training_saw(clamp_run):
    path, cfg = clamp_run
    run = load_run(path, map_location="cpu")
    seen = build_training(cfg).dataset  # the training split's samples, as the loop built them
    again = run.samples(split="train")
    assert len(again) == len(seen) and again.camera == seen.camera == "wrist"
    assert again.texts == seen.texts and any("%" in t or t != seen.texts[0] for t in seen.texts)
    np.testing.assert_array_equal(again.chunks.values, seen.chunks.values)
    for i in (0, len(seen) // 2, len(seen) - 1):
        a, b = again[i], seen[i]
        assert set(a) == set(b)
        for k in a:
            if torch.is_tensor(a[k]):
                assert torch.equal(a[k], b[k]), k
            else:
                assert a[k] == b[k], k


def test_samples_overrides_leave_chunks_unnormalised_when_the_kind_changes(clamp_run, robot_data):
    run = load_run(clamp_run[0], map_location="cpu")
    ee = run.samples(robot_data, episodes=[0], stride=1, chunk_kind="ee")
    assert ee.chunk_kind.value == "ee" and ee.norm_stats is None
    own = run.samples(robot_data, episodes=[0], stride=1)
    assert own.norm_stats is run.norm_stats and len(own) == 14  # raw chunks keep every step
    with pytest.raises(ValueError, match="episodes or split"):
        run.samples(episodes=[0], split="train")


def test_fits_names_the_missing_camera(clamp_run, tmp_path):
    from workbench.data import load_dataset

    run = load_run(clamp_run[0], map_location="cpu")
    assert run.fits(load_dataset(run.data.path)) == Fit(True)
    ep = make_robot_episode(0, T=6)
    del ep.cameras["wrist"]
    other = write_lerobot([ep], tmp_path / "scene_only", lossless=True)
    fit = run.fits(load_dataset(other))
    assert not fit and "'wrist'" in fit.reason and "scene_only" in fit.reason
    assert not run.fits([ep])


def test_the_run_list_and_the_front_door_state_one_camera_rule(clamp_run, tmp_path):
    from workbench.data import load_dataset
    from workbench.train.rundir import trained_on

    run = load_run(clamp_run[0], map_location="cpu")
    listed = trained_on(clamp_run[0])  # from the checkpoint's header alone, as the app's run list reads it
    assert listed == run.trained_on and listed.camera == run.camera == "wrist"
    ep = make_robot_episode(0, T=6)
    del ep.cameras["wrist"]
    other = load_dataset(write_lerobot([ep], tmp_path / "scene_only", lossless=True))
    for ds in (load_dataset(run.data.path), other):
        assert listed.reads(ds.info().cameras) == bool(run.fits(ds))
    assert bool(run.fits(other)) is False


def test_capabilities_are_types_not_names(robot_data):
    from workbench.data.training_samples import FrameChunkDataset

    meta = FrameChunkDataset([make_robot_episode(0, T=8)], camera="scene", chunk_kind="raw", horizon=4, history=2,
                             image_size=64).meta()  # fmt: skip
    caip = build_method("caip", "smoke", meta)
    clamp = build_method("clamp", "smoke", meta)
    cls_ = build_method("class", "smoke", meta)
    assert isinstance(caip, CAIP) and isinstance(clamp, CLAMP) and isinstance(cls_, CLASS)
    for m in (caip, clamp, cls_):
        assert isinstance(m, ImageEmbedder)
    assert isinstance(caip, ActionEmbedder) and not isinstance(caip, HistoryEmbedder | TextEmbedder)
    assert isinstance(clamp, HistoryEmbedder) and isinstance(clamp, TextEmbedder) and not isinstance(clamp, ActionEmbedder)
    assert not isinstance(cls_, ActionEmbedder | HistoryEmbedder | TextEmbedder)
    assert [action_source(m) for m in (caip, clamp, cls_)] == [ActionSource.CHUNK, ActionSource.HISTORY, ActionSource.NONE]
    run = TrainedRun.from_method(clamp)
    assert run.history_encoder is clamp and run.text_encoder is clamp and run.action_encoder is None
    assert run.data.history == 2 and run.camera == "scene" and run.split == {}


@pytest.mark.parametrize("name", ["bc-sample", "caip-sample", "class-sample"])
def test_the_shipped_runs_load(name):
    path = ROOT / "data_samples" / "runs" / name
    if not path.exists():
        pytest.skip(f"{path} is not generated in this checkout")
    run = load_run(path, map_location="cpu")
    assert run.config.method == name.split("-")[0] and run.data.path
    assert run.split["train"] and run.split["val"] and run.sample_meta.image_size == run.data.image_size
