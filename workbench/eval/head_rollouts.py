"""A policy head fine-tuned on a frozen pre-trained encoder, evaluated in closed loop (CLAMP §IV,
Table I/III: a policy trained on frozen CLAMP encoders; CLASS §4.4's parametric setting).

:func:`rollout_frozen_head` embeds the run's training split once with its frozen encoder, trains a
head on those features to predict the raw action chunk (:func:`workbench.eval.head_training.train_head`),
and rolls it out in metaworld through :func:`workbench.eval.parallel.run_parallel_rollouts` on
evaluation seeds disjoint from the training placements. An encoder that reads depth + XYZ virtual
views (CLAMP's ``image_input="dxyz"``) gets them computed at every decision from the same
recorded cameras its data has (:func:`workbench.eval.parallel.make_depth_rig`); an RGB encoder
gets the frame of the camera setup it was trained under.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from workbench.eval.batch_policies import HeadPolicy
from workbench.eval.features import embed_split, load_split
from workbench.eval.head_training import HeadConfig, train_head
from workbench.eval.parallel import (
    ParallelRolloutConfig,
    check_disjoint_seeds,
    check_rollout_camera,
    make_depth_rig,
    make_specs,
    outcomes_by_task,
    placement_seeds,
    run_parallel_rollouts,
)
from workbench.eval.results import EvalError
from workbench.stats import Interval, wilson_interval
from workbench.train.run import TrainedRun

__all__ = ["HeadRolloutResult", "rollout_frozen_head"]


@dataclass(frozen=True)
class HeadRolloutResult:
    """Closed-loop success of one head on one frozen encoder, counted per task (so any interval
    can be recomputed) with the episodes' outcomes in seed order."""

    run: str  # the run's id
    reads: str  # "views" (depth + XYZ virtual views) or "rgb"
    tasks: tuple[str, ...]
    successes: tuple[int, ...]  # per task
    episodes: tuple[int, ...]  # per task
    outcomes: tuple[bool, ...] = field(repr=False)  # every episode, tasks in order
    head_loss: float = 0.0  # mean training loss of the head's last 50 steps
    seconds: dict[str, float] = field(default_factory=dict)  # "head" (embedding + training), "rollouts"

    def rate(self, level: float = 0.95) -> Interval:
        """Success over every task's episodes, with its Wilson interval."""
        return wilson_interval(sum(self.successes), sum(self.episodes), level)

    def to_dict(self) -> dict:
        r = self.rate()
        return {"run": self.run, "reads": self.reads, "tasks": list(self.tasks), "successes": list(self.successes),
                "episodes": list(self.episodes), "rate": r.estimate, "low": r.low, "high": r.high,
                "head_loss": self.head_loss, "seconds": dict(self.seconds)}  # fmt: skip


def rollout_frozen_head(
    trained: TrainedRun,
    tasks: Sequence[str],
    episodes: int,
    *,
    head: HeadConfig | None = None,
    rollout: ParallelRolloutConfig | None = None,
    camera_setup: str = "fixed",
    seed_start: int = 2000,
    progress: bool = False,
) -> HeadRolloutResult:
    """Train ``head`` on ``trained``'s frozen features of its training split and roll it out for
    ``episodes`` episodes per task under ``camera_setup`` (seeds from ``seed_start``).

    Raises :class:`EvalError` when the run's frames come from a camera the rollout does not render,
    when an evaluation seed is a training placement, or when a views encoder's data has no depth.
    """
    hcfg = head or HeadConfig()
    if hcfg.unfreeze:
        raise EvalError("rollout_frozen_head trains on frozen features; pass a HeadConfig with unfreeze=False")
    t0 = time.perf_counter()
    train = load_split(trained, "train", stride=1)
    feats = embed_split(trained.method, train).image
    th = train_head(trained.method, train, hcfg, embeddings=feats, method_name=trained.method_name, progress=progress)
    policy = HeadPolicy(th, train.task_texts())
    data = trained.open_dataset()
    train_eps = [data.episode(int(e)) for e in sorted(set(train.episode.tolist()))]
    rig = None
    if policy.views is not None:
        rig = make_depth_rig(policy.views, train_eps[0])
    else:
        check_rollout_camera(trained.id, trained.camera, camera_setup)
    specs = make_specs(tasks, episodes, camera_setup, seed_start=seed_start)
    check_disjoint_seeds(specs, placement_seeds(train_eps))
    t1 = time.perf_counter()
    rcfg = rollout or ParallelRolloutConfig(image_size=int(trained.sample_meta.image_size))
    outcomes = run_parallel_rollouts(policy, specs, rcfg, rig=rig, progress=progress, desc=f"rollouts {trained.id}")
    t2 = time.perf_counter()
    names = tuple(s.task for s in specs[::episodes])
    groups = outcomes_by_task(outcomes)
    per = [[o.success for o in groups.get(t, [])] for t in names]
    tail = th.losses[-50:]
    return HeadRolloutResult(run=trained.id, reads="views" if rig is not None else "rgb", tasks=names,
                             successes=tuple(int(sum(p)) for p in per), episodes=tuple(len(p) for p in per),
                             outcomes=tuple(bool(o.success) for o in outcomes),
                             head_loss=float(sum(tail) / max(1, len(tail))),
                             seconds={"head": round(t1 - t0, 1), "rollouts": round(t2 - t1, 1)})  # fmt: skip
