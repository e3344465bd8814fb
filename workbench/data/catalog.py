"""Finding datasets under configured roots (what the app lists in its sidebar)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from workbench.data.layouts import UnknownLayoutError, detect_layout
from workbench.types import DataError

__all__ = ["DatasetEntry", "find_datasets", "resolve_within", "resolve_dataset_path", "check_dataset_path", "DEFAULT_ROOT"]

DEFAULT_ROOT = Path(__file__).resolve().parents[2] / "data_samples"


@dataclass(frozen=True)
class DatasetEntry:
    name: str
    path: Path
    layout: str


def find_datasets(roots: list[str | Path], *, max_depth: int = 2, problems: list[DataError] | None = None) -> list[DatasetEntry]:
    """Every dataset at or below each root (down to ``max_depth`` folders), in a stable order.

    A folder that is a dataset is not searched further; unreadable folders are passed over, and
    when ``problems`` is given, each folder that looks like a dataset but cannot be read (an
    ``info.json`` that is not JSON, an unsupported version) adds its :class:`DataError` to it.
    """
    found: list[DatasetEntry] = []
    seen: set[Path] = set()

    def visit(p: Path, depth: int, root: Path) -> None:
        if p.name.startswith(".") or p in seen:
            return
        try:
            layout = detect_layout(p)
        except UnknownLayoutError:
            layout = None
        except DataError as e:
            if problems is not None:
                problems.append(e)
            return
        except OSError:
            layout = None
        if layout is not None:
            seen.add(p)
            name = p.relative_to(root).as_posix() if p != root else p.name
            found.append(DatasetEntry(name or p.name, p, layout.value))
            return
        if depth < max_depth and p.is_dir():
            for child in sorted(p.iterdir()):
                if child.is_dir():
                    visit(child, depth + 1, root)

    for r in roots:
        root = Path(r).expanduser().resolve()
        if root.exists():
            visit(root, 0, root)
    return found


def resolve_within(path: str | Path, roots: list[str | Path]) -> Path:
    """``path`` resolved, refusing anything outside the configured roots (the app's sandbox)."""
    p = Path(path).expanduser().resolve()
    for r in roots:
        root = Path(r).expanduser().resolve()
        if p == root or root in p.parents:
            return p
    raise DataError(p, "is outside the configured dataset roots; add its folder as a root first")


def resolve_dataset_path(path: str | Path) -> Path:
    """``path`` as given when it exists, else relative to the project (so the default
    ``data_samples/metaworld`` of a config works from any working directory)."""
    p = Path(path).expanduser()
    if p.exists():
        return p
    if not p.is_absolute() and (DEFAULT_ROOT.parent / p).exists():
        return DEFAULT_ROOT.parent / p
    raise DataError(p, "does not exist")


def check_dataset_path(path: str | Path) -> Path:
    """``path`` resolved (see :func:`resolve_dataset_path`) when it holds a readable dataset layout;
    :class:`DataError` naming the problem otherwise. Jobs check it before creating a run, so a typo
    fails where it was typed instead of leaving a dead run behind."""
    p = resolve_dataset_path(path)
    detect_layout(p)
    return p
