"""Closed-loop rollouts that match the data: the trained camera setup, parallel environments.

Each episode is a :class:`EpisodeSpec` (task, evaluation seed, scene-camera setup). The camera is
the one the policy was trained under (CLASS Fig. 3): ``fixed`` (the generator's scene camera),
``random`` (a pose drawn per episode and held) or ``dynamic`` (a sweep between two random poses
during the episode), drawn from the episode's own seed — so every policy meets the same cameras —
with a stream (``[seed, 0xCA]``) that no training episode uses; ``wrist`` is ``gripperPOV``.

Environments live in worker processes (``workers`` ≥ 1; 0 runs them in this process, the serial
reference). The policy runs in the main process on a **batch**: all environments waiting for a
decision are encoded in one forward pass, without waiting for the ones still stepping. A worker executes a whole chunk (the first ``execute``
actions) per message, so there is one round trip per decision, not per step. An episode's outcome
depends only on its spec and the policy, not on which worker ran it or what else was in the batch
(up to float rounding of a batched forward), so parallel and serial give the same successes.

A policy whose encoder reads CLAMP's depth + XYZ virtual views (a :class:`ViewPolicy`) gets them
instead of the RGB frame: the workers render, at every decision, the depth of the cameras its
training data recorded (same names, sizes and poses) and the gripper pose, and build the views with
the function that built the training views (:meth:`workbench.data.views.ViewImages.step_image`);
:func:`make_depth_rig` says which cameras, and such a policy is refused where there is no depth.

Protocol (``shared/reference/metaworld-baselines.md``, as :mod:`workbench.eval.rollout`): placement
from the seed, 200-step cap, success is ``info["success"]`` at any step; evaluation seeds from 2000,
disjoint from the generator's training placements ``10000·seed + j``.
"""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")

from collections import deque  # noqa: E402
from collections.abc import Callable, Iterable, Sequence  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from types import MethodType  # noqa: E402
from typing import Any, Protocol, runtime_checkable  # noqa: E402

import numpy as np  # noqa: E402
import numpy.typing as npt  # noqa: E402

from workbench.data.views import ViewImages  # noqa: E402
from workbench.eval.results import EvalError  # noqa: E402
from workbench.sim.vector_env import ROLLOUT_SETUPS, DepthRig, EpisodeSpec, RolloutWorkers, WorkerError, episode_cameras  # noqa: E402
from workbench.types import Episode  # noqa: E402

__all__ = [
    "BatchPolicy",
    "DepthRig",
    "EpisodeOutcome",
    "EpisodeSpec",
    "ParallelRolloutConfig",
    "ROLLOUT_SETUPS",
    "RolloutWorkers",
    "check_disjoint_seeds",
    "check_rollout_camera",
    "episode_cameras",
    "make_depth_rig",
    "make_specs",
    "outcomes_by_task",
    "placement_seeds",
    "run_parallel_rollouts",
    "ViewPolicy",
]


class BatchPolicy(Protocol):
    """``(images, obs (B, 39), tasks) -> chunks (B, H, 4)``; stateless across calls. ``images`` are
    the RGB frames ``(B, S, S, 3)`` uint8, or for a :class:`ViewPolicy` its virtual views
    ``(B, 4, S, V·S)`` float16 (what its encoder was trained on)."""

    def __call__(self, images: npt.NDArray, obs: npt.NDArray, tasks: Sequence[str]) -> npt.NDArray: ...


@runtime_checkable
class ViewPolicy(Protocol):
    """A batch policy whose encoder reads depth + XYZ virtual views (CLAMP, §III-B) rather than RGB:
    ``views`` is its samples' ``image_fn``, None when it reads RGB frames after all."""

    views: ViewImages | None

    def __call__(self, images: npt.NDArray, obs: npt.NDArray, tasks: Sequence[str]) -> npt.NDArray: ...


def make_depth_rig(views: ViewImages, episode: Episode) -> DepthRig:
    """The rollout rig that gives a policy the views ``views`` computes from ``episode``'s data: the
    same recorded cameras (:meth:`ViewImages.sources`), rendered at the sizes the dataset recorded.

    ``episode`` is any episode of the training data. Raises :class:`EvalError` when it has no
    camera with depth, or one the simulator cannot render with depth."""
    names = views.sources(episode)
    where = f"episode {episode.index} ({episode.source or 'dataset'})"
    if not names:
        raise EvalError(f"{where} records no camera with depth, intrinsics and extrinsics: the environment cannot "
                        "provide the depth + XYZ views this policy reads (generate the data with the metaworld "
                        "generator, which records scene, wrist and scene2 depth)")  # fmt: skip
    cams = []
    for n in names:
        h, w = episode.cameras[n].depth[0].shape[:2]  # type: ignore[index]
        cams.append((n, int(w), int(h)))
    try:
        return DepthRig(tuple(cams), views.step_image)
    except ValueError as e:
        raise EvalError(f"{where}: {e}") from e


@dataclass(frozen=True)
class EpisodeOutcome:
    spec: EpisodeSpec
    success: bool
    steps: int  # environment steps taken
    frames: npt.NDArray[np.uint8] | None = field(default=None, repr=False)  # (T+1, S, S, 3) when recorded


@dataclass(frozen=True)
class ParallelRolloutConfig:
    max_steps: int = 200  # step cap per episode (the reference protocol)
    execute: int = 8  # actions executed per chunk before re-planning (CLASS Table 4: T_a = 16)
    image_size: int = 64  # square side the policy sees (the run's image size)
    workers: int = 2  # environment processes; 0 = in this process (serial)

    def __post_init__(self) -> None:
        for name in ("max_steps", "execute", "image_size"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"ParallelRolloutConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.workers < 0:
            raise ValueError(f"ParallelRolloutConfig.workers must be >= 0, got {self.workers}")


def make_specs(tasks: Sequence[str], episodes: int, camera_setup: str, *, seed_start: int = 2000,
               save_episodes: int = 0) -> list[EpisodeSpec]:  # fmt: skip
    """``episodes`` evaluation episodes per task, seeds ``seed_start …``; the first ``save_episodes``
    of each task are recorded."""
    from workbench.sim.metaworld import TASKS

    unknown = [t for t in tasks if t.removesuffix("-v3") not in TASKS]
    if unknown:
        raise EvalError(f"unknown metaworld task {unknown[0]!r}; the workbench knows {', '.join(sorted(TASKS))}")
    if camera_setup not in ROLLOUT_SETUPS:
        raise EvalError(f"unknown camera setup {camera_setup!r}; rollouts render {', '.join(ROLLOUT_SETUPS)}")
    if episodes < 1:
        raise EvalError(f"episodes must be >= 1, got {episodes}")
    return [EpisodeSpec(t.removesuffix("-v3"), seed_start + i, camera_setup, i < save_episodes) for t in tasks for i in range(episodes)]


def outcomes_by_task(outcomes: Iterable[EpisodeOutcome]) -> dict[str, list[EpisodeOutcome]]:
    """The outcomes of each task (``spec.task``, the name without ``-v3``), tasks in the order they
    first come and each task's episodes in their order (:func:`run_parallel_rollouts` keeps the
    order of its specs: :func:`make_specs`' tasks, seeds ascending)."""
    groups: dict[str, list[EpisodeOutcome]] = {}
    for o in outcomes:
        groups.setdefault(o.spec.task, []).append(o)
    return groups


def placement_seeds(episodes: Iterable[Any]) -> list[int]:
    """The generator's placement seed of each episode that records one (its ``seed`` extra), sorted."""
    return sorted({int(np.asarray(ep.extras["seed"]).reshape(-1)[0]) for ep in episodes
                   if "seed" in ep.extras and np.asarray(ep.extras["seed"]).size})  # fmt: skip


def check_disjoint_seeds(specs: Sequence[EpisodeSpec], training_seeds: Sequence[int]) -> None:
    """Refuse an evaluation whose placements were seen in training (the episodes' ``seed`` extras)."""
    seen = set(int(s) for s in training_seeds) & {s.seed for s in specs}
    if seen:
        raise EvalError(f"evaluation seeds {sorted(seen)[:5]} are training placements; start the evaluation seeds elsewhere")


def check_rollout_camera(run: Any, camera: str | None, camera_setup: str) -> None:
    """Refuse an RGB rollout under ``camera_setup`` for run ``run`` trained on another ``camera``:
    a "wrist" rollout renders the wrist camera, every other setup the scene camera (None: scene)."""
    want = "wrist" if camera_setup == "wrist" else "scene"
    if (camera or "scene") != want:
        raise EvalError(f"run {run} trained on camera {camera!r}; a {camera_setup!r} rollout renders {want!r}")


def _computes(rig: DepthRig, views: ViewImages) -> bool:
    """Whether ``rig`` encodes its depth into exactly ``views`` (an equal :class:`ViewImages`)."""
    enc = rig.encode
    return isinstance(enc, MethodType) and enc.__func__ is ViewImages.step_image and enc.__self__ == views


def run_parallel_rollouts(
    policy: BatchPolicy | Callable[..., npt.NDArray],
    specs: Sequence[EpisodeSpec],
    config: ParallelRolloutConfig | None = None,
    *,
    pool: RolloutWorkers | None = None,
    rig: DepthRig | None = None,
    progress: bool = False,
    desc: str = "rollouts",
) -> list[EpisodeOutcome]:
    """Run every episode of ``specs`` with ``policy``; outcomes in the order of ``specs``.

    ``pool`` reuses open workers (its image size must be ``config.image_size``); without one,
    ``config.workers`` processes are started for this call and closed after it. A
    :class:`ViewPolicy` with views needs a ``rig`` (:func:`make_depth_rig`) computing those views,
    or a ``pool`` made with one; it is refused, before any episode starts, when there is none."""
    cfg = config or ParallelRolloutConfig()
    if not specs:
        raise EvalError("no episodes to roll out")
    views = policy.views if isinstance(policy, ViewPolicy) else None
    have = pool.rig if pool is not None else rig
    if views is not None and (have is None or not _computes(have, views)):
        why = ("the environment renders RGB frames only: it provides no depth" if have is None
               else "the rollout rig computes other views than the policy's")  # fmt: skip
        raise EvalError(f"the policy reads depth + XYZ virtual views ({views.size} px, wrist views {views.wrist}); {why}. "
                        "Give run_parallel_rollouts rig=make_depth_rig(views, an episode of the training data)")  # fmt: skip
    if views is None and have is not None:
        raise EvalError("the rollout rig gives depth views, but the policy reads RGB frames")
    for s in specs:
        if s.camera_setup not in ROLLOUT_SETUPS:
            raise EvalError(f"unknown camera setup {s.camera_setup!r}; rollouts render {', '.join(ROLLOUT_SETUPS)}")
    own = pool is None
    if pool is None:
        pool = RolloutWorkers(0 if cfg.workers == 0 else max(1, min(cfg.workers, len(specs))), cfg.image_size, rig)
    elif pool.image_size != cfg.image_size:
        raise EvalError(f"the workers render {pool.image_size} px, the policy needs {cfg.image_size} px")
    elif rig is not None and pool.rig != rig:
        raise EvalError("pass the rig when making the pool (RolloutWorkers(..., rig=...)), not beside it")
    slots = pool.slots
    pending = deque(range(len(specs)))
    busy: dict[int, tuple[int, str]] = {}  # slot -> (spec index, "start" | "run"): a reply is due
    ready: dict[int, tuple[int, Any, Any]] = {}  # slot -> (spec index, image, obs): a decision is due
    outcomes: dict[int, EpisodeOutcome] = {}
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(specs), desc=desc, unit="ep", leave=False)

    def start(k: int) -> None:
        if pending:
            i = pending.popleft()
            slots[k].send(("start", specs[i], cfg.max_steps))
            busy[k] = (i, "start")

    # No lock-step: whichever environments have answered are batched through the policy at once,
    # while the others are still stepping their chunks.
    try:
        for k in range(len(slots)):
            start(k)
        while busy or ready:
            for k in pool.ready(sorted(busy), block=not ready):
                i, kind = busy.pop(k)
                reply = slots[k].recv()[1]
                if kind == "start":
                    ready[k] = (i, reply[0], reply[1])
                    continue
                done, success, steps, image, ob, frames = reply
                if done:
                    outcomes[i] = EpisodeOutcome(specs[i], bool(success), int(steps), frames)
                    if bar is not None:
                        bar.update(1)
                    start(k)
                else:
                    ready[k] = (i, image, ob)
            if not ready:
                continue
            ks = sorted(ready)
            images = np.stack([ready[k][1] for k in ks])  # (B, S, S, 3) RGB, or (B, 4, S, V·S) views
            obs = np.stack([ready[k][2] for k in ks])  # (B, 39)
            chunks = np.asarray(policy(images, obs, [specs[ready[k][0]].task for k in ks]), dtype=np.float32)
            if chunks.ndim != 3 or chunks.shape[0] != len(ks) or chunks.shape[2] != 4:
                raise EvalError(f"the policy returned chunks of shape {chunks.shape}; expected ({len(ks)}, H, 4)")
            for b, k in enumerate(ks):
                slots[k].send(("run", chunks[b, : cfg.execute]))
                busy[k] = (ready.pop(k)[0], "run")
    except WorkerError as e:
        raise EvalError(str(e)) from e
    finally:
        if own:
            pool.close()
        if bar is not None:
            bar.close()
    return [outcomes[i] for i in range(len(specs))]
