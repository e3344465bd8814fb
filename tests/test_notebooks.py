"""Every notebook executes top to bottom in smoke mode, and every paper notebook writes its figures.

The notebooks are run exactly as ``workbench figures --smoke`` runs them
(:func:`workbench.figures.run_notebook` with ``smoke=True``), each in a fresh kernel. Runs are
trained once per session into one temporary runs root (``ACTIONLENS_RUNS``), so notebooks that need
the same trained model (CLAMP Fig. 7/8, CLASS Fig. 4/13/14) share it, as they do outside the tests.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from workbench.figures import NOTEBOOKS_DIR, paper_notebooks, run_notebook

PAPER = paper_notebooks()
EXPLORATORY = sorted((NOTEBOOKS_DIR / "exploratory").glob("*.py"))


@pytest.fixture(scope="module")
def runs_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("notebook-runs")
    before = os.environ.get("ACTIONLENS_RUNS")
    os.environ["ACTIONLENS_RUNS"] = str(root)  # the kernels inherit it
    yield root
    if before is None:
        os.environ.pop("ACTIONLENS_RUNS", None)
    else:
        os.environ["ACTIONLENS_RUNS"] = before


def _execute(path: Path, out: Path):
    res = run_notebook(path, out, {"smoke": True}, timeout=600)
    assert res.executed.is_file(), f"{path.name}: no executed notebook written"
    assert res.ok, f"{path.name} failed after {res.seconds:.0f}s: {res.error} (see {res.executed})"
    return res


def test_notebooks_found():
    assert len(PAPER) >= 9 and len(EXPLORATORY) >= 5, (PAPER, EXPLORATORY)


@pytest.mark.slow
@pytest.mark.parametrize("path", PAPER, ids=lambda p: f"paper/{p.stem}")
def test_paper_notebook_smoke(path: Path, runs_root: Path, tmp_path: Path):
    _execute(path, tmp_path)
    specs = sorted(tmp_path.glob("*.json"))
    assert specs, f"{path.name} saved no figure (no .json in {tmp_path})"
    for spec in specs:
        assert spec.with_suffix(".html").is_file(), f"{spec.name} has no .html beside it"
        fig = json.loads(spec.read_text())
        assert fig.get("data"), f"{spec.name}: the figure has no traces"
        assert fig.get("actionlens_meta"), f"{spec.name}: save_figure was given no numbers (meta) for the README"


@pytest.mark.slow
@pytest.mark.parametrize("path", EXPLORATORY, ids=lambda p: f"exploratory/{p.stem}")
def test_exploratory_notebook_smoke(path: Path, runs_root: Path, tmp_path: Path):
    res = _execute(path, tmp_path)
    nb = json.loads(res.executed.read_text())
    shown = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", []) if o.get("output_type") in
             ("display_data", "execute_result")]  # fmt: skip
    assert shown, f"{path.name} displayed nothing"


def _cell_sources(path: Path) -> list[str]:
    return re.split(r"^# %%", path.read_text(), flags=re.M)


@pytest.mark.parametrize("path", PAPER + EXPLORATORY, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_notebook_opens_with_parameters(path: Path):
    """The cell tagged ``parameters`` comes before any code and sets dataset, seed and smoke."""
    cells = _cell_sources(path)
    first_code = next(c for c in cells[1:] if not c.startswith(" [markdown]"))
    assert first_code.startswith(' tags=["parameters"]'), f"{path.name}: the first code cell is not tagged parameters"
    for name in ("dataset", "seed", "smoke", "figures_out"):
        assert re.search(rf"^{name} = ", first_code, flags=re.M), f"{path.name}: parameters cell does not set {name}"


def test_paper_readme_indexes_every_notebook():
    readme = (NOTEBOOKS_DIR / "paper" / "README.md").read_text()
    missing = [p.name for p in PAPER if p.name not in readme]
    assert not missing, f"notebooks/paper/README.md does not list {missing}"


# -- workbench.figures: the glue the paper notebooks share -------------------------------------


def test_notebook_config_smoke_and_full():
    from workbench.figures import PROJECT_ROOT, notebook_config

    smoke = notebook_config("class", smoke=True, seed=3, method_config={"hard": True})
    full = notebook_config("class", smoke=False, steps=123, method_config={"hard": True}, overrides=["batch_size=32"])
    assert smoke.steps == 3 and smoke.data.stride == 4 and smoke.seed == 3 and smoke.method_config["hard"] is True
    assert full.steps == 123 and full.batch_size == 32 and full.preset == "sample" and full.method_config["hard"] is True
    # the data path is absolute, so a run finds its data from any working directory
    assert Path(full.data.path) == PROJECT_ROOT / "data_samples" / "metaworld"


def test_train_cached_reuses_a_finished_run_of_the_same_config(tmp_path: Path):
    from workbench.figures import notebook_config, smoke_dataset, train_cached
    from workbench.data import load_dataset

    data = smoke_dataset(tasks=("reach",), per_task=3, root=tmp_path / "data")
    assert [i.task for i in load_dataset(data).infos] == ["reach"] * 3
    cfg = notebook_config("random_encoder", smoke=True, dataset=data)
    first = train_cached(cfg, runs_root=tmp_path / "runs")
    again = train_cached(cfg, runs_root=tmp_path / "runs")
    other = train_cached(notebook_config("random_encoder", smoke=True, dataset=data, seed=1), runs_root=tmp_path / "runs")
    assert not first.reused and again.reused and again.run_dir == first.run_dir
    assert not other.reused and other.run_dir != first.run_dir
    assert first.load().step == cfg.steps


def test_train_arms_trains_every_arm_at_every_seed_on_one_split(tmp_path: Path):
    from workbench.figures import notebook_config, smoke_dataset, train_arms, train_cached

    data = smoke_dataset(tasks=("reach",), per_task=3, root=tmp_path / "data")
    arms = {"narrow": {"embed_dim": 16}, "wide": {"embed_dim": 24}}
    runs = train_arms("random_encoder", arms, [0, 1], names={"narrow": "n", "wide": "w"}, smoke=True, split_seed=5, dataset=data,
                      runs_root=tmp_path / "runs")  # fmt: skip
    assert list(runs) == ["narrow", "wide"] and [len(r) for r in runs.values()] == [2, 2]
    for arm, arm_runs in runs.items():
        for seed, run in zip([0, 1], arm_runs):
            assert run.run_dir.name.startswith("n-" if arm == "narrow" else "w-")
            assert run.config.seed == seed and run.config.data.split_seed == 5
            assert run.config.method_config["embed_dim"] == arms[arm]["embed_dim"]
            same = notebook_config("random_encoder", smoke=True, seed=seed, dataset=data, method_config=arms[arm],
                                   overrides=["data.split_seed=5"])  # fmt: skip
            assert train_cached(same, runs_root=tmp_path / "runs", name=run.run_dir.name[:1]).reused  # the notebook's config, cached
    assert len({r.run_dir for rs in runs.values() for r in rs}) == 4
