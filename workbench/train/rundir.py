"""A run directory: everything a job writes, each file written so a crash never corrupts it.

::

    runs/<id>/
      config.yaml              the resolved configuration (written once, before any work)
      status.json              state, pid, step, times, error (replaced atomically)
      metrics.jsonl            one JSON object per log step (appended and flushed)
      log.txt                  human-readable log
      checkpoints/step_N.safetensors
      checkpoints/latest       the name of the newest complete checkpoint
      eval/<name>.json         evaluation results
      lock                     held (flock) by the process training in this directory

``status.json`` states: ``queued`` → ``running`` → ``finished`` | ``stopped`` | ``failed``; a run
whose process died without saying so (SIGKILL, power loss) reads as ``running`` with a dead pid,
which :meth:`RunDir.read_status` reports as ``dead``.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from workbench.atomic import atomic_write_text
from workbench.train.checkpoint import CheckpointError, read_checkpoint_record

__all__ = ["RunState", "RunStatus", "RunDir", "JobError", "DEFAULT_RUNS_ROOT", "TrainedOn", "pid_alive", "read_checkpoint_meta", "trained_on"]

DEFAULT_RUNS_ROOT = Path("runs")


class JobError(Exception):
    """A job could not be started, stopped or resumed; the message says why and what to do."""


class RunState(str, Enum):
    QUEUED = "queued"
    RUNNING = "running"
    STOPPING = "stopping"
    FINISHED = "finished"
    STOPPED = "stopped"
    FAILED = "failed"
    DEAD = "dead"  # was running, the process is gone without a word


@dataclass
class RunStatus:
    state: str = RunState.QUEUED.value
    pid: int | None = None
    step: int = 0
    total_steps: int = 0
    created: float = field(default_factory=time.time)
    started: float | None = None
    updated: float | None = None
    finished: float | None = None
    error: str | None = None
    resumed_from: int | None = None

    @property
    def active(self) -> bool:
        return self.state in (RunState.QUEUED.value, RunState.RUNNING.value, RunState.STOPPING.value)


def pid_alive(pid: int | None) -> bool:
    """Whether process ``pid`` is running (a zombie, exited but not reaped, is not)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie (exited, not yet reaped by its parent) is not alive
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


class RunDir:
    """Paths and atomic reads/writes of one run directory."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock_fd: int | None = None

    @property
    def id(self) -> str:
        return self.path.name

    config_path = property(lambda self: self.path / "config.yaml")
    status_path = property(lambda self: self.path / "status.json")
    metrics_path = property(lambda self: self.path / "metrics.jsonl")
    log_path = property(lambda self: self.path / "log.txt")
    ckpt_dir = property(lambda self: self.path / "checkpoints")
    eval_dir = property(lambda self: self.path / "eval")

    def exists(self) -> bool:
        return self.config_path.is_file()

    def read_raw_config(self) -> dict[str, Any]:
        """``config.yaml`` as written, not validated ({} when it is missing, not YAML or not a
        mapping): the method, preset and data a listing shows without importing every method (and
        torch), which :meth:`TrainConfig.from_yaml <workbench.train.config.TrainConfig.from_yaml>`
        validates against. Anything that trains or evaluates reads the typed config instead."""
        import yaml

        try:
            raw = yaml.safe_load(self.config_path.read_text())
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            return {}
        return raw if isinstance(raw, dict) else {}

    # -- status ---------------------------------------------------------------------------------
    def read_status(self) -> RunStatus:
        try:
            raw = json.loads(self.status_path.read_text())
        except FileNotFoundError:
            return RunStatus(state=RunState.QUEUED.value)
        except json.JSONDecodeError as e:
            raise JobError(f"{self.status_path}: status file is malformed ({e})") from e
        st = RunStatus(**{k: v for k, v in raw.items() if k in RunStatus.__dataclass_fields__})
        if st.state in (RunState.RUNNING.value, RunState.STOPPING.value) and not pid_alive(st.pid):
            st.state = RunState.DEAD.value
        return st

    def write_status(self, status: RunStatus) -> None:
        status.updated = time.time()
        atomic_write_text(self.status_path, json.dumps(asdict(status), indent=1))

    def update_status(self, **changes) -> RunStatus:
        st = self.read_status()
        for k, v in changes.items():
            setattr(st, k, v.value if isinstance(v, Enum) else v)
        self.write_status(st)
        return st

    # -- metrics and log ------------------------------------------------------------------------
    def append_metrics(self, record: dict) -> None:
        with open(self.metrics_path, "a") as f:
            f.write(json.dumps(record) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def read_metrics(self) -> list[dict]:
        """Every complete metrics line (a line cut by a crash is ignored)."""
        if not self.metrics_path.is_file():
            return []
        out = []
        for line in self.metrics_path.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return out

    def truncate_metrics(self, after_step: int) -> None:
        """Drop records past ``after_step`` (a resumed run redoes them from its checkpoint)."""
        keep = [r for r in self.read_metrics() if r.get("step", 0) <= after_step]
        atomic_write_text(self.metrics_path, "".join(json.dumps(r) + "\n" for r in keep))

    def log(self, message: str) -> None:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        with open(self.log_path, "a") as f:
            f.write(f"{stamp} {message}\n")

    # -- checkpoints ----------------------------------------------------------------------------
    def checkpoint_path(self, step: int) -> Path:
        return self.ckpt_dir / f"step_{step}.safetensors"

    def checkpoints(self) -> list[tuple[int, Path]]:
        if not self.ckpt_dir.is_dir():
            return []
        out = []
        for p in self.ckpt_dir.glob("step_*.safetensors"):
            try:
                out.append((int(p.stem.split("_", 1)[1]), p))
            except ValueError:
                continue
        return sorted(out)

    def set_latest(self, path: Path) -> None:
        atomic_write_text(self.ckpt_dir / "latest", path.name + "\n")

    def latest_checkpoint(self) -> Path | None:
        pointer = self.ckpt_dir / "latest"
        if pointer.is_file():
            p = self.ckpt_dir / pointer.read_text().strip()
            if p.is_file():
                return p
        ckpts = self.checkpoints()
        return ckpts[-1][1] if ckpts else None

    # -- exclusive use --------------------------------------------------------------------------
    def acquire(self) -> None:
        """Take the directory's lock, or raise :class:`JobError` if another process trains here."""
        self.path.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path / "lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise JobError(f"{self.path}: another job is already running in this run directory") from None
        self._lock_fd = fd

    def release(self) -> None:
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    def is_locked(self) -> bool:
        lock = self.path / "lock"
        if not lock.exists():
            return False
        fd = os.open(lock, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False


def read_checkpoint_meta(path: str | Path) -> dict:
    """The ``meta`` a workbench checkpoint records (method, sample_meta, data, split, …), read from
    its header alone (:func:`~workbench.train.checkpoint.read_checkpoint_record`: no tensor is
    loaded, torch is not imported). :class:`JobError` names the file when it is not one."""
    try:
        return read_checkpoint_record(path)["meta"]
    except CheckpointError as e:
        raise JobError(f"{path}: not a readable workbench checkpoint ({e})") from e


@dataclass(frozen=True)
class TrainedOn:
    """What a run trained on: its camera and dataset. The one statement of the run-camera rule —
    which camera a run's samples come from (:meth:`from_record`) and which datasets can give them
    (:meth:`reads`); :class:`~workbench.train.run.TrainedRun` (``camera``, ``fits``) and the app's
    run list (:func:`trained_on`, from the checkpoint's header, no model loaded) both use it."""

    camera: str | None  # the camera its samples came from (None: each episode's first)
    data_path: str  # the dataset as the job names it ("" when unknown)

    @classmethod
    def from_record(cls, sample_meta: Mapping[str, Any], data: Mapping[str, Any]) -> TrainedOn:
        """From a run's sample meta and data config (as dicts): the camera training resolved (a
        config's ``camera: null`` becomes the first camera's name in the sample meta), else the
        config's; None when neither names one."""
        return cls(camera=sample_meta.get("camera") or data.get("camera") or None, data_path=str(data.get("path") or ""))

    def reads(self, cameras: Iterable[str]) -> bool:
        """Whether a dataset with ``cameras`` can give this run's samples: it has the run's camera
        (any dataset does when the run names none)."""
        return not self.camera or self.camera in tuple(cameras)


def trained_on(run: str | Path) -> TrainedOn:
    """:class:`TrainedOn` of the run directory ``run`` from its latest checkpoint's header (and
    config.yaml), torch-free (:class:`JobError` when it has no readable checkpoint)."""
    rd = RunDir(run)
    ckpt = rd.latest_checkpoint()
    if ckpt is None:
        raise JobError(f"{rd.path}: the run has no checkpoint yet")
    meta = read_checkpoint_meta(ckpt)
    data, where = meta.get("data") or {}, ckpt
    if not data:  # as load_run: the checkpoint's record, else the job's config
        data, where = rd.read_raw_config().get("data") or {}, rd.path / "config.yaml"
    sample_meta = meta.get("sample_meta") or {}
    for name, value, at in (("data", data, where), ("sample_meta", sample_meta, ckpt)):
        if not isinstance(value, Mapping):
            raise JobError(f"{at}: '{name}' is a {type(value).__name__}, not a mapping of settings")
    return TrainedOn.from_record(sample_meta, data)
