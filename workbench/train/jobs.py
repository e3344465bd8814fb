"""Training jobs: launch, list, stop, resume and compare runs (evaluation jobs: :mod:`workbench.eval.jobs`).

A run is a directory (see :mod:`workbench.train.rundir`). Jobs run as detached subprocesses
(``python -m workbench.train.loop RUN_DIR``) in their own session, so closing the app or the
terminal leaves them running; their state is read back from the files they write.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from workbench.train.config import TrainConfig, config_diff
from workbench.train.rundir import DEFAULT_RUNS_ROOT, JobError, RunDir, RunState, RunStatus

__all__ = ["RunSummary", "create_run", "launch", "list_runs", "resolve_run", "stop_run", "resume_run", "diff_runs", "wait_for"]


@dataclass(frozen=True)
class RunSummary:
    id: str
    path: Path
    method: str
    preset: str | None
    status: RunStatus
    last_loss: float | None


def _new_id(cfg: TrainConfig) -> str:
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{cfg.method}-{os.getpid() % 10000:04d}{int(time.time() * 1000) % 1000:03d}"


def create_run(cfg: TrainConfig, run_dir: str | Path | None = None, *, runs_root: str | Path = DEFAULT_RUNS_ROOT) -> RunDir:
    """Write ``config.yaml`` and a ``queued`` status into a new run directory."""
    rd = RunDir(run_dir if run_dir is not None else Path(runs_root) / _new_id(cfg))
    if rd.exists():
        st = rd.read_status()
        if st.state in (RunState.RUNNING.value, RunState.STOPPING.value) or rd.is_locked():
            raise JobError(f"{rd.path}: a job is already running here (state {st.state}, pid {st.pid})")
        raise JobError(f"{rd.path}: already holds a run; resume it with `workbench runs resume {rd.path}` or choose another --run-dir")
    rd.path.mkdir(parents=True, exist_ok=True)
    from workbench.atomic import atomic_write_text

    atomic_write_text(rd.config_path, cfg.to_yaml())
    rd.write_status(RunStatus(state=RunState.QUEUED.value, total_steps=cfg.steps))
    return rd


def launch(rd: RunDir, *, resume: bool = False, nproc: int = 1) -> subprocess.Popen:
    """Start the job as a detached subprocess (under ``torchrun`` when ``nproc`` > 1)."""
    if rd.is_locked():
        raise JobError(f"{rd.path}: another job is already running in this run directory")
    if nproc > 1:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
               "-m", "workbench.train.loop", str(rd.path)]  # fmt: skip
    else:
        cmd = [sys.executable, "-m", "workbench.train.loop", str(rd.path)]
    if resume:
        cmd.append("--resume")
    rd.path.mkdir(parents=True, exist_ok=True)
    out = open(rd.path / "stdout.txt", "ab")
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})  # fmt: skip
    out.close()
    rd.update_status(state=RunState.RUNNING, pid=proc.pid, error=None)
    return proc


def resolve_run(run: str | Path, *, runs_root: str | Path = DEFAULT_RUNS_ROOT) -> RunDir:
    """A run directory from a path or an id under ``runs_root``."""
    p = Path(run)
    for cand in (RunDir(p), RunDir(Path(runs_root) / str(run))):
        if cand.exists():
            return cand
    raise JobError(f"no run {str(run)!r} (looked for {p}/config.yaml and {Path(runs_root) / str(run)}/config.yaml)")


def list_runs(runs_root: str | Path = DEFAULT_RUNS_ROOT, *, trained_only: bool = False) -> list[RunSummary]:
    """Every run under ``runs_root``, sorted by id; ``trained_only`` keeps those with a checkpoint."""
    root = Path(runs_root)
    if not root.is_dir():
        return []
    out = []
    for d in sorted(root.iterdir()):
        rd = RunDir(d)
        if not rd.exists() or (trained_only and rd.latest_checkpoint() is None):
            continue
        raw = rd.read_raw_config()  # not validated: validating imports every method (and torch) to list runs
        method, preset = str(raw.get("method") or "?"), raw.get("preset")
        try:
            status = rd.read_status()
        except JobError as e:
            status = RunStatus(state=RunState.FAILED.value, error=str(e))
        metrics = rd.read_metrics()
        out.append(RunSummary(rd.id, rd.path, method, preset, status, metrics[-1].get("loss") if metrics else None))
    return out


def stop_run(rd: RunDir, *, timeout: float = 60.0, kill: bool = False) -> RunStatus:
    """SIGTERM the job (it checkpoints, then exits); SIGKILL after ``timeout`` only with ``kill``."""
    st = rd.read_status()
    if not st.active or not st.pid:
        return st
    pgid = None
    try:
        pgid = os.getpgid(st.pid)
    except ProcessLookupError:
        return rd.read_status()
    rd.update_status(state=RunState.STOPPING)
    # the job leads its own session: signal the group so torchrun's workers hear it too
    os.killpg(pgid, signal.SIGTERM)
    done = _inactive_within(rd, timeout)
    if done is not None:
        return done
    if kill:
        os.killpg(pgid, signal.SIGKILL)
        time.sleep(0.5)
        return rd.update_status(state=RunState.STOPPED, error="killed after not stopping in time")
    raise JobError(f"{rd.path}: job {st.pid} did not stop within {timeout:.0f}s; use --kill to force it")


def resume_run(rd: RunDir, *, nproc: int = 1) -> subprocess.Popen:
    st = rd.read_status()
    if st.active or rd.is_locked():
        raise JobError(f"{rd.path}: the job is still running (state {st.state}); stop it first")
    if st.state == RunState.FINISHED.value:
        raise JobError(f"{rd.path}: the run already finished at step {st.step}")
    return launch(rd, resume=True, nproc=nproc)


def _inactive_within(rd: RunDir, timeout: float, poll: float = 0.2) -> RunStatus | None:
    """The job's status once it is no longer active, polled every ``poll`` s; None after ``timeout``."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        st = rd.read_status()
        if not st.active:
            return st
        time.sleep(poll)
    return None


def wait_for(rd: RunDir, *, timeout: float = 600.0, poll: float = 0.2) -> RunStatus:
    """Block until the job is no longer active (for tests and scripts)."""
    st = _inactive_within(rd, timeout, poll)
    if st is not None:
        return st
    raise JobError(f"{rd.path}: still {rd.read_status().state} after {timeout:.0f}s")


def diff_runs(a: RunDir, b: RunDir) -> list[tuple[str, object, object]]:
    return config_diff(TrainConfig.from_yaml(a.config_path).to_dict(), TrainConfig.from_yaml(b.config_path).to_dict())
