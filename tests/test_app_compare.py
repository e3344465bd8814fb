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
    done = {"steps_saved": [6, 12], "steps_evaluated": [6, 12]}
    cells = [_cell("class", "knn", "final", 6) | done, _cell("class", "knn", "max", 8) | done, _cell("bc", "mlp", "final", 2, seed=1),
             # CAIP's checkpoint 6 not evaluated yet: its "max" (written by an older runner) is not one
             *(_cell("caip", "knn", k, 3) | {"steps_saved": [6, 12], "steps_evaluated": [12]} for k in ("final", "max"))]  # fmt: skip
    (tmp_path / "compare.json").write_text(json.dumps({"cells": cells, "notes": "optimistic max"}))
    at = _run(tmp_path)
    assert not at.exception
    df = at.dataframe[0].value
    assert len(df) == 4 and "6/10" in " ".join(df["reach"])
    assert sorted(zip(df["method"], df["checkpoint"])) == [("bc", "final"), ("caip", "final"), ("class", "final"), ("class", "max")]
    assert any("caip · knn (dynamic): s0 1 of 2 checkpoints evaluated" in c.value for c in at.caption)
    assert at.selectbox(key="compare_cell") is not None
    assert any("not here" in c.value for c in at.caption)


def test_page_with_two_camera_setups_selects_and_plays_a_cell(tmp_path):
    """A collected table (two comparison folders, dynamic and fixed camera): a camera selector
    filters the table and the figure's panels, and any cell's video plays from the collected folder."""
    from test_compare_collect import COUNTS, _cfg, _folder

    from workbench.compare import collect_compare

    out = tmp_path / "results"
    collect_compare(out, [_folder(tmp_path / "dyn", _cfg(), COUNTS), _folder(tmp_path / "fix", _cfg(camera_setup="fixed"), COUNTS)])
    at = _run(out)
    assert not at.exception
    cams = at.multiselect(key="compare_cameras")
    assert cams.options == ["dynamic", "fixed"] and cams.value == ["dynamic", "fixed"]
    with pytest.raises(KeyError):  # one number of demos, one variant: no selector for them
        at.multiselect(key="compare_demos")
    df = at.dataframe[0].value
    assert sorted(set(df["camera_setup"])) == ["dynamic", "fixed"] and len(df) == 8
    fig = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert {a["text"].split(" · ")[0] for a in fig["layout"]["annotations"]} == {"dynamic camera", "fixed camera"}
    labels = at.selectbox(key="compare_cell").options
    assert any("· fixed ·" in x for x in labels) and any("· dynamic ·" in x for x in labels)
    assert at.get("video") and not any("not here" in c.value for c in at.caption)  # the copied video plays

    at = cams.set_value(["fixed"]).run()
    assert not at.exception
    df = at.dataframe[0].value
    assert set(df["camera_setup"]) == {"fixed"} and len(df) == 4
    assert "6/10" in " ".join(df["reach"])  # state k-NN on reach under the fixed camera
    fig = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert all(a["text"].startswith("final") or a["text"].startswith("max") for a in fig["layout"]["annotations"])
    assert all("· fixed ·" in x for x in at.selectbox(key="compare_cell").options)
    assert at.get("video")


def test_page_with_one_camera_setup_has_no_extra_selectors(tmp_path):
    cells = [_cell("class", "knn", "final", 6), _cell("bc", "knn", "final", 2)]
    (tmp_path / "compare.json").write_text(json.dumps({"cells": cells}))
    at = _run(tmp_path)
    assert not at.exception and len(at.multiselect) == 1  # checkpoints only, as before
    assert list(at.dataframe[0].value.columns)[:4] == ["method", "policy", "camera_setup", "checkpoint"]


def test_page_shows_the_demo_sweep_when_a_camera_holds_several_demos(tmp_path):
    from test_compare_collect import COUNTS, _cfg, _folder

    from workbench.compare import collect_compare

    out = tmp_path / "results"
    collect_compare(out, [_folder(tmp_path / "d32", _cfg(), COUNTS), _folder(tmp_path / "d8", _cfg(demos=8), COUNTS)])
    at = _run(out)
    assert not at.exception and len(at.get("plotly_chart")) == 2
    sweep = json.loads(at.get("plotly_chart")[1].proto.spec)
    assert sweep["layout"]["xaxis"]["type"] == "log" and {tr["name"] for tr in sweep["data"]} == {"bc · knn", "state_knn · knn"}
    at = at.multiselect(key="compare_demos").set_value([32]).run()  # one number of demos left: no sweep
    assert not at.exception and len(at.get("plotly_chart")) == 1


def test_page_pairs_the_claims_and_any_two_rows(tmp_path):
    """The Differences table (CLASS vs BC on the same episodes, with its verdict) and the 'any two
    rows' picker, from a folder of evaluation units with per-episode outcomes."""
    from workbench.compare import CompareConfig, assemble_cells, describe_cells
    from workbench.compare.runner import write_results
    from workbench.compare.units import unit_name

    units = []
    for m, k in (("class", 30), ("bc", 10), ("caip", 12)):
        for s in (0, 1):
            o = [i < k for i in range(50)]
            u = {"method": m, "policy": "knn", "task": "reach", "camera_setup": "dynamic", "seed": s, "step": 12,
                 "episodes": 50, "successes": k, "eval_seeds": [2000, 2049], "outcomes": o, "videos": []}  # fmt: skip
            (tmp_path / "evals").mkdir(exist_ok=True)
            (tmp_path / "evals" / f"{unit_name(m, 'knn', 'reach', 'dynamic', s, 12)}.json").write_text(json.dumps(u))
            units.append(u)
    cfg = CompareConfig(tasks=("reach",), methods=("class", "bc", "caip"), episodes=50)
    cells = describe_cells(assemble_cells(units, {(m, s): [12] for m in ("class", "bc", "caip") for s in (0, 1)}), cfg)
    write_results(tmp_path, {"config": cfg.to_dict(), "cells": cells}, figures=False)
    at = _run(tmp_path)
    assert not at.exception
    claims = at.dataframe[1].value
    row = claims[claims["A − B"] == "class − bc"].iloc[0]
    assert row["policy"] == "knn" and row["paired episodes"] == 100 and row["verdict"] == "class > bc"
    assert row["A − B, points [95 % bootstrap]"].startswith("+40.0 [")
    at.selectbox(key="compare_diff_a").set_value(("caip", "knn", "")).run()
    at.selectbox(key="compare_diff_b").set_value(("bc", "knn", "")).run()
    assert not at.exception
    text = at.code[0].value
    # two placements apart, the same two under both seeds: the interval holds 0
    assert "caip − bc   +4.0 points" in text and "verdict        inconclusive (the episode interval holds 0)" in text
