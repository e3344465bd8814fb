"""Metaworld environments behind worker processes: the stepping half of parallel rollouts.

:mod:`workbench.eval.parallel` drives these from the main process (the policy's batched forward
runs there). This module imports only MuJoCo and metaworld, so a spawned worker starts in about a
second instead of importing torch and the evaluation stack.

A slot holds one environment per task and its renderers; it starts an episode from an
:class:`EpisodeSpec` (placement seed, camera setup) and executes a chunk of actions per message.
After each message it returns what the policy reads: the RGB frame of the episode's camera, or,
with a :class:`DepthRig`, the depth of the cameras the training data recorded (same names, sizes
and poses as the generator's) and the end-effector pose, turned into the policy's input by the
rig's ``encode`` (CLAMP's virtual views, :class:`workbench.data.views.ViewImages`) in the worker.
The camera of an evaluation episode is drawn from the stream ``[seed, 0xCA]``, which no training
episode of the generator uses (it draws from ``[seed, k, j]``).
"""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")

from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import numpy.typing as npt  # noqa: E402

__all__ = ["DEPTH_CAMERAS", "DepthRig", "EpisodeSpec", "ROLLOUT_SETUPS", "WorkerError", "RolloutWorkers", "episode_cameras"]

#: Camera setups a rollout can render: the scene camera's three (CLASS Fig. 3) and the wrist.
ROLLOUT_SETUPS = ("fixed", "random", "dynamic", "wrist")
#: The generator's recorded cameras a rollout renders with depth: ``scene`` (the episode's camera
#: setup), ``wrist`` (``gripperPOV``) and the fixed ``scene2`` (:mod:`workbench.sim.metaworld`).
DEPTH_CAMERAS = ("scene", "wrist", "scene2")
_CAMERA_STREAM = 0xCA


class WorkerError(RuntimeError):
    """A rollout worker failed; the message carries the worker's exception."""


@dataclass(frozen=True)
class EpisodeSpec:
    task: str
    seed: int  # placement and camera seed
    camera_setup: str = "fixed"
    record: bool = False  # keep every frame (for a video)


def episode_cameras(setup: str, seed: int, steps: int) -> list[Any]:
    """The camera at each step of an evaluation episode under ``setup`` (drawn from ``seed``)."""
    from workbench.sim.metaworld import scene_camera

    if setup not in ROLLOUT_SETUPS:
        raise ValueError(f"unknown camera setup {setup!r}; rollouts render {', '.join(ROLLOUT_SETUPS)}")
    if setup == "wrist":
        return ["gripperPOV"] * steps
    return scene_camera(setup, np.random.default_rng([int(seed), _CAMERA_STREAM]), steps)


@dataclass(frozen=True)
class DepthRig:
    """What a depth-reading policy sees in closed loop instead of the RGB frame.

    ``cameras``: the recorded cameras to render with depth at each decision, ``(name, width,
    height)`` in the order the training data merges them (names from :data:`DEPTH_CAMERAS`, sizes
    those the dataset recorded). ``encode(frames, ee_pos, ee_quat, *, where, step)`` turns the
    frames — ``(name, depth uint16 mm, intrinsics, extrinsics)`` tuples, as the datasets store
    them — and the end-effector pose into the policy's input; it runs in the worker, so it must be
    picklable (CLAMP's virtual views: ``ViewImages(...).step_image``, :mod:`workbench.data.views`).
    """

    cameras: tuple[tuple[str, int, int], ...]
    encode: Callable[..., Any]

    def __post_init__(self) -> None:
        if not self.cameras:
            raise ValueError("a DepthRig needs at least one camera with depth")
        unknown = [c[0] for c in self.cameras if c[0] not in DEPTH_CAMERAS]
        if unknown:
            raise ValueError(f"the simulator cannot render depth for camera {unknown[0]!r}: a rollout renders "
                             f"{', '.join(DEPTH_CAMERAS)} (the cameras the metaworld generator records)")  # fmt: skip
        for c in self.cameras:
            if len(c) != 3 or int(c[1]) < 1 or int(c[2]) < 1:
                raise ValueError(f"DepthRig cameras are (name, width, height) with positive sizes, got {c!r}")


class _Slot:
    """One environment per task and its renderers (one per image size), in whichever process runs it."""

    def __init__(self, image_size: int, rig: DepthRig | None = None) -> None:
        self.image_size, self.max_steps, self.rig = image_size, 0, rig
        self._envs: dict[str, Any] = {}
        self._renderers: dict[tuple[str, int, int], Any] = {}
        self.spec: EpisodeSpec | None = None

    def _env(self, task: str) -> Any:
        if task not in self._envs:
            from workbench.sim.metaworld import make_env

            self._envs[task] = make_env(task)
        return self._envs[task]

    def _renderer(self, task: str, width: int, height: int) -> Any:
        key = (task, int(width), int(height))
        if key not in self._renderers:
            from workbench.sim.render import SceneRenderer

            self._renderers[key] = SceneRenderer(self._env(task).model, int(width), int(height))
        return self._renderers[key]

    def _rgb(self) -> npt.NDArray[np.uint8]:
        assert self.spec is not None
        r = self._renderer(self.spec.task, self.image_size, self.image_size)
        return r.render_rgb(self._env(self.spec.task).data, self.cams[self.t])

    def _observe(self) -> Any:
        """What the policy reads at the current step: the RGB frame, or the rig's encoded depth."""
        if self.rig is None:
            return self._rgb()
        from workbench.sim.metaworld import SCENE2_CAMERA, end_effector_pose
        from workbench.sim.render import depth_to_millimetres

        assert self.spec is not None
        env = self._env(self.spec.task)
        where = {"scene": self.cams[self.t], "wrist": "gripperPOV", "scene2": SCENE2_CAMERA}
        frames = []
        for name, w, h in self.rig.cameras:
            # the generator's recording: the same renderer settings, camera and millimetre depth
            v = self._renderer(self.spec.task, w, h).render(env.data, where[name])
            frames.append((name, depth_to_millimetres(v.depth), v.intrinsics, v.extrinsics))
        pos, quat = end_effector_pose(env)
        return self.rig.encode(frames, pos, quat, where=f"rollout {self.spec.task} seed {self.spec.seed}", step=self.t)

    def start(self, spec: EpisodeSpec, max_steps: int) -> tuple[Any, npt.NDArray]:
        env = self._env(spec.task)
        self.max_steps = int(max_steps)
        env.seed(int(spec.seed))
        obs, _ = env.reset()
        self.spec, self.t, self.obs = spec, 0, np.asarray(obs)
        self.cams = episode_cameras(spec.camera_setup, spec.seed, self.max_steps + 1)
        self.frames: list[npt.NDArray[np.uint8]] = []
        if spec.record:
            self.frames.append(self._rgb())
        return self._observe(), self.obs

    def run(self, actions: npt.NDArray) -> tuple[bool, bool, int, Any, Any, Any]:
        """Execute ``actions``; ``(done, success, steps, image, obs, frames)`` (image None when done)."""
        assert self.spec is not None
        env = self._env(self.spec.task)
        low, high = env.action_space.low, env.action_space.high
        done = success = False
        for a in actions:
            self.obs, _, terminated, truncated, info = env.step(np.clip(a, low, high))
            self.t += 1
            if self.spec.record:
                self.frames.append(self._rgb())
            if info.get("success", 0.0) > 0.5:
                done = success = True
                break
            if terminated or truncated or self.t >= self.max_steps:
                done = True
                break
        if done:
            frames = np.stack(self.frames) if self.frames else None
            self.spec = None
            return True, success, self.t, None, None, frames
        return False, False, self.t, self._observe(), np.asarray(self.obs), None

    def close(self) -> None:
        for r in self._renderers.values():
            r.close()
        for env in self._envs.values():
            env.close()
        self._renderers, self._envs = {}, {}


def _worker(conn: Any, image_size: int, rig: DepthRig | None = None) -> None:
    """A worker process: start/run messages in, results out, until ``close``.

    Mesa's software renderer starts one thread per core for each GL context; with one worker per
    core that oversubscribes the CPU, so a worker renders on one thread (unless told otherwise)."""
    os.environ.setdefault("LP_NUM_THREADS", "1")
    slot = _Slot(image_size, rig)
    try:
        while True:
            msg = conn.recv()
            if msg[0] == "start":
                conn.send(("ok", slot.start(msg[1], msg[2])))
            elif msg[0] == "run":
                conn.send(("ok", slot.run(msg[1])))
            else:
                break
    except Exception as e:  # reported to the main process, which raises it
        conn.send(("error", f"{type(e).__name__}: {e}"))
    finally:
        slot.close()
        conn.close()


class _Local:
    """The serial path: a slot in this process behind the same send/recv interface as a worker."""

    def __init__(self, image_size: int, rig: DepthRig | None = None) -> None:
        self.slot = _Slot(image_size, rig)
        self._reply: Any = None

    def send(self, msg: tuple) -> None:
        self._reply = ("ok", self.slot.start(msg[1], msg[2]) if msg[0] == "start" else self.slot.run(msg[1]))

    def recv(self) -> Any:
        return self._reply

    def close(self) -> None:
        self.slot.close()


class _Remote:
    def __init__(self, image_size: int, rig: DepthRig | None = None) -> None:
        import multiprocessing as mp

        ctx = mp.get_context("spawn")  # a forked child would share the parent's GL and OpenMP state
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker, args=(child, image_size, rig), daemon=True)
        self.proc.start()
        child.close()

    def send(self, msg: tuple) -> None:
        self.conn.send(msg)

    def recv(self) -> Any:
        try:
            reply = self.conn.recv()
        except EOFError as e:
            raise WorkerError(f"rollout worker {self.proc.pid} exited (status {self.proc.exitcode})") from e
        if reply[0] == "error":
            raise WorkerError(f"rollout worker failed: {reply[1]}")
        return reply

    def close(self) -> None:
        try:
            self.conn.send(("close",))
        except (BrokenPipeError, OSError):
            pass
        self.proc.join(timeout=10)
        if self.proc.is_alive():
            self.proc.terminate()


class RolloutWorkers:
    """``workers`` environment processes (0: one slot in this process) rendering at ``image_size``;
    with a ``rig`` they return its encoded depth instead of the RGB frame (:class:`DepthRig`).

    A context manager; reuse one across many evaluations so processes and environments are made
    once (starting a worker imports metaworld and builds each task's environment: seconds)."""

    def __init__(self, workers: int, image_size: int, rig: DepthRig | None = None) -> None:
        if workers < 0:
            raise ValueError(f"workers must be >= 0, got {workers}")
        self.workers, self.image_size, self.rig = workers, image_size, rig
        self.slots: list[Any] = [_Local(image_size, rig)] if workers == 0 else [_Remote(image_size, rig) for _ in range(workers)]

    def close(self) -> None:
        for s in self.slots:
            s.close()
        self.slots = []

    def ready(self, busy: list[int], block: bool) -> list[int]:
        """The slots among ``busy`` whose reply has arrived (waits for one when ``block``)."""
        if self.workers == 0:
            return list(busy)  # an in-process slot has answered by the time send returns
        from multiprocessing.connection import wait

        by_conn = {self.slots[k].conn: k for k in busy}
        return sorted(by_conn[c] for c in wait(list(by_conn), timeout=None if block else 0))

    def __enter__(self) -> RolloutWorkers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
