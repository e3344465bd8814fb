"""The Shadow Dexterous Hand (gymnasium-robotics' MJCF) driven through grasp-like motions.

The model is loaded straight from gymnasium-robotics' assets (``hand/manipulate_block.xml``, the
hand with a block on the palm) and driven by its 20 position actuators; no gym wrapper is needed.
Each episode follows one of five motion families (:data:`MOTIONS`: grasp, pinch, point, wave,
rotate) with parameters (:class:`MotionParams`: speed, amplitude, the pinching finger, how far the
hand turns over) named in its instruction, plus per-finger jitter, so chunks differ within and
across tasks. The camera is fixed, random per episode or moving (:data:`HAND_CAMERA_SETUPS`).

Keypoints are mapped to MANO order (:data:`workbench.types.MANO_JOINTS`): the wrist body, then for
the thumb ``thproximal, thmiddle, thdistal`` and the ``S_thtip`` site, and for the index, middle,
ring and little fingers (``ff, mf, rf, lf``) ``XXproximal, XXmiddle, XXdistal`` and ``S_XXtip``.

Two hands: the simulated hand is the right one. The left hand is a second, independent rollout of
the same family, mirrored by conjugation (``S·T·S`` with ``S = diag(−1, 1, 1, 1)``, which keeps
rotations proper) through the plane ``x = x_mount − 0.125 m``: the right hand's fingers point
along −y with its thumb towards −x, so the mirror image is a left hand whose wrist sits
:data:`HAND_SEPARATION` (25 cm) away on the thumb side, as two hands side by side. Only the right
hand is rendered.

The arm: the model welds the hand to a fixed mount, so its wrist would never move; each rollout
carries the mount along a smooth random reach (:meth:`HandRecorder.arm_path`), so the wrist path
has the extent of a person's.

Time: frames are 1/30 s apart; the model's 2 ms timestep is shortened to 1/480 s so that
:data:`SUBSTEPS` (16) physics steps make exactly one frame.
"""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")

from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import mujoco  # noqa: E402
import numpy as np  # noqa: E402

from workbench.geometry import make_pose  # noqa: E402
from workbench.sim.render import OrbitCamera, SceneRenderer  # noqa: E402
from workbench.types import CameraSetup, CameraStream, Episode, mano_skeleton  # noqa: E402

__all__ = ["HAND_CAMERA_SETUPS", "MOTIONS", "MotionParams", "model_path", "load_model", "keypoint_names", "HandRecorder",
           "mirror_pose", "motion_instruction", "sample_motion_params"]

#: Motion family → instruction template; ``{finger}`` and ``{speed}`` are filled per episode from
#: its parameters (:func:`motion_instruction`), so instructions differ as the motions do.
MOTIONS = {
    "grasp": "grasp the block with the right hand{speed}",
    "pinch": "pinch the block between thumb and {finger} finger{speed}",
    "point": "point with the index finger{speed}",
    "wave": "open the hand and wave the wrist{speed}",
    "rotate": "turn the hand over{speed}",
}
#: Camera setups a hand episode can be recorded with (CLASS Fig. 3's three kinds).
HAND_CAMERA_SETUPS = ("fixed", "random", "dynamic")
_FINGERS = ("ff", "mf", "rf", "lf")
HAND_SEPARATION = 0.25  # metres between the two wrists
FPS = 30.0
SUBSTEPS = 16  # physics steps per frame: timestep = 1 / (FPS · SUBSTEPS)


def model_path() -> Path:
    import gymnasium_robotics

    return Path(gymnasium_robotics.__file__).parent / "envs" / "assets" / "hand" / "manipulate_block.xml"


def load_model() -> mujoco.MjModel:
    p = model_path()
    if not p.is_file():
        raise FileNotFoundError(f"{p}: the Shadow hand model is missing (gymnasium-robotics==1.4.2 ships it)")
    return mujoco.MjModel.from_xml_path(str(p))


def keypoint_names() -> list[tuple[str, str]]:
    """``(kind, name)`` of the 21 MANO-order keypoints, kind ``body`` or ``site``."""
    out = [("body", "robot0:wrist")]
    out += [("body", "robot0:thproximal"), ("body", "robot0:thmiddle"), ("body", "robot0:thdistal"), ("site", "robot0:S_thtip")]
    for f in _FINGERS:
        out += [("body", f"robot0:{f}proximal"), ("body", f"robot0:{f}middle"), ("body", f"robot0:{f}distal"), ("site", f"robot0:S_{f}tip")]
    return out


def mirror_pose(T: np.ndarray) -> np.ndarray:
    """Mirror world poses through the x = 0 plane, keeping rotations proper (``S·T·S``)."""
    S = np.diag([-1.0, 1.0, 1.0, 1.0])
    return S @ T @ S


@dataclass(frozen=True)
class MotionParams:
    """The parameters of one episode's motion: what varies within a family."""

    motion: str
    period: float  # frames per close-open cycle (a fraction of the episode: speed)
    finger: str = "index"  # pinch: which finger meets the thumb ("index" or "middle")
    amplitude: float = 1.0  # scales how far the fingers close / the wrist swings / the hand turns
    turn_deg: float = 0.0  # rotate: peak pronation of the forearm, degrees

    @property
    def speed_word(self) -> str:
        return "quickly" if self.period < 0.65 else "slowly" if self.period > 0.85 else ""


def sample_motion_params(motion: str, rng: np.random.Generator) -> MotionParams:
    """Random parameters of ``motion``: speed, amplitude, the pinching finger, the turn angle."""
    if motion not in MOTIONS:
        raise ValueError(f"motion must be one of {sorted(MOTIONS)}, got {motion!r}")
    return MotionParams(motion, period=float(rng.uniform(0.5, 1.0)),
                        finger=str(rng.choice(["index", "middle"])) if motion == "pinch" else "index",
                        amplitude=float(rng.uniform(0.6, 1.0)),
                        turn_deg=float(rng.uniform(60, 120)) if motion == "rotate" else 0.0)


def motion_instruction(p: MotionParams) -> str:
    """The instruction of an episode with parameters ``p``, e.g. "pinch the block between thumb and
    middle finger quickly"."""
    speed = f" {p.speed_word}" if p.speed_word else ""
    return MOTIONS[p.motion].format(finger=p.finger, speed=speed)


def _profile(t: np.ndarray, period: float, phase: float) -> np.ndarray:
    """0 → 1 → 0 raised-cosine closing and opening."""
    return 0.5 - 0.5 * np.cos(2 * np.pi * (t / period + phase))


class HandRecorder:
    """Simulate and render the Shadow hand; holds a GL context (a context manager, or call :meth:`close`)."""

    def __init__(self, image_size: int = 96) -> None:
        self.model = load_model()
        self.model.opt.timestep = 1.0 / (FPS * SUBSTEPS)
        self.data = mujoco.MjData(self.model)
        mount = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_BODY, "robot0:hand mount")
        self._mount, self._mount_home = mount, self.model.body_pos[mount].copy()
        self._mount_quat = self.model.body_quat[mount].copy()
        # mirror plane x = c; mirror_pose reflects through x = 0, so shift by 2c afterwards
        self._mirror_shift = 2.0 * (float(self.model.body_pos[mount][0]) - HAND_SEPARATION / 2)
        self.renderer = SceneRenderer(self.model, image_size, image_size)
        self._kp = []
        for kind, name in keypoint_names():
            obj = mujoco.mjtObj.mjOBJ_BODY if kind == "body" else mujoco.mjtObj.mjOBJ_SITE
            i = mujoco.mj_name2id(self.model, obj, name)
            if i < 0:
                raise ValueError(f"the Shadow hand model has no {kind} {name!r}")
            self._kp.append((kind, i))
        self._act = {mujoco.mj_id2name(self.model, mujoco.mjtObj.mjOBJ_ACTUATOR, i): i for i in range(self.model.nu)}

    def close(self) -> None:
        self.renderer.close()

    def __enter__(self) -> HandRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def keypoints(self) -> np.ndarray:
        """``(21, 4, 4)`` world poses of the current state."""
        out = np.empty((len(self._kp), 4, 4))
        for j, (kind, i) in enumerate(self._kp):
            if kind == "body":
                out[j] = make_pose(self.data.xmat[i].reshape(3, 3), self.data.xpos[i])
            else:
                out[j] = make_pose(self.data.site_xmat[i].reshape(3, 3), self.data.site_xpos[i])
        return out

    def controls(self, params: MotionParams | str, T: int, rng: np.random.Generator) -> np.ndarray:
        """``(T, nu)`` smooth actuator targets for one episode (a family name draws its parameters)."""
        p = sample_motion_params(params, rng) if isinstance(params, str) else params
        lo, hi = self.model.actuator_ctrlrange[:, 0], self.model.actuator_ctrlrange[:, 1]
        t = np.arange(T, dtype=np.float64)
        period = p.period * T
        u = np.zeros((T, self.model.nu))
        rest = lo + 0.1 * (hi - lo)
        u[:] = np.clip(rest, lo, hi)
        pinch_finger = "ff" if p.finger == "index" else "mf"
        for name, i in self._act.items():
            amp = rng.uniform(0.5, 0.95) * p.amplitude
            phase = rng.uniform(-0.05, 0.05)
            finger = name.split(":A_")[1][:2].lower()  # ff, mf, rf, lf, th, wr
            closing = lo[i] + (hi[i] - lo[i]) * (0.1 + amp * 0.8 * _profile(t, period, phase))
            if finger == "wr":
                swing = 0.6 * p.amplitude if p.motion == "wave" else 0.15
                u[:, i] = 0.5 * (lo[i] + hi[i]) + swing * 0.5 * (hi[i] - lo[i]) * np.sin(2 * np.pi * (t / period * rng.uniform(1, 2) + rng.uniform()))
            elif p.motion == "grasp" or (p.motion == "pinch" and finger in (pinch_finger, "th")):
                u[:, i] = closing
            elif p.motion == "point" and finger != "ff":  # every finger but the index curls in
                u[:, i] = closing
        return np.clip(u, lo, hi)

    def turn_path(self, params: MotionParams, T: int) -> np.ndarray:
        """``(T,)`` forearm pronation in radians (the hand turning over about its long axis, y):
        raised-cosine out and back to ``turn_deg`` for ``rotate``, zero otherwise."""
        if params.motion != "rotate":
            return np.zeros(T)
        t = np.arange(T, dtype=np.float64)
        return np.deg2rad(params.turn_deg * params.amplitude) * _profile(t, params.period * T, 0.0)

    def arm_path(self, T: int, rng: np.random.Generator) -> np.ndarray:
        """``(T, 3)`` offsets of the hand mount from its home: the arm carrying the hand along a
        smooth random reach of 4–8 cm (raised-cosine out and back, a little sideways drift), so
        the wrist travels as a person's does; the model's mount is otherwise welded in place."""
        t = np.arange(T, dtype=np.float64) / max(T - 1, 1)
        direction = rng.normal(size=3)
        direction /= np.linalg.norm(direction)
        drift = rng.normal(scale=0.01, size=3)
        reach = rng.uniform(0.04, 0.08) * (0.5 - 0.5 * np.cos(2 * np.pi * t))
        return reach[:, None] * direction + t[:, None] * drift

    def _move_arm(self, offset: np.ndarray, turn: float = 0.0) -> None:
        """Place the hand mount at ``offset`` from home, turned by ``turn`` radians about world y."""
        self.model.body_pos[self._mount] = self._mount_home + offset
        q = np.empty(4)
        mujoco.mju_mulQuat(q, np.array([np.cos(turn / 2), 0.0, np.sin(turn / 2), 0.0]), self._mount_quat)
        self.model.body_quat[self._mount] = q

    def _camera(self, rng: np.random.Generator, setup: CameraSetup = CameraSetup.RANDOM, T: int = 1) -> list[OrbitCamera]:
        """One orbit camera per step looking at the palm: the same pose in every episode (fixed),
        a pose drawn per episode (random), or a pose sweeping 30–60° of azimuth during it (dynamic)."""
        palm = self.data.body("robot0:palm").xpos
        if setup == CameraSetup.FIXED:
            return [OrbitCamera(tuple(palm), 0.42, 135.0, -35.0)] * T
        look = tuple(palm + rng.uniform(-0.02, 0.02, 3))
        dist, az, el = float(rng.uniform(0.35, 0.5)), float(rng.uniform(0, 360)), float(rng.uniform(-50, -15))
        if setup == CameraSetup.RANDOM:
            return [OrbitCamera(look, dist, az, el)] * T
        if setup == CameraSetup.DYNAMIC:
            sweep = float(rng.choice([-1, 1]) * rng.uniform(30, 60))
            return [OrbitCamera(look, dist, az + sweep * k / max(T - 1, 1), el) for k in range(T)]
        raise ValueError(f"hand camera setup must be one of {HAND_CAMERA_SETUPS}, got {setup.value!r}")

    def rollout(self, params: MotionParams | str, T: int, rng: np.random.Generator, *,
                substeps: int = SUBSTEPS) -> tuple[np.ndarray, np.ndarray]:
        """Simulate ``T`` steps; returns controls ``(T, nu)`` and keypoints ``(T, 21, 4, 4)``."""
        p = sample_motion_params(params, rng) if isinstance(params, str) else params
        self._move_arm(np.zeros(3))
        mujoco.mj_resetData(self.model, self.data)
        mujoco.mj_forward(self.model, self.data)
        ctrl = self.controls(p, T, rng)
        arm, turn = self.arm_path(T, rng), self.turn_path(p, T)
        kps = np.empty((T, 21, 4, 4))
        for step in range(T):
            self._move_arm(arm[step], turn[step])
            mujoco.mj_forward(self.model, self.data)
            kps[step] = self.keypoints()
            self.data.ctrl[:] = ctrl[step]
            for _ in range(substeps):
                mujoco.mj_step(self.model, self.data)
        return ctrl, kps

    def record(self, motion: str, index: int, *, T: int = 60, rng: np.random.Generator,
               setup: CameraSetup | str = CameraSetup.RANDOM, params: MotionParams | None = None) -> Episode:
        """One two-hand episode: the right hand simulated and rendered, the left mirrored beside it.

        Both hands follow the same motion parameters (family, speed, amplitude, finger, turn) with
        their own per-finger jitter; the instruction names the parameters."""
        if motion not in MOTIONS:
            raise ValueError(f"motion must be one of {sorted(MOTIONS)}, got {motion!r}")
        setup = CameraSetup(setup)
        if setup.value not in HAND_CAMERA_SETUPS:
            raise ValueError(f"hand camera setup must be one of {HAND_CAMERA_SETUPS}, got {setup.value!r}")
        p = params or sample_motion_params(motion, rng)
        # the left hand first (not rendered), then the right hand with frames
        _, left = self.rollout(p, T, rng)
        left = mirror_pose(left)
        left[..., 0, 3] += self._mirror_shift
        self._move_arm(np.zeros(3))
        mujoco.mj_resetData(self.model, self.data)
        mujoco.mj_forward(self.model, self.data)
        cams = self._camera(rng, setup, T)
        ctrl = self.controls(p, T, rng)
        arm, turn = self.arm_path(T, rng), self.turn_path(p, T)
        right = np.empty((T, 21, 4, 4))
        frames, Ks, Es = [], [], []
        for step in range(T):
            self._move_arm(arm[step], turn[step])
            mujoco.mj_forward(self.model, self.data)
            right[step] = self.keypoints()
            v = self.renderer.render(self.data, cams[step])
            frames.append(v.rgb)
            Ks.append(v.intrinsics)
            Es.append(v.extrinsics)
            self.data.ctrl[:] = ctrl[step]
            for _ in range(SUBSTEPS):
                mujoco.mj_step(self.model, self.data)
        self._move_arm(np.zeros(3), 0.0)
        kp = np.concatenate([left, right], axis=1)  # (T, 42, 4, 4): left hand first, as mano_skeleton
        return Episode(
            index=index,
            actions=ctrl.astype(np.float32),
            fps=FPS,
            cameras={"ego": CameraStream("ego", np.stack(frames), intrinsics=np.stack(Ks), extrinsics=np.stack(Es), setup=setup)},
            hand_keypoints=kp,
            hand_confidence=np.ones((T, 42), np.float32),
            skeleton=mano_skeleton(("left", "right")),
            instruction=motion_instruction(p),
            task=motion,
            camera_setup=setup,
            success=True,
            source="gymnasium-robotics 1.4.2 shadow hand (manipulate_block.xml)",
        )
