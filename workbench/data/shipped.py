"""The shipped sample datasets in ``data_samples/`` and the command that makes them.

``workbench data make-samples`` renders, deterministically from a seed and on the CPU:

* ``metaworld/`` (LeRobot v3.0): metaworld's scripted experts with action noise on six tasks, a
  scene camera (fixed, random or dynamic per episode, CLASS Fig. 3) and the wrist camera, RGB,
  depth, segmentation, per-step intrinsics and extrinsics, end-effector pose and gripper;
* ``hands/`` (EgoDex-style HDF5 + mp4): the Shadow hand from gymnasium-robotics making grasp-like
  motions, 42 keypoints in MANO order;
* ``robomimic/`` (robomimic-style HDF5): a few metaworld episodes converted, read back through the
  LeRobot reader, so every reader has a real file.

Each dataset gets a ``workbench_stats.json`` (train/val split and per-dimension chunk statistics on
the training split). Datasets are built in a temporary folder and swapped in only when complete.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path

from workbench.atomic import atomic_write_text
from workbench.data.hand_pose import write_hand_pose
from workbench.data.layouts import load_dataset
from workbench.data.lerobot import write_lerobot
from workbench.data.normalize import CHUNK_HORIZON, split_episodes, stats_file, write_dataset_stats
from workbench.data.robomimic import write_robomimic

__all__ = ["make_hand_dataset", "make_samples", "stats_file", "write_dataset_stats", "SAMPLE_TASKS", "CHUNK_HORIZON"]

SAMPLE_TASKS = ("reach", "push", "pick-place", "drawer-open", "button-press", "door-open")
_ROBOMIMIC_EPISODES = 2  # keeps data_samples/ inside its 40 MB budget


def _swap_in(tmp: Path, final: Path, force: bool) -> None:
    if final.exists():
        if not force:
            raise FileExistsError(f"{final} exists; pass --force to replace it")
        old = final.with_name(f".{final.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        final.rename(old)
        tmp.rename(final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.rename(final)


SAMPLE_NAMES = ("metaworld", "robomimic", "hands")


def _make_metaworld(root: Path, tasks: tuple[str, ...], per_task: int, image: int, seed: int, quick: bool) -> None:
    from workbench.data.generate import generate_metaworld_episodes

    write_lerobot(
        generate_metaworld_episodes(tasks, per_task, seed=seed, image_size=image, progress=not quick,
                                    **({"max_steps": 30} if quick else {})),  # fmt: skip
        root,
        robot_type="sawyer",
        crf=28,
        extra_meta={"generator": {"seed": seed, "tasks": list(tasks), "episodes_per_task": per_task}},
    )
    write_dataset_stats(root, ("raw", "ee"), seed)


def _make_robomimic(metaworld: Path, root: Path, seed: int) -> None:
    """A few metaworld episodes converted through our own LeRobot reader, with the scene camera only
    (robomimic's single "agentview"; the other cameras would push ``data_samples/`` over its budget)."""
    import dataclasses

    src = load_dataset(metaworld)
    pick = [info.index for info in src.infos][:: max(1, len(src) // _ROBOMIMIC_EPISODES)][:_ROBOMIMIC_EPISODES]
    infos = [i for i in src.infos if i.index in pick]
    episodes = (dataclasses.replace(ep, cameras={"scene": ep.cameras["scene"]}) for ep in map(src.episode, pick))
    write_robomimic(episodes, root / "metaworld.hdf5", env_name="metaworld-v3",
                    splits=split_episodes(infos, 0.25, seed))  # fmt: skip
    write_dataset_stats(root / "metaworld.hdf5", ("raw", "ee"), seed)


def _make_hands(root: Path, image: int, seed: int, quick: bool) -> None:
    from workbench.data.generate import generate_hand_episodes
    from workbench.sim.shadow_hand import HAND_CAMERA_SETUPS

    write_hand_pose(
        generate_hand_episodes(2 if quick else 8, seed=seed, image_size=image, progress=not quick,
                               camera_setups=HAND_CAMERA_SETUPS, **({"steps": 24} if quick else {})),  # fmt: skip
        root,
        crf=28,
    )
    write_dataset_stats(root, ("hand",), seed)


def make_hand_dataset(out: str | Path, n_episodes: int = 200, *, steps: int = 150, seed: int = 0, image_size: int = 96,
                      camera_setups: tuple[str, ...] | None = None, force: bool = False, progress: bool = True) -> Path:
    """A Shadow-hand dataset big enough to pre-train CAIP at small scale (CAIP §2.4: hands first).

    ``n_episodes`` episodes of ``steps`` frames at 30 Hz (150 = 5 s, so T = 64 chunks of 2.1 s fit
    with room), cycling through every motion family and camera setup, written in the EgoDex layout
    with hand-chunk statistics beside it. Built in a temporary folder and renamed into place.
    """
    from workbench.data.generate import generate_hand_episodes
    from workbench.sim.shadow_hand import HAND_CAMERA_SETUPS

    if n_episodes < 2:
        raise ValueError(f"a hand dataset needs at least 2 episodes (train and held-out), got {n_episodes}")
    out = Path(out)
    if out.exists() and not force:
        raise FileExistsError(f"{out} exists; pass force=True (--force) to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".hands.", dir=out.parent))
    try:
        write_hand_pose(generate_hand_episodes(n_episodes, seed=seed, image_size=image_size, steps=steps, progress=progress,
                                               camera_setups=camera_setups or HAND_CAMERA_SETUPS), work / "hands", crf=28)
        write_dataset_stats(work / "hands", ("hand", "relative"), seed)
        _swap_in(work / "hands", out, force)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


def make_samples(out: str | Path = "data_samples", *, seed: int = 0, quick: bool = False, force: bool = False,
                 only: tuple[str, ...] | None = None) -> Path:
    """Generate the sample datasets under ``out`` (all three, or ``only`` some); ``quick`` makes a
    tiny set for tests. ``robomimic`` is converted from ``metaworld``: the new one when both are
    made, the one already in ``out`` otherwise."""
    only = tuple(only) if only else SAMPLE_NAMES
    unknown = set(only) - set(SAMPLE_NAMES)
    if unknown:
        raise ValueError(f"only must name some of {SAMPLE_NAMES}, got {sorted(unknown)}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tasks = SAMPLE_TASKS[:2] if quick else SAMPLE_TASKS
    per_task = 2 if quick else 8
    image = 64 if quick else 96
    work = Path(tempfile.mkdtemp(prefix=".samples.", dir=out))
    t0 = time.time()
    try:
        mw = work / "metaworld" if "metaworld" in only else out / "metaworld"
        if "metaworld" in only:
            _make_metaworld(mw, tasks, per_task, image, seed, quick)
        if "robomimic" in only:
            _make_robomimic(mw, work / "robomimic", seed)
        if "hands" in only:
            _make_hands(work / "hands", image, seed, quick)
        for name in only:
            _swap_in(work / name, out / name, force)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    present = [n for n in SAMPLE_NAMES if (out / n).exists()]
    manifest = {"seed": seed, "quick": quick, "seconds": round(time.time() - t0, 1),
                "datasets": {n: {**load_dataset(out / n).info().to_dict(), "path": n} for n in present}}  # fmt: skip
    atomic_write_text(out / "manifest.json", json.dumps(manifest, indent=2))
    return out
