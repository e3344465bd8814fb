"""The Compare page under streamlit.testing: missing, malformed and real results."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parents[1] / "app" / "app_pages" / "compare.py"


@pytest.fixture(autouse=True)
def _restore_main_module():
    main = sys.modules["__main__"]
    yield
    sys.modules["__main__"] = main


def _run(folder: Path):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(PAGE), default_timeout=60)
    at.session_state["compare_folder"] = str(folder)
    return at.run()


def _cell(method, policy, ckpt, s, seed=0):
    return {"method": method, "policy": policy, "task": "reach", "camera_setup": "dynamic", "seed": seed,
            "checkpoint": ckpt, "episodes": 10, "successes": s, "step": 12, "videos": ["videos/missing.mp4"]}


def test_page_without_results_says_how_to_make_them(tmp_path):
    at = _run(tmp_path / "nothing")
    assert not at.exception
    assert "workbench compare --smoke" in at.info[0].value


def test_page_with_a_malformed_file_is_an_error_not_a_crash(tmp_path):
    (tmp_path / "compare.json").write_text(json.dumps({"cells": [{"method": "bc"}]}))
    at = _run(tmp_path)
    assert not at.exception and "lacks 'policy'" in at.error[0].value


def test_page_shows_table_figure_and_cell_picker(tmp_path):
    cells = [_cell("class", "knn", "final", 6), _cell("class", "knn", "max", 8), _cell("bc", "mlp", "final", 2, seed=1)]
    (tmp_path / "compare.json").write_text(json.dumps({"cells": cells, "notes": "optimistic max"}))
    at = _run(tmp_path)
    assert not at.exception
    df = at.dataframe[0].value
    assert len(df) == 3 and "6/10" in " ".join(df["reach"])
    assert at.selectbox(key="compare_cell") is not None
    assert any("not here" in c.value for c in at.caption)
