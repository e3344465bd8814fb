"""Evaluation results: frozen dataclasses that round-trip through JSON, saved under ``RUN/eval/``.

Every result has a ``kind`` (which evaluation made it), ``to_dict``/``from_dict``, and is written
atomically (temporary file + ``os.replace``) as ``RUN/eval/<name>.json`` so the app can list and
read them later with :func:`load_eval_results` without recomputing anything.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from workbench.atomic import atomic_write_text

__all__ = [
    "EvalError",
    "EvalReport",
    "HeadResult",
    "KNNResult",
    "OfflineError",
    "ProbeResult",
    "RESULT_TYPES",
    "RetrievalResult",
    "RolloutResult",
    "TaskRollout",
    "load_eval_results",
    "load_result",
    "save_result",
]


class EvalError(Exception):
    """An evaluation cannot run on this run or with these settings; the message says why."""


def _clean(x: Any) -> Any:
    """JSON-able copy: numpy scalars/arrays to Python, NaN to None (JSON has no NaN)."""
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, np.ndarray):
        return _clean(x.tolist())
    if isinstance(x, np.generic):
        return _clean(x.item())
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


class _Result:
    kind: ClassVar[str] = ""

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **_clean(asdict(self))}  # type: ignore[call-overload]

    @classmethod
    def _fields_from(cls, d: dict[str, Any]) -> dict[str, Any]:
        names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        return {k: v for k, v in d.items() if k in names}


@dataclass(frozen=True)
class ProbeResult(_Result):
    """Linear probe and zero-shot action classification on held-out episodes (CAIP §3.2, Fig. 3).

    ``accuracy[i]`` is the mean test accuracy over ``repeats`` seeded draws of ``shots[i]``
    training samples per class (``accuracy_std`` their spread); ``zero_shot`` is None for a method
    without an action encoder.
    """

    kind: ClassVar[str] = "probe"
    method: str
    num_clusters: int
    shots: tuple[int, ...]
    accuracy: tuple[float, ...]
    accuracy_std: tuple[float, ...]
    zero_shot: float | None
    chance: float  # accuracy of always predicting the test set's most frequent cluster
    uniform_chance: float  # 1 / K
    num_train: int  # samples in the probe's training pool
    num_test: int
    repeats: int
    split: str  # how probe train/test were separated ("episodes" or "samples")
    notes: str = ""

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ProbeResult:
        d = cls._fields_from(d)
        for k in ("shots", "accuracy", "accuracy_std"):
            d[k] = tuple(d[k])
        return cls(**d)


@dataclass(frozen=True)
class RetrievalResult(_Result):
    """Cross-modal Recall@k on held-out samples (CLAMP App. B, Fig. 7) and the SigLIP matching
    probabilities sigmoid(t·xyᵀ + b) of a small batch (Fig. 8).

    ``recall[pair][str(k)]`` with pairs such as ``"image->action"``; ``matching`` maps a pair to a
    (n, n) list of probabilities, rows the first modality.
    """

    kind: ClassVar[str] = "retrieval"
    method: str
    num_samples: int
    ks: tuple[int, ...]
    recall: dict[str, dict[str, float]]
    matching: dict[str, list[list[float]]] = field(default_factory=dict)
    temperature: float | None = None
    bias: float | None = None
    notes: str = ""

    def matching_array(self, pair: str) -> np.ndarray:
        return np.asarray(self.matching[pair], dtype=np.float64)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RetrievalResult:
        d = cls._fields_from(d)
        d["ks"] = tuple(d["ks"])
        return cls(**d)


@dataclass(frozen=True)
class OfflineError:
    """Masked errors of predicted vs true un-normalised chunks over held-out samples."""

    mse: float
    l1: float
    num_samples: int

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> OfflineError:
        return cls(float(d["mse"]), float(d["l1"]), int(d["num_samples"]))


@dataclass(frozen=True)
class TaskRollout:
    """Closed-loop episodes of one metaworld task."""

    task: str
    seeds: tuple[int, ...]
    successes: tuple[bool, ...]
    steps: tuple[int, ...]  # steps taken per episode (to success or the cap)
    frames: tuple[str, ...] = ()  # saved videos/images, relative to the run directory

    @property
    def success_rate(self) -> float:
        return float(np.mean(self.successes)) if self.successes else float("nan")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TaskRollout:
        return cls(d["task"], tuple(int(s) for s in d["seeds"]), tuple(bool(s) for s in d["successes"]),
                   tuple(int(s) for s in d["steps"]), tuple(d.get("frames", ())))  # fmt: skip


@dataclass(frozen=True)
class RolloutResult(_Result):
    """Success over seeded metaworld episodes of one policy (see :mod:`workbench.eval.rollout`)."""

    kind: ClassVar[str] = "rollout"
    policy: str  # "knn", "head:mlp", "expert", …
    camera: str
    image_size: int
    execute: int  # actions executed per predicted chunk before re-planning
    max_steps: int
    tasks: tuple[TaskRollout, ...]
    notes: str = ""

    @property
    def success_rate(self) -> float:
        s = [x for t in self.tasks for x in t.successes]
        return float(np.mean(s)) if s else float("nan")

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d["success_rate"] = _clean(self.success_rate)
        for t, td in zip(self.tasks, d["tasks"]):
            td["success_rate"] = _clean(t.success_rate)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RolloutResult:
        d = cls._fields_from(d)
        d["tasks"] = tuple(TaskRollout.from_dict(t) for t in d["tasks"])
        return cls(**d)


@dataclass(frozen=True)
class KNNResult(_Result):
    """The k-NN retrieval policy (CLASS §4.4) offline on held-out samples vs baselines."""

    kind: ClassVar[str] = "knn"
    method: str
    k: int  # neighbours actually used (capped by the corpus)
    temperature: float
    corpus_size: int
    policy: OfflineError
    baselines: dict[str, OfflineError]  # "mean_chunk", "state_knn" (when the data has state)
    notes: str = ""

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> KNNResult:
        d = cls._fields_from(d)
        d["policy"] = OfflineError.from_dict(d["policy"])
        d["baselines"] = {k: OfflineError.from_dict(v) for k, v in d["baselines"].items()}
        return cls(**d)


@dataclass(frozen=True)
class HeadResult(_Result):
    """A policy head trained on the run's encoder (CAIP §2.3), offline on held-out samples."""

    kind: ClassVar[str] = "head"
    method: str
    head: str  # "mlp" or "flow"
    frozen: bool
    steps: int
    losses: tuple[float, ...]  # training loss every step
    offline: OfflineError
    baselines: dict[str, OfflineError]
    path: str  # the saved head, relative to the run directory
    notes: str = ""

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> HeadResult:
        d = cls._fields_from(d)
        d["losses"] = tuple(d["losses"])
        d["offline"] = OfflineError.from_dict(d["offline"])
        d["baselines"] = {k: OfflineError.from_dict(v) for k, v in d["baselines"].items()}
        return cls(**d)


@dataclass(frozen=True)
class EvalReport(_Result):
    """Everything one ``evaluate_run`` call produced, by part; the parts are None when not asked."""

    kind: ClassVar[str] = "report"
    run: str
    checkpoint_step: int
    probe: ProbeResult | None = None
    retrieval: RetrievalResult | None = None
    knn: KNNResult | None = None
    head: HeadResult | None = None
    rollouts: tuple[RolloutResult, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"kind": self.kind, "run": self.run, "checkpoint_step": self.checkpoint_step}
        for name in ("probe", "retrieval", "knn", "head"):
            part = getattr(self, name)
            d[name] = part.to_dict() if part is not None else None
        d["rollouts"] = [r.to_dict() for r in self.rollouts]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EvalReport:
        parts = {name: (RESULT_TYPES[name].from_dict(d[name]) if d.get(name) else None)
                 for name in ("probe", "retrieval", "knn", "head")}  # fmt: skip
        return cls(d["run"], int(d["checkpoint_step"]), **parts,
                   rollouts=tuple(RolloutResult.from_dict(r) for r in d.get("rollouts", ())))  # fmt: skip


RESULT_TYPES: dict[str, Any] = {c.kind: c for c in (ProbeResult, RetrievalResult, KNNResult, RolloutResult, HeadResult, EvalReport)}


def eval_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / "eval"


def save_result(run_dir: str | Path, name: str, result: Any) -> Path:
    """Write ``result`` to ``RUN/eval/<name>.json`` atomically; returns the path."""
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"result name must be a plain file name, got {name!r}")
    out = eval_dir(run_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.json"
    atomic_write_text(path, json.dumps(result.to_dict(), indent=1))
    return path


def load_result(path: str | Path) -> Any:
    path = Path(path)
    try:
        d = json.loads(path.read_text())
        return RESULT_TYPES[d["kind"]].from_dict(d)
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise EvalError(f"{path}: not an evaluation result ({e})") from e


def load_eval_results(run_dir: str | Path) -> dict[str, Any]:
    """Every result saved under ``RUN/eval/``, by name (file stem), sorted; unreadable files skipped."""
    out: dict[str, Any] = {}
    for p in sorted(eval_dir(run_dir).glob("*.json")):
        try:
            out[p.stem] = load_result(p)
        except EvalError:
            continue
    return out
