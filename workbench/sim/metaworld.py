"""metaworld tasks: environments per the reference protocol, scripted experts, cameras, recording.

Protocol (``shared/reference/metaworld-baselines.md``): ``MT1(name, seed=0)``, the first training
task set on the environment, then ``_freeze_rand_vec = False`` and ``seeded_rand_vec = True`` so
``env.seed(s); env.reset()`` draws the standard object/goal placement from ``s``. Success is
``info["success"]`` at any step; episodes are capped at 200 steps.

Cameras (CLASS Fig. 3): ``scene`` is MuJoCo's free camera orbiting the table — the named
``corner`` cameras render upside down — in one of three setups: ``fixed`` (one pose for every
episode), ``random`` (a pose drawn per episode) and ``dynamic`` (the pose sweeps during the
episode); ``wrist`` is metaworld's ``gripperPOV``. An optional second, fixed scene camera
``scene2`` looks from the opposite corner of the table (:data:`SCENE2_CAMERA`), so the depth of
the scene cameras merges into a point cloud that is not one view's shell (CLAMP §III-B); it has
RGB and depth but no segmentation.

Object positions: every step records, as episode extras ``object.<i>`` ``(T, 3)``, the world
position of the manipulated object (``i = 0``, metaworld's observation 4:7) and of the goal
(``i = 1``, observation 36:39), named by ``Episode.objects`` — what CLAMP's text describes (§III-B).

Segmentation labels: 0 rest, 1 gripper (the ``hand`` body and its fingers), 2 the manipulated
object (the subtree of :data:`OBJECT_BODIES`).
"""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")

from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Any  # noqa: E402

import mujoco  # noqa: E402
import numpy as np  # noqa: E402

from workbench.geometry import matrix_to_quat  # noqa: E402
from workbench.sim.instructions import METAWORLD_INSTRUCTIONS  # noqa: E402
from workbench.sim.render import OrbitCamera, RenderedView, SceneRenderer, depth_to_millimetres  # noqa: E402
from workbench.types import CameraSetup, CameraStream, Episode  # noqa: E402

__all__ = [
    "TASKS",
    "INSTRUCTIONS",
    "OBJECT_BODIES",
    "SEGMENTATION_LABELS",
    "SCENE_CAMERA",
    "SCENE2_CAMERA",
    "OBJECT_NAMES",
    "object_positions",
    "make_env",
    "reset_env",
    "expert_policy",
    "segmentation_lut",
    "end_effector_pose",
    "scene_camera",
    "record_expert_episode",
    "rollout",
    "MetaworldRecorder",
]

#: Our task names → metaworld's environment names.
TASKS = {
    "reach": "reach-v3",
    "push": "push-v3",
    "pick-place": "pick-place-v3",
    "drawer-open": "drawer-open-v3",
    "button-press": "button-press-v3",
    "door-open": "door-open-v3",
}
_POLICIES = {
    "reach": "SawyerReachV3Policy",
    "push": "SawyerPushV3Policy",
    "pick-place": "SawyerPickPlaceV3Policy",
    "drawer-open": "SawyerDrawerOpenV3Policy",
    "button-press": "SawyerButtonPressV3Policy",
    "door-open": "SawyerDoorOpenV3Policy",
}
#: One instruction template per task (the text methods read; :mod:`workbench.sim.instructions`).
INSTRUCTIONS = METAWORLD_INSTRUCTIONS
#: The root body of the manipulated object per task (its whole subtree is labelled "object").
OBJECT_BODIES = {"reach": "obj", "push": "obj", "pick-place": "obj", "drawer-open": "drawer", "button-press": "box", "door-open": "door"}
GRIPPER_BODY = "hand"
SEGMENTATION_LABELS = ("rest", "gripper", "object")
#: The fixed scene view: look-at point, distance, azimuth, elevation (MuJoCo's free camera).
SCENE_CAMERA = OrbitCamera((0.0, 0.65, 0.1), 1.0, 135.0, -30.0)
#: The second scene view, fixed, from the opposite corner of the table.
SCENE2_CAMERA = OrbitCamera((0.0, 0.65, 0.1), 1.0, -45.0, -35.0)
#: What the text calls each task's manipulated object (one word: the text tokenizer splits on spaces).
OBJECT_NAMES = {"reach": "puck", "push": "puck", "pick-place": "puck", "drawer-open": "drawer", "button-press": "button", "door-open": "door"}
MAX_STEPS = 200


def _task(task: str) -> str:
    if task not in TASKS:
        raise ValueError(f"task must be one of {sorted(TASKS)}, got {task!r}")
    return TASKS[task]


def make_env(task: str) -> Any:
    """The metaworld environment of ``task`` set up per the reference protocol (not yet reset)."""
    import metaworld

    name = _task(task)
    mt1 = metaworld.MT1(name, seed=0)
    env = mt1.train_classes[name]()
    env.set_task(mt1.train_tasks[0])
    env._freeze_rand_vec = False
    env.seeded_rand_vec = True
    return env


def reset_env(env: Any, seed: int) -> np.ndarray:
    """Reset with the object/goal placement drawn from ``seed``; returns the 39-D observation."""
    env.seed(int(seed))
    obs, _ = env.reset()
    return np.asarray(obs, dtype=np.float64)


def expert_policy(task: str) -> Callable[[np.ndarray], np.ndarray]:
    """metaworld's scripted expert for ``task``: observation → 4-D action."""
    from metaworld import policies

    p = getattr(policies, _POLICIES[task])()
    return lambda obs: np.asarray(p.get_action(obs), dtype=np.float64)


def _subtree(model: mujoco.MjModel, root: str) -> np.ndarray:
    """Geom ids of every body below (and including) body ``root``."""
    rid = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, root)
    if rid < 0:
        raise ValueError(f"the model has no body {root!r}")
    inside = np.zeros(model.nbody, bool)
    for b in range(model.nbody):
        a = b
        while a > 0 and a != rid:
            a = model.body_parentid[a]
        inside[b] = a == rid
    return np.flatnonzero(inside[model.geom_bodyid])


def object_positions(obs: np.ndarray) -> dict[str, np.ndarray]:
    """The world positions in a 39-D observation, keyed ``object.<i>``: the manipulated object
    (0), then the goal (1); their names for a task are ``(OBJECT_NAMES[task], "goal")``."""
    return {"object.0": np.asarray(obs[4:7], dtype=np.float32), "object.1": np.asarray(obs[36:39], dtype=np.float32)}


def segmentation_lut(model: mujoco.MjModel, task: str) -> np.ndarray:
    """``lut[geom_id + 1]`` → label (index 0 is "no geom", the background)."""
    lut = np.zeros(model.ngeom + 1, np.uint8)
    lut[_subtree(model, GRIPPER_BODY) + 1] = 1
    lut[_subtree(model, OBJECT_BODIES[task]) + 1] = 2
    return lut


def end_effector_pose(env: Any) -> tuple[np.ndarray, np.ndarray]:
    """The tool-centre point (between the fingers) and the hand's orientation, quaternion xyzw."""
    pos = np.asarray(env.tcp_center, dtype=np.float64).copy()
    R = env.data.body(GRIPPER_BODY).xmat.reshape(3, 3)
    return pos, matrix_to_quat(R)


def scene_camera(setup: CameraSetup | str, rng: np.random.Generator, T: int) -> list[OrbitCamera]:
    """The scene camera's pose at each of ``T`` steps for a camera setup (CLASS Fig. 3)."""
    setup = CameraSetup(setup)
    base = SCENE_CAMERA
    if setup == CameraSetup.FIXED:
        return [base] * T

    def draw() -> OrbitCamera:
        look = np.asarray(base.lookat) + rng.uniform(-0.05, 0.05, 3)
        return OrbitCamera(tuple(look), float(rng.uniform(0.85, 1.15)), float(rng.uniform(100, 170)), float(rng.uniform(-45, -20)))

    if setup == CameraSetup.RANDOM:
        cam = draw()
        return [cam] * T
    if setup == CameraSetup.DYNAMIC:  # a smooth sweep between two random poses
        a, b = draw(), draw()
        out = []
        for t in range(T):
            s = 0.5 - 0.5 * np.cos(np.pi * t / max(1, T - 1))
            look = tuple((1 - s) * np.asarray(a.lookat) + s * np.asarray(b.lookat))
            out.append(OrbitCamera(look, (1 - s) * a.distance + s * b.distance, (1 - s) * a.azimuth + s * b.azimuth,
                                   (1 - s) * a.elevation + s * b.elevation))  # fmt: skip
        return out
    raise ValueError(f"scene camera setup must be fixed, random or dynamic, got {setup.value!r}")


@dataclass
class _Frames:
    rgb: list
    depth: list
    seg: list
    K: list
    E: list

    @classmethod
    def empty(cls) -> _Frames:
        return cls([], [], [], [], [])

    def add(self, v: RenderedView, lut: np.ndarray) -> None:
        self.rgb.append(v.rgb)
        self.depth.append(depth_to_millimetres(v.depth))
        self.seg.append(lut[v.geom_ids + 1])
        self.K.append(v.intrinsics)
        self.E.append(v.extrinsics)

    def stream(self, name: str, setup: CameraSetup | str, *, segmentation: bool = True) -> CameraStream:
        return CameraStream(name=name, rgb=np.stack(self.rgb), depth=np.stack(self.depth),
                            segmentation=np.stack(self.seg) if segmentation else None,
                            intrinsics=np.stack(self.K), extrinsics=np.stack(self.E), setup=setup,
                            segmentation_labels=SEGMENTATION_LABELS)  # fmt: skip


class MetaworldRecorder:
    """One task's environment and renderer; records episodes of any policy with its cameras.

    ``second_scene_size``: also record the fixed ``scene2`` camera at that image size (None: not).
    Holds a GL context: use it as a context manager or call :meth:`close` when done. Several may
    be alive at once.
    """

    def __init__(self, task: str, image_size: int = 96, *, second_scene_size: int | None = None) -> None:
        self.task = task
        self.image_size = int(image_size)
        if second_scene_size is not None and second_scene_size < 1:
            raise ValueError(f"second_scene_size must be >= 1 or None, got {second_scene_size}")
        self.second_scene_size = second_scene_size
        self.env = make_env(task)
        self._renderer: SceneRenderer | None = None  # made on first render: state-only rollouts need no GL
        self._renderer2: SceneRenderer | None = None
        self.lut = segmentation_lut(self.env.model, task)

    @property
    def renderer(self) -> SceneRenderer:
        if self._renderer is None:
            self._renderer = SceneRenderer(self.env.model, self.image_size, self.image_size)
        return self._renderer

    @property
    def renderer2(self) -> SceneRenderer:
        if self._renderer2 is None:
            size = int(self.second_scene_size or self.image_size)
            self._renderer2 = SceneRenderer(self.env.model, size, size)
        return self._renderer2

    def close(self) -> None:
        for r in (self._renderer, self._renderer2):
            if r is not None:
                r.close()
        self._renderer = self._renderer2 = None
        self.env.close()

    def __enter__(self) -> MetaworldRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def render(self, camera: OrbitCamera | str) -> RenderedView:
        return self.renderer.render(self.env.data, camera)

    def record(
        self,
        policy: Callable[[np.ndarray], np.ndarray],
        seed: int,
        *,
        index: int = 0,
        setup: CameraSetup | str = CameraSetup.FIXED,
        action_noise: float = 0.0,
        max_steps: int = 100,
        steps_after_success: int | None = 8,
        rng: np.random.Generator | None = None,
        render: bool = True,
        replan_every: int | None = None,
        source: str = "metaworld-3.1.1 scripted expert",
    ) -> Episode:
        """Run ``policy`` from the placement of ``seed`` and record everything, step by step.

        Frame ``t`` is what the cameras saw before action ``t`` was taken. Recording ends
        ``steps_after_success`` steps after the first success (``None``: never early), or at
        ``max_steps``. ``policy`` returns one action ``(4,)`` or a chunk ``(k, 4)``; a chunk is
        executed for ``min(k, replan_every)`` steps before the policy is asked again. Without
        ``render`` the episode has no cameras and no GL context is made.
        """
        if max_steps < 1:
            raise ValueError(f"max_steps must be >= 1, got {max_steps}")
        if replan_every is not None and replan_every < 1:
            raise ValueError(f"replan_every must be >= 1, got {replan_every}")
        rng = rng if rng is not None else np.random.default_rng(seed)
        obs = reset_env(self.env, seed)
        # Drawn even without rendering, so the noise sequence of a seed does not depend on `render`.
        cams = scene_camera(setup, rng, max_steps)
        scene, wrist, scene2 = _Frames.empty(), _Frames.empty(), _Frames.empty()
        second = render and self.second_scene_size is not None
        actions, states, pos, quat, grip, objects = [], [], [], [], [], []
        success_at = None
        queue = np.zeros((0, 4))
        for t in range(max_steps):
            if render:
                scene.add(self.render(cams[t]), self.lut)
                wrist.add(self.render("gripperPOV"), self.lut)
            if second:
                scene2.add(self.renderer2.render(self.env.data, SCENE2_CAMERA), self.lut)
            objects.append(object_positions(obs))
            p, q = end_effector_pose(self.env)
            pos.append(p)
            quat.append(q)
            grip.append(float(obs[3]))
            states.append(obs.astype(np.float32))
            if len(queue) == 0:
                queue = np.atleast_2d(np.asarray(policy(obs), dtype=np.float64))
                if queue.ndim != 2 or queue.shape[1] != 4 or len(queue) == 0:
                    raise ValueError(f"policy returned actions of shape {queue.shape}; expected (4,) or (k, 4)")
                queue = queue[:replan_every]
            a, queue = queue[0], queue[1:]
            if action_noise:
                a = a + rng.normal(0.0, action_noise, a.shape)
            a = np.clip(a, -1.0, 1.0)
            actions.append(a.astype(np.float32))
            obs, _, _, _, info = self.env.step(a)
            obs = np.asarray(obs, dtype=np.float64)
            if success_at is None and info.get("success"):
                success_at = t
            if success_at is not None and steps_after_success is not None and t - success_at >= steps_after_success:
                break
        fps = 1.0 / float(self.env.dt)
        cameras = {"scene": scene.stream("scene", setup), "wrist": wrist.stream("wrist", CameraSetup.WRIST)} if render else {}
        if second:
            cameras["scene2"] = scene2.stream("scene2", CameraSetup.FIXED, segmentation=False)
        return Episode(
            index=index,
            actions=np.stack(actions),
            fps=fps,
            cameras=cameras,
            ee_pos=np.stack(pos),
            ee_quat=np.stack(quat),
            gripper=np.asarray(grip),
            state=np.stack(states),
            instruction=INSTRUCTIONS[self.task],
            task=self.task,
            camera_setup=setup,
            success=success_at is not None,
            source=source,
            objects=(OBJECT_NAMES[self.task], "goal"),
            extras={"seed": np.full(len(actions), seed, dtype=np.int64),
                    **{k: np.stack([o[k] for o in objects]) for k in objects[0]}},
        )


def rollout(
    policy: Callable[[np.ndarray], np.ndarray],
    task: str,
    seed: int,
    *,
    max_steps: int = MAX_STEPS,
    render: bool = False,
    setup: CameraSetup | str = CameraSetup.FIXED,
    image_size: int = 96,
    action_noise: float = 0.0,
    replan_every: int | None = None,
    stop_on_success: bool = True,
    recorder: MetaworldRecorder | None = None,
) -> Episode:
    """One closed-loop episode of ``policy`` (observation → action ``(4,)`` or chunk ``(k, 4)``).

    The reference protocol: placement from ``seed``, at most ``max_steps`` (200) steps, success if
    ``info["success"]`` at any step (``episode.success``). It stops at the first success unless
    ``stop_on_success`` is False. With ``render`` the episode carries the ``scene`` (camera
    ``setup``) and ``wrist`` cameras. Pass a ``recorder`` of the same task to reuse its env and GL
    context across many rollouts. Image-conditioned chunk policies are evaluated by
    :mod:`workbench.eval.rollout`, which renders only what the policy needs.
    """
    own = recorder is None
    rec = MetaworldRecorder(task, image_size) if own else recorder
    if rec.task != task:
        raise ValueError(f"the recorder is for task {rec.task!r}, not {task!r}")
    try:
        return rec.record(policy, seed, setup=setup, action_noise=action_noise, max_steps=max_steps, render=render,
                          steps_after_success=0 if stop_on_success else None, replan_every=replan_every,
                          source="metaworld-3.1.1 rollout")  # fmt: skip
    finally:
        if own:
            rec.close()


def record_expert_episode(task: str, seed: int, **kw) -> Episode:
    """One scripted-expert episode of ``task`` (see :meth:`MetaworldRecorder.record`)."""
    image_size = kw.pop("image_size", 96)
    with MetaworldRecorder(task, image_size) as rec:
        return rec.record(expert_policy(task), seed, **kw)
