"""Generators of simulated episodes: metaworld's scripted experts and the Shadow hand.

Both are deterministic from ``seed``; frames are rendered with MuJoCo on the CPU (EGL) and kept in
memory as :class:`~workbench.types.ArrayFrames`. :mod:`workbench.data.shipped` writes them to disk.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from workbench.types import CameraSetup, Episode

__all__ = ["generate_metaworld_episodes", "generate_hand_episodes"]


def generate_metaworld_episodes(
    tasks: Sequence[str] = ("reach", "push", "pick-place", "drawer-open", "button-press", "door-open"),
    episodes_per_task: int = 8,
    *,
    seed: int = 0,
    image_size: int = 96,
    action_noise: float = 0.1,
    max_steps: int = 100,
    camera_setups: Sequence[str] = ("fixed", "random", "dynamic"),
    progress: bool = True,
) -> Iterator[Episode]:
    """Scripted-expert episodes with action noise (the reference protocol's demonstrations).

    Episode ``j`` of a task starts from placement seed ``10000·seed + j`` (training seeds: the
    reference's evaluation seeds 1000–1099 and 2000–2099 stay unseen for every ``seed`` as long as
    ``episodes_per_task`` ≤ 1000) and uses scene-camera setup ``camera_setups[j % len]``.
    Recording stops 8 steps after the first success or at ``max_steps`` (metaworld runs at 80 Hz:
    the experts finish in 40–90 steps).
    """
    from tqdm.auto import tqdm

    from workbench.sim.metaworld import MetaworldRecorder, expert_policy

    if not 1 <= episodes_per_task <= 1000:
        raise ValueError(f"episodes_per_task must be in 1..1000 (placements stay off the evaluation seeds), got {episodes_per_task}")
    if not tasks:
        raise ValueError("tasks is empty")
    for s in camera_setups:
        if CameraSetup(s) not in (CameraSetup.FIXED, CameraSetup.RANDOM, CameraSetup.DYNAMIC):
            raise ValueError(f"camera_setups must be fixed, random or dynamic, got {s!r}")
    bar = tqdm(total=len(tasks) * episodes_per_task, desc="metaworld", disable=not progress)
    index = 0
    for k, task in enumerate(tasks):
        with MetaworldRecorder(task, image_size) as rec:
            policy = expert_policy(task)
            for j in range(episodes_per_task):
                placement = 10_000 * seed + j
                rng = np.random.default_rng([seed, k, j])
                yield rec.record(policy, placement, index=index, setup=camera_setups[j % len(camera_setups)],
                                 action_noise=action_noise, max_steps=max_steps, rng=rng)  # fmt: skip
                index += 1
                bar.update(1)
    bar.close()


def generate_hand_episodes(
    n_episodes: int = 8, *, seed: int = 0, image_size: int = 96, steps: int = 60, progress: bool = True
) -> Iterator[Episode]:
    """Shadow-hand episodes cycling through the motion families (grasp, pinch, wave), 30 fps."""
    from tqdm.auto import tqdm

    from workbench.sim.shadow_hand import MOTIONS, HandRecorder

    motions = sorted(MOTIONS)
    with HandRecorder(image_size) as rec:
        for i in tqdm(range(n_episodes), desc="hands", disable=not progress):
            yield rec.record(motions[i % len(motions)], i, T=steps, rng=np.random.default_rng([seed, i]))
