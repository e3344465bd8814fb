"""Generators of simulated episodes: metaworld's scripted experts and the Shadow hand.

Both are deterministic from ``seed``; frames are rendered with MuJoCo on the CPU (EGL) and kept in
memory as :class:`~workbench.types.ArrayFrames`. :mod:`workbench.data.shipped` writes them to disk.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from workbench.types import Episode

__all__ = ["GenerationReport", "SCENE_SETUPS", "check_generation", "generate_hand_episodes", "generate_metaworld_episodes",
           "make_metaworld_dataset"]


#: Scene-camera setups the metaworld generator renders (CLASS Fig. 3).
SCENE_SETUPS = ("fixed", "random", "dynamic")


def check_generation(tasks: Sequence[str], episodes_per_task: int, camera_setups: Sequence[str]) -> None:
    """Refuse, by name, a task or camera setup the generator does not know, before any work."""
    from workbench.sim.metaworld import TASKS

    if not tasks:
        raise ValueError("tasks is empty")
    unknown = [t for t in tasks if t not in TASKS]
    if unknown:
        raise ValueError(f"unknown metaworld task {unknown[0]!r}; the generator knows {', '.join(sorted(TASKS))}")
    if not 1 <= episodes_per_task <= 1000:
        raise ValueError(f"episodes_per_task must be in 1..1000 (placements stay off the evaluation seeds), got {episodes_per_task}")
    if not camera_setups:
        raise ValueError("camera_setups is empty")
    bad = [s for s in camera_setups if str(getattr(s, "value", s)) not in SCENE_SETUPS]
    if bad:
        raise ValueError(f"unknown camera setup {bad[0]!r}; the generator knows {', '.join(SCENE_SETUPS)}")


def _plan(tasks: Sequence[str], episodes_per_task: int) -> list[tuple[int, str, int]]:
    return [(k, task, j) for k, task in enumerate(tasks) for j in range(episodes_per_task)]


class _EpisodeMaker:
    """Records episode ``j`` of task number ``k``; keeps one recorder per task (one per process)."""

    def __init__(self, seed: int, image_size: int, action_noise: float, max_steps: int, camera_setups: Sequence[str],
                 second_scene_size: int | None = None) -> None:  # fmt: skip
        self.seed, self.image_size, self.action_noise, self.max_steps = seed, image_size, action_noise, max_steps
        self.camera_setups = tuple(camera_setups)
        self.second_scene_size = second_scene_size
        self._recorders: dict = {}

    def __call__(self, item: tuple[int, str, int]) -> Episode:
        from workbench.sim.metaworld import MetaworldRecorder, expert_policy

        k, task, j = item
        if task not in self._recorders:
            for rec, _ in self._recorders.values():  # tasks come in order: one GL context at a time
                rec.close()
            rec = MetaworldRecorder(task, self.image_size, second_scene_size=self.second_scene_size)
            self._recorders = {task: (rec, expert_policy(task))}
        rec, policy = self._recorders[task]
        placement = 10_000 * self.seed + j
        rng = np.random.default_rng([self.seed, k, j])
        return rec.record(policy, placement, setup=self.camera_setups[j % len(self.camera_setups)],
                          action_noise=self.action_noise, max_steps=self.max_steps, rng=rng)  # fmt: skip

    def close(self) -> None:
        for rec, _ in self._recorders.values():
            rec.close()
        self._recorders = {}


_WORKER_MAKER: _EpisodeMaker | None = None


def _worker_init(args: tuple) -> None:
    global _WORKER_MAKER
    _WORKER_MAKER = _EpisodeMaker(*args)


def _worker_record(item: tuple[int, str, int]) -> Episode:
    assert _WORKER_MAKER is not None
    return _WORKER_MAKER(item)


def generate_metaworld_episodes(
    tasks: Sequence[str] = ("reach", "push", "pick-place", "drawer-open", "button-press", "door-open"),
    episodes_per_task: int = 8,
    *,
    seed: int = 0,
    image_size: int = 96,
    action_noise: float = 0.1,
    max_steps: int = 100,
    camera_setups: Sequence[str] = SCENE_SETUPS,
    second_scene_size: int | None = 48,
    workers: int = 0,
    progress: bool = True,
) -> Iterator[Episode]:
    """Scripted-expert episodes with action noise (the reference protocol's demonstrations).

    Episode ``j`` of a task starts from placement seed ``10000·seed + j`` (training seeds: the
    reference's evaluation seeds 1000–1099 and 2000–2099 stay unseen for every ``seed`` as long as
    ``episodes_per_task`` ≤ 1000) and uses scene-camera setup ``camera_setups[j % len]``.
    Recording stops 8 steps after the first success or at ``max_steps`` (metaworld runs at 80 Hz:
    the experts finish in 40–90 steps). ``second_scene_size``: the side of the second, fixed scene
    camera (RGB + depth, for CLAMP's merged point cloud, §III-B); 48 px keeps the samples within
    their budget; None records none. Every episode records the object and goal positions.

    ``workers`` > 1 records episodes in that many processes (each with its own environment and GL
    context); the episodes come back in the same order and are identical to the serial ones, since
    each depends only on ``(seed, task number, j)``.
    """
    from tqdm.auto import tqdm

    check_generation(tasks, episodes_per_task, camera_setups)
    plan = _plan(tasks, episodes_per_task)
    args = (seed, image_size, action_noise, max_steps, tuple(str(getattr(s, "value", s)) for s in camera_setups),
            second_scene_size)  # fmt: skip
    bar = tqdm(total=len(plan), desc="metaworld", unit="ep", disable=not progress)
    if workers > 1:
        import multiprocessing as mp

        # spawn: a forked child would inherit the parent's GL/OpenMP state
        with mp.get_context("spawn").Pool(workers, initializer=_worker_init, initargs=(args,)) as pool:
            for index, ep in enumerate(pool.imap(_worker_record, plan)):
                ep.index = index
                bar.update(1)
                yield ep
    else:
        maker = _EpisodeMaker(*args)
        try:
            for index, item in enumerate(plan):
                ep = maker(item)
                ep.index = index
                bar.update(1)
                yield ep
        finally:
            maker.close()
    bar.close()


@dataclass(frozen=True)
class GenerationReport:
    """What :func:`make_metaworld_dataset` wrote and how fast (frames counted per scene camera)."""

    path: str
    tasks: tuple[str, ...]
    episodes: int
    frames: int
    seconds: float
    workers: int
    camera_setups: tuple[str, ...]

    @property
    def frames_per_second(self) -> float:
        return self.frames / max(self.seconds, 1e-9)


def make_metaworld_dataset(
    out: str | Path,
    tasks: Sequence[str],
    episodes_per_task: int,
    *,
    camera_setups: Sequence[str] = ("dynamic",),
    seed: int = 0,
    image_size: int = 96,
    action_noise: float = 0.1,
    max_steps: int = 100,
    workers: int = 1,
    progress: bool = True,
    lossless: bool = False,
) -> GenerationReport:
    """Generate expert demonstrations of ``tasks`` into a LeRobot v3.0 dataset at ``out``, with the
    split and chunk statistics the training loop reads; returns frames/s of the whole job.
    ``lossless`` stores RGB bit-exactly, so a policy trained on the frames sees in closed loop the
    same pixels the renderer gives (otherwise H.264 at crf 28)."""
    import time

    from workbench.data.lerobot import write_lerobot
    from workbench.data.normalize import write_dataset_stats

    check_generation(tasks, episodes_per_task, camera_setups)
    setups = tuple(str(getattr(s, "value", s)) for s in camera_setups)
    t0 = time.perf_counter()
    frames = 0

    def counted() -> Iterator[Episode]:
        nonlocal frames
        for ep in generate_metaworld_episodes(tasks, episodes_per_task, seed=seed, image_size=image_size,
                                              action_noise=action_noise, max_steps=max_steps, camera_setups=setups,
                                              workers=workers, progress=progress):  # fmt: skip
            frames += len(ep)
            yield ep

    meta = {"generator": {"seed": seed, "tasks": list(tasks), "episodes_per_task": episodes_per_task,
                          "camera_setups": list(setups), "image_size": image_size, "action_noise": action_noise}}  # fmt: skip
    path = write_lerobot(counted(), out, robot_type="sawyer", crf=28, lossless=lossless, extra_meta=meta)
    write_dataset_stats(path, ("raw", "ee"), seed)
    return GenerationReport(str(path), tuple(tasks), len(tasks) * episodes_per_task, frames,
                            time.perf_counter() - t0, max(1, workers), setups)  # fmt: skip


def generate_hand_episodes(
    n_episodes: int = 8, *, seed: int = 0, image_size: int = 96, steps: int = 60, progress: bool = True,
    motions: Sequence[str] | None = None, camera_setups: Sequence[str] = ("random",),
) -> Iterator[Episode]:
    """Shadow-hand episodes cycling through the motion families and camera setups, 30 fps.

    Episode ``i`` has motion ``motions[i % M]`` and camera setup ``camera_setups[(i // M) % C]``
    (so every family meets every setup), with parameters drawn from ``seed`` and ``i``.
    """
    from tqdm.auto import tqdm

    from workbench.sim.shadow_hand import HAND_CAMERA_SETUPS, MOTIONS, HandRecorder

    motions = sorted(MOTIONS) if motions is None else list(motions)
    for m in motions:
        if m not in MOTIONS:
            raise ValueError(f"unknown hand motion {m!r}; known: {', '.join(sorted(MOTIONS))}")
    for c in camera_setups:
        if c not in HAND_CAMERA_SETUPS:
            raise ValueError(f"unknown hand camera setup {c!r}; known: {', '.join(HAND_CAMERA_SETUPS)}")
    with HandRecorder(image_size) as rec:
        for i in tqdm(range(n_episodes), desc="hands", disable=not progress):
            setup = camera_setups[(i // len(motions)) % len(camera_setups)]
            yield rec.record(motions[i % len(motions)], i, T=steps, rng=np.random.default_rng([seed, i]), setup=setup)
