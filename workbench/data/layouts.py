"""One entry point for every dataset layout: :func:`load_dataset` detects which reader applies
(:func:`detect_layout`); :func:`validate_dataset` opens one leniently and lists every problem."""

from __future__ import annotations

from pathlib import Path

from workbench.data.dataset import Dataset
from workbench.data.hand_pose import HandPoseDataset, is_hand_pose
from workbench.data.lerobot import LeRobotDataset, is_lerobot
from workbench.data.robomimic import RobomimicDataset, is_robomimic
from workbench.data.validate import check_episode
from workbench.types import DataError, Layout

__all__ = ["detect_layout", "load_dataset", "validate_dataset", "UnknownLayoutError"]


class UnknownLayoutError(DataError):
    """A folder or file that is no dataset at all (as opposed to a dataset that is damaged)."""


def detect_layout(path: str | Path) -> Layout:
    """Which layout ``path`` is in; :class:`DataError` naming the path when none fits."""
    path = Path(path)
    if not path.exists():
        raise DataError(path, "does not exist")
    if path.is_dir():
        version = is_lerobot(path)
        if version == "v3.0":
            return Layout.LEROBOT_V3
        if version in ("v2.1", "v2.0"):
            return Layout.LEROBOT_V2
        if version:
            raise DataError(path / "meta/info.json", f"unsupported LeRobot codebase_version {version!r}")
        h5 = sorted(path.glob("*.hdf5")) + sorted(path.glob("*.h5"))
        if len(h5) == 1 and is_robomimic(h5[0]):
            return Layout.ROBOMIMIC
    elif is_robomimic(path):
        return Layout.ROBOMIMIC
    try:
        if is_hand_pose(path):
            return Layout.HAND_POSE
    except OSError:
        pass
    raise UnknownLayoutError(
        path,
        "unknown dataset layout: expected a LeRobot v3.0/v2.1 folder (meta/info.json), a robomimic-style "
        "HDF5 (data/demo_N) or EgoDex-style hand-pose HDF5 files (transforms/<joint>)",
    )


def load_dataset(path: str | Path, *, strict: bool = True) -> Dataset:
    """Open the dataset at ``path``, whatever its layout.

    Listing reads metadata only; episodes are built on ``dataset[i]`` and their frames decoded on
    first access. With ``strict=False`` bad episodes are reported in ``dataset.problems`` and the
    good ones are still served. Nothing is ever written into ``path``.
    """
    path = Path(path)
    layout = detect_layout(path)
    ds: Dataset
    if layout in (Layout.LEROBOT_V3, Layout.LEROBOT_V2):
        ds = LeRobotDataset(path, strict=strict)
    elif layout == Layout.ROBOMIMIC:
        if path.is_dir():
            path = (sorted(path.glob("*.hdf5")) + sorted(path.glob("*.h5")))[0]
        ds = RobomimicDataset(path, strict=strict)
    else:
        ds = HandPoseDataset(path, strict=strict)
    if not strict:
        ds.screen()
    return ds


def validate_dataset(path: str | Path, *, progress: bool = False) -> list[str]:
    """Load ``path`` leniently, decode every episode and return every problem as a line of text."""
    from tqdm.auto import tqdm

    try:
        ds = load_dataset(path, strict=False)
    except DataError as e:
        return [str(e)]
    lines = [str(p) for p in ds.problems]
    for i in tqdm(range(len(ds)), desc="validate", disable=not progress):
        info = ds.infos[i]
        try:
            ep = ds[i]
            lines += [f"{ds.path} (episode {info.index}): {p}" for p in check_episode(ep, decode_frames=True)]
        except DataError as e:
            lines.append(str(e))
    return lines
