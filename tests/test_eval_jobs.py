"""Evaluation launched and tracked through the library (what the app's Jobs page calls)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from tests.conftest import make_robot_episode
from workbench.data import write_lerobot
from workbench.eval import EvalConfig, EvalError, ProbeConfig, load_eval_results
from workbench.eval.jobs import EvalJobState, launch_eval, read_eval_job
from workbench.train import create_run, make_config
from workbench.train.loop import train


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("evaljobs")
    data = write_lerobot([make_robot_episode(i, T=12, task=("reach", "push")[i % 2]) for i in range(8)], root / "d",
                         lossless=True)  # fmt: skip
    cfg = make_config("random_encoder", "smoke", [f"data.path={data}", "steps=1", "ckpt_every=1", "data.chunk_kind=raw",
                                                  "data.horizon=4", "data.image_size=64", "data.stride=1",
                                                  "data.camera=scene", "device=cpu", "num_threads=1"])  # fmt: skip
    rd = create_run(cfg, root / "run")
    train(rd.path)
    return rd.path


def _wait(run: Path, timeout: float = 300.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        job = read_eval_job(run)
        if job is not None and not job.active:
            return job
        time.sleep(0.5)
    raise AssertionError(f"the evaluation of {run} did not end within {timeout:.0f}s")


def test_a_launched_evaluation_runs_to_its_results_and_says_so(tiny_run):
    assert read_eval_job(tiny_run) is None
    cfg = EvalConfig(probe=True, retrieval=False, knn=True, out="job", probe_config=ProbeConfig(num_clusters=3, repeats=1))
    job = launch_eval(tiny_run, cfg)
    assert job.active and job.config == cfg
    with pytest.raises(EvalError, match="already running"):
        launch_eval(tiny_run, cfg)
    done = _wait(tiny_run)
    assert done.state is EvalJobState.FINISHED, done.log_tail()
    assert done.config == cfg and done.finished >= done.started
    assert {"job-probe", "job-knn"} <= set(load_eval_results(tiny_run))


def test_a_failing_evaluation_is_reported_failed_with_its_error(tiny_run, tmp_path):
    broken = tmp_path / "run"
    shutil.copytree(tiny_run, broken)
    shutil.rmtree(broken / "eval", ignore_errors=True)
    for ck in (broken / "checkpoints").glob("*.safetensors"):
        ck.write_bytes(b"not a checkpoint")  # a damaged checkpoint: the job must fail and say so
    launch_eval(broken, EvalConfig(retrieval=False, knn=False, probe_config=ProbeConfig(num_clusters=3, repeats=1)))
    done = _wait(broken)
    assert done.state is EvalJobState.FAILED and "CheckpointError" in done.error, done
    assert "Traceback" in done.log_tail(4000)


def test_launching_outside_a_run_names_the_problem(tmp_path):
    with pytest.raises(EvalError, match="not a run directory"):
        launch_eval(tmp_path)

