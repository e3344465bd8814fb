"""Evaluation as a background job, launched and tracked through the library like training.

:func:`launch_eval` writes the :class:`~workbench.eval.evaluate.EvalConfig` to ``RUN/eval/job.json``
and starts ``python -m workbench.eval.jobs RUN`` detached (its own session, so closing the app or
the terminal leaves it running); the job records its state in ``RUN/eval/job.json`` as it goes
(running → finished or failed, with the error) and its output in ``RUN/eval/job.log``.
:func:`read_eval_job` reads that back — from any process, after any restart — and reports a job
whose process died without saying so as failed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path
from typing import Any

from workbench.atomic import atomic_write_text
from workbench.eval.evaluate import EvalConfig, evaluate_run
from workbench.eval.results import EvalError
from workbench.train.rundir import RunDir, pid_alive

__all__ = ["EvalJob", "EvalJobState", "launch_eval", "read_eval_job"]

JOB_FILE = "job.json"
LOG_FILE = "job.log"


class EvalJobState(str, Enum):
    QUEUED = "queued"
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"


@dataclass(frozen=True)
class EvalJob:
    """An evaluation job of one run, as ``RUN/eval/job.json`` records it."""

    run_dir: Path
    state: EvalJobState
    config: EvalConfig
    pid: int | None = None
    started: float | None = None
    finished: float | None = None
    error: str | None = None

    @property
    def active(self) -> bool:
        return self.state in (EvalJobState.QUEUED, EvalJobState.RUNNING)

    @property
    def log_path(self) -> Path:
        return self.run_dir / "eval" / LOG_FILE

    def log_tail(self, chars: int = 800) -> str:
        p = self.log_path
        return p.read_text(errors="replace")[-chars:] if p.is_file() else ""


def _job_path(run_dir: Path) -> Path:
    return run_dir / "eval" / JOB_FILE


def _write(job: EvalJob) -> EvalJob:
    d: dict[str, Any] = {"state": job.state.value, "config": job.config.to_dict(), "pid": job.pid,
                         "started": job.started, "finished": job.finished, "error": job.error}  # fmt: skip
    p = _job_path(job.run_dir)
    p.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(p, json.dumps(d, indent=2))
    return job


def read_eval_job(run_dir: str | Path) -> EvalJob | None:
    """The run's evaluation job (None when none was launched); a job whose process is gone
    without recording an end is reported ``failed``."""
    run_dir = Path(run_dir)
    p = _job_path(run_dir)
    if not p.is_file():
        return None
    try:
        d = json.loads(p.read_text())
        job = EvalJob(run_dir, EvalJobState(d["state"]), EvalConfig.from_dict(d["config"]), d.get("pid"),
                      d.get("started"), d.get("finished"), d.get("error"))  # fmt: skip
    except (ValueError, KeyError, TypeError) as e:
        raise EvalError(f"{p}: not an evaluation job record ({e}); delete it to launch again") from e
    if job.active and job.pid and not pid_alive(job.pid):
        job = replace(job, state=EvalJobState.FAILED, error=job.error or "the evaluation process ended without a result")
    return job


def launch_eval(run_dir: str | Path, config: EvalConfig | None = None) -> EvalJob:
    """Start evaluating ``run_dir`` with ``config`` in a detached process; returns the job at once.
    Refuses while an earlier evaluation of the run is still running."""
    run_dir = Path(run_dir)
    if not RunDir(run_dir).exists():
        raise EvalError(f"{run_dir}: not a run directory (no config.yaml)")
    current = read_eval_job(run_dir)
    if current is not None and current.active:
        raise EvalError(f"{run_dir}: an evaluation is already running (pid {current.pid})")
    job = _write(EvalJob(run_dir, EvalJobState.QUEUED, config or EvalConfig()))
    log = open(job.log_path, "wb")
    try:
        proc = subprocess.Popen([sys.executable, "-m", "workbench.eval.jobs", str(run_dir)], stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})  # fmt: skip
    finally:
        log.close()
    # the child may already have recorded itself running; record the pid only if it has not
    now = read_eval_job(run_dir)
    if now is not None and now.state is EvalJobState.QUEUED:
        return _write(replace(now, pid=proc.pid))
    return now if now is not None else job


def run_eval_job(run_dir: str | Path) -> EvalJob:
    """What the job process does: evaluate as ``job.json`` says, recording running → finished/failed."""
    run_dir = Path(run_dir)
    p = _job_path(run_dir)
    if not p.is_file():
        raise EvalError(f"{p}: no evaluation job to run")
    d = json.loads(p.read_text())
    job = _write(EvalJob(run_dir, EvalJobState.RUNNING, EvalConfig.from_dict(d["config"]), os.getpid(), time.time()))
    try:
        evaluate_run(run_dir, job.config)
    except Exception as e:
        traceback.print_exc()
        _write(replace(job, state=EvalJobState.FAILED, finished=time.time(), error=f"{type(e).__name__}: {e}"))
        raise
    return _write(replace(job, state=EvalJobState.FINISHED, finished=time.time()))


def main(argv: list[str] | None = None) -> int:
    """``python -m workbench.eval.jobs RUN_DIR``: what :func:`launch_eval` starts."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m workbench.eval.jobs RUN_DIR", file=sys.stderr)
        return 2
    try:
        run_eval_job(args[0])
    except Exception:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
