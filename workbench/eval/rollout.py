"""Closed-loop rollouts of chunk policies in metaworld, per the reference protocol.

Protocol (``/work/shared/reference/metaworld-baselines.md``): ``MT1(name, seed=0)``, the first
training task set on the environment, then ``_freeze_rand_vec = False`` and ``seeded_rand_vec =
True`` so each ``env.seed(s); env.reset()`` draws the standard object/goal placement from ``s``.
Episodes stop at 200 steps; success is ``info["success"]`` at any step. Evaluation seeds count up
from 2000 (the reference's 100-episode set; its first 20 seeds would be 1000–1019).

A policy sees the image the run was trained on — the same camera rendered at the training image
size — and the 39-D observation (the scripted expert uses it; learned policies ignore it). It
returns a chunk of actions; the first ``execute`` (8 in the reference) are executed before it is
asked again. Frames of the first episodes are written as mp4 under ``RUN/eval/rollouts/``.

Cameras: ``wrist`` is metaworld's ``gripperPOV``; ``scene`` is a fixed free camera
(:data:`SCENE_CAMERA`) looking at the table from the front-right corner; switch it to the
camera the dataset generator used when that differs (`workbench.sim` will own both).
"""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")

from collections.abc import Callable, Sequence  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Protocol  # noqa: E402

import mujoco  # noqa: E402
import numpy as np  # noqa: E402
import numpy.typing as npt  # noqa: E402

from workbench.eval.results import EvalError, RolloutResult, TaskRollout  # noqa: E402

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

#: Our camera names -> what metaworld's model calls them ("scene" is a free camera, below).
CAMERA_NAMES = {"wrist": "gripperPOV"}
#: The fixed scene view: lookat, distance, azimuth, elevation of MuJoCo's free camera.
SCENE_CAMERA = ((0.0, 0.6, 0.1), 1.4, 225.0, -30.0)
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
    import metaworld

    name = env_name(task)
    try:
        mt = metaworld.MT1(name, seed=0)
    except (KeyError, ValueError) as e:
        raise EvalError(f"metaworld has no task {name!r} ({e})") from e
    env = mt.train_classes[name]()
    env.set_task(mt.train_tasks[0])
    env._freeze_rand_vec = False
    env.seeded_rand_vec = True
    return env


class _RGBRenderer:
    """RGB-only offscreen rendering with shadows, reflections, skybox and multisampling off
    (about ten times faster on software GL; the same settings as :mod:`workbench.sim.render`)."""

    def __init__(self, model: mujoco.MjModel, size: int) -> None:
        model.vis.quality.offsamples = 0
        self.model, self.size = model, int(size)
        self._scene = mujoco.MjvScene(model, maxgeom=2000)
        self._option = mujoco.MjvOption()
        self._rect = mujoco.MjrRect(0, 0, self.size, self.size)
        self._gl = mujoco.gl_context.GLContext(self.size, self.size)
        self._gl.make_current()
        self._ctx = mujoco.MjrContext(model, mujoco.mjtFontScale.mjFONTSCALE_150.value)
        mujoco.mjr_setBuffer(mujoco.mjtFramebuffer.mjFB_OFFSCREEN.value, self._ctx)
        for flag in (mujoco.mjtRndFlag.mjRND_SHADOW, mujoco.mjtRndFlag.mjRND_REFLECTION, mujoco.mjtRndFlag.mjRND_SKYBOX):
            self._scene.flags[flag] = False
        self._buf = np.empty((self.size, self.size, 3), dtype=np.uint8)

    def camera(self, name: str) -> mujoco.MjvCamera:
        cam = mujoco.MjvCamera()
        if name == "scene":
            cam.type = mujoco.mjtCamera.mjCAMERA_FREE
            (cam.lookat[:], cam.distance, cam.azimuth, cam.elevation) = SCENE_CAMERA
            return cam
        cam_id = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_CAMERA, CAMERA_NAMES[name])
        if cam_id < 0:
            raise EvalError(f"the metaworld model has no camera {CAMERA_NAMES[name]!r}")
        cam.type, cam.fixedcamid = mujoco.mjtCamera.mjCAMERA_FIXED, cam_id
        return cam

    def render(self, data: mujoco.MjData, cam: mujoco.MjvCamera) -> npt.NDArray[np.uint8]:
        self._gl.make_current()
        mujoco.mjv_updateScene(self.model, data, self._option, None, cam, mujoco.mjtCatBit.mjCAT_ALL.value, self._scene)
        mujoco.mjr_render(self._rect, self._scene, self._ctx)
        mujoco.mjr_readPixels(self._buf, None, self._rect, self._ctx)
        return np.flipud(self._buf).copy()  # GL rows start at the bottom

    def close(self) -> None:
        if self._ctx is not None:
            self._ctx.free()
            self._gl.free()
            self._ctx = self._gl = None  # type: ignore[assignment]

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown: GL may already be gone
            pass


class ExpertPolicy:
    """metaworld's scripted policy for ``task`` as a chunk policy of one action (sanity checks)."""

    def __init__(self, task: str) -> None:
        import metaworld.policies as P

        cls_name = "Sawyer" + "".join(w.capitalize() for w in env_name(task).removesuffix("-v3").split("-")) + "V3Policy"
        if not hasattr(P, cls_name):
            raise EvalError(f"metaworld has no scripted policy {cls_name} for task {task!r}")
        self._policy = getattr(P, cls_name)()

    def reset(self) -> None:
        pass

    def __call__(self, image: npt.NDArray[np.uint8], obs: npt.NDArray) -> npt.NDArray:
        return np.asarray(self._policy.get_action(obs), dtype=np.float32)[None]  # (1, 4)


def rollout_episode(env: Any, renderer: _RGBRenderer, cam: mujoco.MjvCamera, policy: ChunkPolicy, seed: int,
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
        image = renderer.render(env.data, cam) if (record or not queue) else None
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
        frames.append(renderer.render(env.data, cam))
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
        renderer = _RGBRenderer(env.model, cfg.image_size)
        cam = renderer.camera(cfg.camera)
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
