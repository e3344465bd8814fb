"""Executing the notebooks: one command reproduces every paper figure.

Notebooks are kept as jupytext percent-format ``.py`` files (reviewable diffs, no outputs in git).
Each opens with a cell tagged ``parameters``; :func:`run_notebook` inserts a cell after it with the
overrides (``smoke=True`` and the output folder), as papermill does, then executes the notebook
top to bottom with nbclient and writes the executed ``.ipynb`` beside the figures.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["NotebookResult", "run_notebook", "paper_notebooks", "reproduce_figures", "NOTEBOOKS_DIR"]

NOTEBOOKS_DIR = Path(__file__).resolve().parents[2] / "notebooks"


@dataclass(frozen=True)
class NotebookResult:
    path: Path
    executed: Path
    seconds: float
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def _inject(nb, params: dict) -> None:
    import nbformat

    src = "# injected parameters\n" + "".join(f"{k} = {v!r}\n" for k, v in params.items())
    cell = nbformat.v4.new_code_cell(src, metadata={"tags": ["injected-parameters"]})
    idx = next((i for i, c in enumerate(nb.cells) if "parameters" in c.get("metadata", {}).get("tags", [])), None)
    nb.cells.insert(0 if idx is None else idx + 1, cell)


def run_notebook(path: str | Path, out_dir: str | Path, params: dict | None = None, *, timeout: int = 1800) -> NotebookResult:
    """Execute the notebook at ``path`` (``.py`` percent or ``.ipynb``) with ``params``; never raises
    for a failing cell — the error is in the result (and the executed notebook shows where)."""
    import jupytext
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    path = Path(path)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    nb = jupytext.read(path)
    _inject(nb, {**(params or {}), "figures_out": str(out_dir)})
    executed = out_dir / f"{path.stem}.ipynb"
    t0 = time.time()
    error = None
    env_before = os.environ.get("ACTIONLENS_FIGURES")
    os.environ["ACTIONLENS_FIGURES"] = str(out_dir)
    try:
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
        client.execute()
    except CellExecutionError as e:
        error = str(e).strip().splitlines()[-1] if str(e).strip() else repr(e)
    except Exception as e:  # the kernel died, a timeout
        error = f"{type(e).__name__}: {e}"
    finally:
        if env_before is None:
            os.environ.pop("ACTIONLENS_FIGURES", None)
        else:
            os.environ["ACTIONLENS_FIGURES"] = env_before
        nbformat.write(nb, executed)
    return NotebookResult(path, executed, time.time() - t0, error)


def paper_notebooks(root: str | Path = NOTEBOOKS_DIR) -> list[Path]:
    return sorted((Path(root) / "paper").glob("*.py"))


def reproduce_figures(out: str | Path = "figures", *, smoke: bool = False, only: list[str] | None = None, progress: bool = True,
                      timeout: int = 4 * 3600) -> list[NotebookResult]:
    """Run every paper notebook (or those whose name contains one of ``only``) into ``out``.
    ``timeout`` bounds one cell in seconds: a full setting's seed sweep is one cell, and on a shared
    2-core machine it can run well past half an hour."""
    from tqdm.auto import tqdm

    nbs = [p for p in paper_notebooks() if not only or any(o in p.stem for o in only)]
    results = []
    for p in tqdm(nbs, desc="figures", disable=not progress):
        results.append(run_notebook(p, out, {"smoke": smoke}, timeout=timeout))
    return results
