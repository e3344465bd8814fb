"""Episode flags a person sets while browsing, kept in a file of ours beside the dataset.

The file is ``.<dataset name>.workbench-flags.json`` next to the dataset folder (or file), so a
dataset is never written into; writes are atomic, so a crash never loses what was saved before.
"""

from __future__ import annotations

import json
from pathlib import Path

from workbench.atomic import atomic_write_text
from workbench.types import DataError

__all__ = ["FLAGS", "flags_path", "load_flags", "save_flags", "set_episode_flags"]

#: The flags the app offers (any string is accepted).
FLAGS = ("good", "bad", "interesting", "failure", "review")


def flags_path(dataset_path: str | Path) -> Path:
    p = Path(dataset_path).resolve()
    return p.parent / f".{p.name}.workbench-flags.json"


def load_flags(dataset_path: str | Path) -> dict[int, dict]:
    """``{episode_index: {"flags": [...], "note": str}}``; empty when nothing was saved yet."""
    f = flags_path(dataset_path)
    if not f.is_file():
        return {}
    try:
        raw = json.loads(f.read_text())
        return {int(k): {"flags": list(v.get("flags", [])), "note": str(v.get("note", ""))} for k, v in raw.items()}
    except (json.JSONDecodeError, AttributeError, ValueError) as e:
        raise DataError(f, f"flags file is malformed ({e}); fix or delete it") from e


def save_flags(dataset_path: str | Path, flags: dict[int, dict]) -> Path:
    f = flags_path(dataset_path)
    keep = {str(k): v for k, v in sorted(flags.items()) if v.get("flags") or v.get("note")}
    atomic_write_text(f, json.dumps(keep, indent=1))
    return f


def set_episode_flags(dataset_path: str | Path, episode: int, flags: list[str], note: str = "") -> dict[int, dict]:
    """Set one episode's flags and note (read-modify-write) and return all flags."""
    all_flags = load_flags(dataset_path)
    all_flags[int(episode)] = {"flags": sorted(set(flags)), "note": note}
    save_flags(dataset_path, all_flags)
    return load_flags(dataset_path)
