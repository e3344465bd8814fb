"""Closed-loop rollouts of chunk policies in metaworld, per the reference protocol.

Protocol (``../shared/reference/metaworld-baselines.md``): ``MT1(name, seed=0)``, the first
training task set on the environment, then ``_freeze_rand_vec = False`` and ``seeded_rand_vec =
True`` so each ``env.seed(s); env.reset()`` draws the standard object/goal placement from ``s``.
Episodes stop at 200 steps; success is ``info["success"]`` at any step. Evaluation seeds count up
from 2000 (the reference's 100-episode set; its first 20 seeds would be 1000–1019).

A policy sees the image the run was trained on — the same camera rendered at the training image
size — and the 39-D observation (the scripted expert uses it; learned policies ignore it). It
returns a chunk of actions; the first ``execute`` (8 in the reference) are executed before it is
asked again. Frames of the first episodes are written as mp4 under ``RUN/eval/rollouts/``.

Cameras: ``wrist`` is metaworld's ``gripperPOV``; ``scene`` is the sample generator's fixed free
camera (:data:`workbench.sim.metaworld.SCENE_CAMERA`), so a policy trained on the samples' fixed
setup sees the view it was trained on; rendering goes through :mod:`workbench.sim.render`.
"""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")

from collections.abc import Callable, Sequence  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Protocol  # noqa: E402

import numpy as np  # noqa: E402
import numpy.typing as npt  # noqa: E402

from workbench.eval.results import EvalError, RolloutResult, TaskRollout  # noqa: E402
from workbench.sim.metaworld import SCENE_CAMERA  # noqa: E402
from workbench.sim.render import OrbitCamera, SceneRenderer  # noqa: E402

__all__ = [
    "CAMERA_NAMES",
    "ChunkPolicy",
    "ExpertPolicy",
    "RolloutConfig",
    "SCENE_CAMERA",
    "eval_seeds",
    "make_env",
    "run_rollouts",
    "rollout_episode",
]

#: Our camera names -> what metaworld's model calls them ("scene" is the generator's fixed free camera).
CAMERA_NAMES = {"wrist": "gripperPOV"}
MAX_STEPS = 200  # the reference protocol's episode cap
EXECUTE = 8  # actions executed per chunk before re-planning (the reference's k-NN policy)


class ChunkPolicy(Protocol):
    """``reset()`` before each episode; ``(image (S, S, 3) uint8, obs (39,)) -> chunk (H, A)``."""

    def reset(self) -> None: ...

    def __call__(self, image: npt.NDArray[np.uint8], obs: npt.NDArray) -> npt.NDArray: ...


@dataclass(frozen=True)
class RolloutConfig:
    episodes: int = 20  # seeded episodes per task (the reference asks for 100 to compare representations)
    max_steps: int = MAX_STEPS  # step cap per episode
    execute: int = EXECUTE  # actions executed per predicted chunk before re-planning
    camera: str = "scene"  # "scene" or "wrist" (must be the camera the run trained on)
    image_size: int = 64  # square side the policy sees (the run's image size)
    save_episodes: int = 1  # how many first episodes per task to save as video
    seed_start: int = 2000  # first evaluation seed (reference: 2000–2099; 1000–1019 for 20)
    fps: float = 20.0  # of the saved videos

    def __post_init__(self) -> None:
        for name in ("episodes", "max_steps", "execute", "image_size"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"RolloutConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.save_episodes < 0:
            raise ValueError(f"RolloutConfig.save_episodes must be >= 0, got {self.save_episodes}")
        if self.camera not in ("scene", *CAMERA_NAMES):
            raise ValueError(f"RolloutConfig.camera must be 'scene' or one of {sorted(CAMERA_NAMES)}, got {self.camera!r}")


def eval_seeds(n: int, start: int = 2000) -> list[int]:
    return list(range(start, start + n))


def env_name(task: str) -> str:
    return task if task.endswith("-v3") else f"{task}-v3"


def make_env(task: str) -> Any:
    """A metaworld environment of ``task`` set up for seeded resets (the reference protocol)."""
    from workbench.sim.metaworld import TASKS
    from workbench.sim.metaworld import make_env as _make_env

    short = task.removesuffix("-v3")
    if short not in TASKS:
        raise EvalError(f"no metaworld task {task!r}; the workbench knows {sorted(TASKS)}")
    return _make_env(short)


def _camera(name: str) -> OrbitCamera | str:
    """What the dataset generator rendered: the fixed scene camera, or the wrist camera."""
    return SCENE_CAMERA if name == "scene" else CAMERA_NAMES[name]


class ExpertPolicy:
    """metaworld's scripted policy for ``task`` as a chunk policy of one action (sanity checks)."""

    def __init__(self, task: str) -> None:
        from workbench.sim.metaworld import TASKS, expert_policy

        short = task.removesuffix("-v3")
        if short not in TASKS:
            raise EvalError(f"no scripted policy for task {task!r}; the workbench knows {sorted(TASKS)}")
        self._policy = expert_policy(short)

    def reset(self) -> None:
        pass

    def __call__(self, image: npt.NDArray[np.uint8], obs: npt.NDArray) -> npt.NDArray:
        return np.asarray(self._policy(obs), dtype=np.float32)[None]  # (1, 4)


def rollout_episode(env: Any, renderer: SceneRenderer, cam: OrbitCamera | str, policy: ChunkPolicy, seed: int,
                    cfg: RolloutConfig, *, record: bool = False) -> tuple[bool, int, list[npt.NDArray[np.uint8]]]:
    """One seeded episode: (success, steps taken, frames if ``record``)."""
    env.seed(int(seed))
    obs, _ = env.reset()
    policy.reset()
    queue: list[npt.NDArray] = []
    frames: list[npt.NDArray[np.uint8]] = []
    low, high = env.action_space.low, env.action_space.high
    success, t = False, 0
    for t in range(1, cfg.max_steps + 1):
        image = renderer.render_rgb(env.data, cam) if (record or not queue) else None
        if record:
            frames.append(image)  # type: ignore[arg-type]
        if not queue:
            chunk = np.asarray(policy(image, obs), dtype=np.float32)  # type: ignore[arg-type]
            if chunk.ndim != 2 or chunk.shape[1] != low.shape[0]:
                raise EvalError(f"the policy returned a chunk of shape {chunk.shape}; the environment takes "
                                f"(H, {low.shape[0]}) actions (raw xyz delta + gripper)")  # fmt: skip
            queue = list(chunk[: cfg.execute])
        action = np.clip(queue.pop(0), low, high)
        obs, _, terminated, truncated, info = env.step(action)
        if info.get("success", 0.0) > 0.5:
            success = True
            break
        if terminated or truncated:
            break
    if record:
        frames.append(renderer.render_rgb(env.data, cam))
    return success, t, frames


def run_rollouts(
    make_policy: Callable[[str], ChunkPolicy],
    tasks: Sequence[str],
    config: RolloutConfig | None = None,
    *,
    policy_name: str = "policy",
    out_dir: str | Path | None = None,
    run_dir: str | Path | None = None,
    progress: bool = False,
) -> RolloutResult:
    """Success of ``make_policy(task)`` over ``config.episodes`` seeded episodes of each task.

    Videos of the first ``save_episodes`` episodes go to ``out_dir`` (named
    ``<policy>_<task>_seed<S>.mp4``); paths in the result are relative to ``run_dir`` when given.
    """
    from workbench.data.video import write_video

    cfg = config or RolloutConfig()
    if not tasks:
        raise EvalError("no tasks to roll out")
    seeds = eval_seeds(cfg.episodes, cfg.seed_start)
    results = []
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(tasks) * len(seeds), desc=f"rollouts {policy_name}", unit="ep", leave=False)
    for task in tasks:
        env = make_env(task)
        renderer = SceneRenderer(env.model, cfg.image_size, cfg.image_size)
        cam = _camera(cfg.camera)
        policy = make_policy(task)
        succ, steps, saved = [], [], []
        try:
            for i, s in enumerate(seeds):
                record = out_dir is not None and i < cfg.save_episodes
                ok, n, frames = rollout_episode(env, renderer, cam, policy, s, cfg, record=record)
                succ.append(ok)
                steps.append(n)
                if record and frames:
                    safe = policy_name.replace(":", "-").replace("/", "-")
                    path = Path(out_dir) / f"{safe}_{task}_seed{s}.mp4"  # type: ignore[arg-type]
                    write_video(path, np.stack(frames), cfg.fps)
                    saved.append(str(path.relative_to(run_dir)) if run_dir is not None else str(path))
                if bar is not None:
                    bar.update(1)
        finally:
            renderer.close()
            env.close()
        results.append(TaskRollout(task, tuple(seeds), tuple(succ), tuple(steps), tuple(saved)))
    if bar is not None:
        bar.close()
    return RolloutResult(policy=policy_name, camera=cfg.camera, image_size=cfg.image_size, execute=cfg.execute,
                         max_steps=cfg.max_steps, tasks=tuple(results))  # fmt: skip
