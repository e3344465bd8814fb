"""``collect_compare``: one results table from several comparison folders (issue 14's stages).

Each stage runs in its own folder (``workbench compare --out runs/compare-stage1`` for the dynamic
camera, ``--camera-setup fixed`` in another, one folder per CLASS variant or number of demos).
Collecting them writes, into ``OUT``::

    OUT/compare.json           {"sources": [...], "cells": [...]}: every folder's cells, each with its
                               ``demos``, ``variant`` and ``source`` (the folder's name)
    OUT/compare.md             the table, one section per camera setup
    OUT/compare_figure.html    the figure, one row of panels per camera setup (spec in .json)
    OUT/compare_demos.html     success vs demos per task, final checkpoint (CLASS Fig. 11), where a
                               camera setup holds several numbers of demos
    OUT/stages/<source>/       per folder, its layout kept: compare_config.json, compare.md,
                               evals/*.json (per-episode outcomes) and the videos its cells show

A cell's key is (method, policy, task, camera, seed, checkpoint, demos, variant): two folders
holding the same key are refused by name, as are folders whose evaluation settings make their cells
incomparable (:data:`COMPARABLE`). Collecting again gives the same files; the source folders are
only read.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.atomic import atomic_path
from workbench.compare.config import CompareConfig
from workbench.compare.runner import NOTES as RUN_NOTES
from workbench.compare.runner import CompareError, describe_cells, write_results
from workbench.compare.table import load_compare

__all__ = ["CELL_KEY", "COMPARABLE", "CollectResult", "collect_compare"]

#: What makes a cell one measurement: two folders holding the same key cannot both be in a table.
CELL_KEY = ("method", "policy", "task", "camera_setup", "seed", "checkpoint", "demos", "variant")
#: Settings every collected folder must share: they change what a success count means (the episode
#: cap, the evaluation seeds, the policies' k / τ / executed steps, the head's training, the images
#: and demonstrations' noise), so cells that differ in them are not comparable. Demos, camera,
#: tasks, methods, training seeds, preset and overrides may differ: the cells say which they hold
#: (``demos``, ``camera_setup``, ``variant``), and ``ckpt_every`` shows in each cell's ``steps_saved``
#: and ``steps_evaluated`` (read from each folder's runs/ where older cells lack ``steps_saved``).
COMPARABLE = ("episodes", "max_steps", "seed_start", "knn_k", "knn_tau", "knn_execute", "mlp_execute", "head_steps",
              "per_task_corpus", "image_size", "data_seed", "action_noise", "demo_max_steps")  # fmt: skip
NOTES = RUN_NOTES + (" Cells are collected from the comparison folders in 'sources'; 'variant' names a folder's "
                     "training settings that differ from the defaults.")  # fmt: skip


@dataclass(frozen=True)
class CollectResult:
    out: Path
    cells: list[dict[str, Any]]
    sources: list[str]  # the folders' names, as the cells' ``source`` says
    copied: int  # files copied by this call (0 when collecting again changes nothing)


def _read_folder(folder: Path) -> tuple[CompareConfig, list[dict[str, Any]]]:
    try:
        doc = load_compare(folder)
    except (FileNotFoundError, ValueError) as e:
        raise CompareError(f"{folder}: {e}") from e
    if "config" not in doc:
        what = "a collected table" if "sources" in doc else "a compare.json without its settings"
        raise CompareError(f"{folder}: {what}, not a comparison folder; collect the folders `workbench compare --out` wrote")
    try:
        cfg = CompareConfig.from_dict(doc["config"])
    except (TypeError, ValueError) as e:
        raise CompareError(f"{folder}: unreadable comparison settings ({e})") from e
    return cfg, describe_cells(doc["cells"], cfg)


def _copy(src: Path, dst: Path) -> bool:
    """Copy ``src`` to ``dst`` atomically unless ``dst`` already holds the same bytes."""
    if dst.exists() and dst.stat().st_size == src.stat().st_size and dst.read_bytes() == src.read_bytes():
        return False
    dst.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(dst, suffix=dst.suffix) as tmp:
        shutil.copyfile(src, tmp)
    return True


def collect_compare(out: str | Path, folders: Sequence[str | Path]) -> CollectResult:
    """Gather the cells of the comparison ``folders`` into one table in ``out`` (see the module
    docstring). Every check runs before anything is written: a refused collection leaves ``out`` as
    it was."""
    out = Path(out)
    folders = [Path(f) for f in folders]
    if not folders:
        raise CompareError("collect needs at least one comparison folder")
    names = [f.resolve().name for f in folders]
    for i, f in enumerate(folders):
        if f.resolve() == out.resolve():
            raise CompareError(f"{f} is both a source and the output; collect into another folder")
        if names[i] in names[:i]:
            raise CompareError(f"{folders[names.index(names[i])]} and {f} have the same name {names[i]!r}, which names "
                               "their cells' source and their stages/ folder; rename one")  # fmt: skip
    read = [_read_folder(f) for f in folders]
    # the evaluation settings every folder must share
    base_f, (base_cfg, _) = folders[0], read[0]
    for f, (cfg, _) in zip(folders[1:], read[1:]):
        for k in COMPARABLE:
            a, b = getattr(base_cfg, k), getattr(cfg, k)
            if a != b:
                raise CompareError(f"{base_f} and {f} are not comparable: {k}={a!r} in one, {b!r} in the other; "
                                   "collect only folders evaluated with the same settings")  # fmt: skip
    # one measurement per key, and the videos each cell shows
    owner: dict[tuple, Path] = {}
    cells: list[dict[str, Any]] = []
    copies: list[tuple[Path, Path]] = []
    for f, name, (cfg, fcells) in zip(folders, names, read):
        stage = Path("stages") / name
        for c in fcells:
            key = tuple(c[k] for k in CELL_KEY)
            if key in owner and owner[key] != f:
                desc = ", ".join(f"{k}={v!r}" for k, v in zip(CELL_KEY, key))
                raise CompareError(f"{owner[key]} and {f} both hold the cell {desc}; leave one out, or name one's variant: "
                                   "run `workbench compare --out DIR --label NAME` with its settings otherwise unchanged "
                                   "(nothing is recomputed)")  # fmt: skip
            owner[key] = f
            videos = []
            for v in c.get("videos", []):
                src = f / v
                if src.exists():
                    copies.append((src, out / stage / v))
                    videos.append((stage / v).as_posix())
            cells.append(c | {"source": name, "videos": videos})
        evals = sorted(p.relative_to(f).as_posix() for p in (f / "evals").glob("*.json"))
        for extra in ("compare_config.json", "compare.md", *evals):
            if (f / extra).exists():
                copies.append((f / extra, out / stage / extra))
    cells.sort(key=lambda c: tuple(c[k] for k in CELL_KEY))
    copied = sum(_copy(src, dst) for src, dst in dict((d, (s, d)) for s, d in copies).values())
    sources = [{"name": n, "path": str(f), "config": cfg.to_dict()} for f, n, (cfg, _) in zip(folders, names, read)]
    sources.sort(key=lambda s: s["name"])
    doc = {"sources": sources, "cells": cells, "notes": NOTES}
    write_results(out, doc)
    return CollectResult(out, cells, sorted(names), copied)

