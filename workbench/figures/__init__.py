"""Figure infrastructure in one place: the runs the notebooks train, and executing the notebooks.

* :mod:`.runs` — runs cached by their config (:func:`train_cached`), the one training recipe the
  notebooks share (:func:`train_recipe`), smoke datasets and settings;
* :mod:`.notebooks` — executing the jupytext notebooks (``workbench figures``,
  :func:`reproduce_figures`).

Figures themselves are built in :mod:`workbench.viz` and written by
:func:`workbench.viz.save.save_figure`.
"""

from __future__ import annotations

from workbench.figures.notebooks import NOTEBOOKS_DIR, NotebookResult, paper_notebooks, reproduce_figures, run_notebook
from workbench.figures.runs import (
    PROJECT_ROOT,
    SAMPLE_RESNET,
    SMOKE_OVERRIDES,
    CachedRun,
    generated_dataset,
    notebook_config,
    notebook_dataset,
    notebook_runs_root,
    recipe_config,
    resolve_dataset,
    smoke_dataset,
    train_arms,
    train_cached,
    train_clap_vdvae,
    train_recipe,
)

__all__ = [
    "NOTEBOOKS_DIR",
    "PROJECT_ROOT",
    "SAMPLE_RESNET",
    "SMOKE_OVERRIDES",
    "CachedRun",
    "NotebookResult",
    "generated_dataset",
    "notebook_config",
    "notebook_dataset",
    "notebook_runs_root",
    "paper_notebooks",
    "recipe_config",
    "reproduce_figures",
    "resolve_dataset",
    "run_notebook",
    "smoke_dataset",
    "train_arms",
    "train_cached",
    "train_clap_vdvae",
    "train_recipe",
]
