"""Training jobs: determinism, stop/resume, SIGKILL, refusal of a second job, corrupt checkpoints."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import make_robot_episode

from workbench.data import write_lerobot
from workbench.train import (
    CheckpointError,
    ConfigError,
    JobError,
    RunDir,
    create_run,
    launch,
    load_checkpoint,
    make_config,
    resume_run,
    stop_run,
    wait_for,
)
from workbench.train.loop import batch_indices, lr_at, train


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("jobs") / "ds"
    eps = [make_robot_episode(i, T=24, size=32, task=("push", "reach")[i % 2]) for i in range(6)]
    return write_lerobot(eps, root)


def _cfg(path, steps=12, **kw):
    sets = [f"data.path={path}", f"steps={steps}", "data.image_size=32", "log_every=1", "ckpt_every=3", "num_threads=1"]
    sets += [f"{k}={v}" for k, v in kw.items()]
    return make_config("caip", "smoke", sets)


def _losses(rd: RunDir) -> list[tuple[int, float]]:
    return [(m["step"], m["loss"]) for m in rd.read_metrics()]


def test_batch_indices_cover_each_epoch_and_are_pure():
    a = np.concatenate([batch_indices(s, 10, 4, seed=3) for s in range(5)])  # 20 draws = 2 epochs
    assert sorted(a[:10]) == list(range(10)) and sorted(a[10:]) == list(range(10))
    assert np.array_equal(batch_indices(3, 10, 4, 3), batch_indices(3, 10, 4, 3))
    assert not np.array_equal(batch_indices(0, 10, 4, 3), batch_indices(0, 10, 4, 4))


def test_lr_schedule_warms_up_then_decays(tiny_dataset):
    cfg = _cfg(tiny_dataset, steps=20, **{"optim.warmup_steps": 4})
    lrs = [lr_at(s, cfg) for s in range(20)]
    assert lrs[0] < lrs[3] == pytest.approx(cfg.optim.lr)
    assert all(x >= y for x, y in zip(lrs[4:], lrs[5:])) and lrs[-1] < 0.05 * cfg.optim.lr


def test_config_round_trip_and_refusals(tmp_path, tiny_dataset):
    cfg = _cfg(tiny_dataset)
    (tmp_path / "c.yaml").write_text(cfg.to_yaml())
    from workbench.train import TrainConfig

    assert TrainConfig.from_yaml(tmp_path / "c.yaml") == cfg == TrainConfig.from_yaml_text(cfg.to_yaml())
    with pytest.raises(ConfigError, match="the edited config: not valid YAML"):
        TrainConfig.from_yaml_text("method: [caip", where="the edited config")
    with pytest.raises(ConfigError, match="c2.yaml: expected a mapping"):
        (tmp_path / "c2.yaml").write_text("- caip\n")
        TrainConfig.from_yaml(tmp_path / "c2.yaml")
    with pytest.raises(ConfigError, match="c3.yaml: config file not found"):
        TrainConfig.from_yaml(tmp_path / "c3.yaml")
    with pytest.raises(ConfigError, match="unknown key optim.lrr"):
        make_config("caip", "smoke", ["optim.lrr=1"])
    with pytest.raises(ConfigError, match="method must be one of"):
        make_config("nope")
    with pytest.raises(ConfigError, match="chunk_kind"):
        make_config("caip", "smoke", ["data.chunk_kind=joints"])
    with pytest.raises(ConfigError, match="preset"):
        make_config("caip", "huge")
    # YAML 1.1 reads 3e-3 as text: numbers still come out as numbers, junk is refused by name
    assert make_config("caip", "smoke", ["optim.lr=3e-3"]).optim.lr == 0.003
    d = _cfg(tiny_dataset).to_dict()
    d["optim"]["lr"] = "3e-3"
    assert TrainConfig.from_dict(d).optim.lr == 0.003
    d["optim"]["lr"] = "fast"
    with pytest.raises(ConfigError, match="optim.lr must be a number"):
        TrainConfig.from_dict(d)


def test_same_config_same_metrics(tmp_path, tiny_dataset):
    a = create_run(_cfg(tiny_dataset), tmp_path / "a")
    b = create_run(_cfg(tiny_dataset), tmp_path / "b")
    train(a.path)
    train(b.path)
    la, lb = _losses(a), _losses(b)
    assert len(la) == 12 and la == lb
    assert la[-1][1] < la[0][1]  # and it learns something
    c = create_run(_cfg(tiny_dataset, seed=1), tmp_path / "c")
    train(c.path)
    assert _losses(c) != la


def test_second_job_in_same_run_dir_is_refused(tmp_path, tiny_dataset):
    rd = create_run(_cfg(tiny_dataset), tmp_path / "r")
    with pytest.raises(JobError, match="already holds a run"):
        create_run(_cfg(tiny_dataset), tmp_path / "r")
    rd.acquire()  # as a running job does
    try:
        with pytest.raises(JobError, match="already running"):
            train(rd.path)
        with pytest.raises(JobError, match="already running"):
            launch(rd)
    finally:
        rd.release()


def _wait_step(rd: RunDir, step: int, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        st = rd.read_status()
        if st.step >= step and rd.latest_checkpoint() is not None:
            return
        if st.state in ("failed", "finished"):
            raise AssertionError(f"run ended before step {step}: {st}")
        time.sleep(0.05)
    raise AssertionError(f"run did not reach step {step}")


def test_stop_then_resume_matches_uninterrupted_run(tmp_path, tiny_dataset):
    steps = 60
    ref = create_run(_cfg(tiny_dataset, steps=steps), tmp_path / "ref")
    train(ref.path)
    rd = create_run(_cfg(tiny_dataset, steps=steps), tmp_path / "job")
    launch(rd)
    _wait_step(rd, 8)
    st = stop_run(rd, timeout=60)
    assert st.state == "stopped" and 8 <= st.step < steps
    stopped_at = st.step
    assert rd.latest_checkpoint().name == f"step_{stopped_at}.safetensors"  # checkpointed on SIGTERM
    resume_run(rd)
    st = wait_for(rd, timeout=180)
    assert st.state == "finished" and st.step == steps and st.resumed_from == stopped_at
    got, want = _losses(rd), _losses(ref)
    assert [s for s, _ in got] == [s for s, _ in want]
    np.testing.assert_allclose([l for _, l in got], [l for _, l in want], rtol=1e-5)


def test_sigkill_then_resume_finishes(tmp_path, tiny_dataset):
    steps = 60
    rd = create_run(_cfg(tiny_dataset, steps=steps), tmp_path / "k")
    proc = launch(rd)
    _wait_step(rd, 6)
    os.killpg(os.getpgid(proc.pid), signal.SIGKILL)
    proc.wait()
    st = rd.read_status()
    assert st.state == "dead" and st.step < steps  # reported, not mistaken for running
    last = int(rd.latest_checkpoint().stem.split("_")[1])
    resume_run(rd)
    st = wait_for(rd, timeout=180)
    assert st.state == "finished" and st.resumed_from == last
    steps_logged = [s for s, _ in _losses(rd)]
    assert steps_logged == list(range(1, steps + 1))  # no gap, no duplicate after the resume


def test_corrupt_checkpoint_is_a_clear_error_and_others_survive(tmp_path, tiny_dataset):
    rd = create_run(_cfg(tiny_dataset, steps=9), tmp_path / "c")
    train(rd.path)
    ckpts = rd.checkpoints()
    assert [s for s, _ in ckpts] == [3, 6, 9]
    good = {p: p.read_bytes() for _, p in ckpts[:-1]}
    latest = ckpts[-1][1]
    latest.write_bytes(latest.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="step_9.safetensors.*corrupt or truncated"):
        load_checkpoint(latest)
    assert {p: p.read_bytes() for p in good} == good
    assert load_checkpoint(ckpts[0][1]).meta["step"] == 3
    r = subprocess.run([sys.executable, "-m", "workbench.cli", "runs", "resume", str(rd.path), "--foreground"],
                       capture_output=True, text=True)  # fmt: skip
    assert r.returncode != 0


def test_checkpoint_holds_everything_to_rebuild(tmp_path, tiny_dataset):
    rd = create_run(_cfg(tiny_dataset, steps=3), tmp_path / "m")
    train(rd.path)
    ck = load_checkpoint(rd.latest_checkpoint())
    assert ck.meta["method"] == "caip" and ck.meta["step"] == 3
    assert set(ck.meta) >= {"method_config", "sample_meta", "norm_stats", "split"}
    assert ck.optimizer is not None and ck.optimizer["state"]


def test_torchrun_two_processes_match_single_process_on_the_global_batch(tmp_path, tiny_dataset):
    """DDP over gloo: each rank takes half of the same global batch and SigLIP gathers embeddings,
    so the loss trajectory equals the single-process one."""
    cfg = _cfg(tiny_dataset, steps=6, batch_size=8)
    single = create_run(cfg, tmp_path / "single")
    train(single.path)
    ddp = create_run(cfg, tmp_path / "ddp")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                        "-m", "workbench.train.loop", str(ddp.path)], capture_output=True, text=True, env=env, timeout=600)  # fmt: skip
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert ddp.read_status().state == "finished"
    got, want = _losses(ddp), _losses(single)
    assert [s for s, _ in got] == [s for s, _ in want]
    np.testing.assert_allclose([l for _, l in got], [l for _, l in want], rtol=1e-4, atol=1e-5)


def test_listing_reads_the_config_as_written_and_survives_a_broken_one(tmp_path, tiny_dataset):
    from workbench.train import list_runs, resolve_run

    good = create_run(_cfg(tiny_dataset), runs_root=tmp_path)
    assert good.read_raw_config()["method"] == "caip" and resolve_run(good.id, runs_root=tmp_path).path == good.path
    broken = RunDir(tmp_path / "broken")
    broken.path.mkdir()
    broken.config_path.write_text("method: [caip\n")
    listed = RunDir(tmp_path / "listed")
    listed.path.mkdir()
    listed.config_path.write_text("- not a mapping\n")
    assert broken.read_raw_config() == {} == listed.read_raw_config() == RunDir(tmp_path / "absent").read_raw_config()
    rows = {r.id: r.method for r in list_runs(tmp_path)}
    assert rows == {good.id: "caip", "broken": "?", "listed": "?"}
    with pytest.raises(JobError, match="no run 'absent'"):
        resolve_run("absent", runs_root=tmp_path)
