"""The Streamlit app through streamlit.testing (fast, unit level); tests/test_browser.py drives the real server in Chromium."""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import make_hand_episode, make_robot_episode

from workbench.data import write_hand_pose, write_lerobot

REPO = Path(__file__).resolve().parents[1]
APP = REPO / "app" / "main.py"
PAGES = ["app_pages/datasets.py", "app_pages/jobs.py"]
#: the test environment: fixture roots, a private embedding/projection cache, no UMAP or DTW compile
#: nor background imports competing for the two cores (the Latent page's not-yet-warm path is what
#: these tests see; DTW calls compile what they need themselves)
_ENV = {"ACTIONLENS_WARM_UMAP": "0", "ACTIONLENS_WARM_DTW": "0", "ACTIONLENS_WARM_IMPORTS": "0"}


def st_cache_clear() -> None:
    import streamlit as st

    st.cache_data.clear()


@pytest.fixture(autouse=True)
def _restore_main_module():
    """Streamlit's script runner leaves ``sys.modules["__main__"]`` pointing at app/main.py; a later
    test that spawns processes (torch.multiprocessing) would then re-run the app in its children."""
    main = sys.modules["__main__"]
    yield
    sys.modules["__main__"] = main


@pytest.fixture(scope="module")
def roots(tmp_path_factory):
    base = tmp_path_factory.mktemp("app")
    write_lerobot([make_robot_episode(i, T=12, size=32, task=("push", "reach")[i % 2]) for i in range(4)], base / "data" / "robot")
    write_hand_pose([make_hand_episode(i, T=10) for i in range(2)], base / "data" / "hands")
    (base / "runs").mkdir()
    (base / "cache").mkdir()
    return base


@pytest.fixture(scope="module")
def trained(roots):
    """A tiny CAIP run on the robot fixture (its text-conditioned pooling makes the maps follow the
    instruction), with a quick evaluation saved beside it."""
    from workbench.train import create_run, make_config
    from workbench.train.loop import train

    cfg = make_config("caip", "smoke", [f"data.path={roots / 'data' / 'robot'}", "steps=2", "data.image_size=32"])
    path = create_run(cfg, roots / "runs" / "caip-tiny").path
    train(path)
    return path


@pytest.fixture
def app(roots, monkeypatch):
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    st_cache_clear()  # each test starts like a fresh server: no run or dataset list from the last one

    monkeypatch.setenv("ACTIONLENS_ROOTS", str(roots / "data"))
    monkeypatch.setenv("ACTIONLENS_RUNS", str(roots / "runs"))
    monkeypatch.setenv("ACTIONLENS_CACHE", str(roots / "cache"))
    for k, v in _ENV.items():
        monkeypatch.setenv(k, v)
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    return at


def _no_errors(at) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def _pick_dataset(at, name: str) -> None:
    """Choose the sidebar dataset listed as ``name`` (the picker's values are paths, its labels names)."""
    from workbench.data.catalog import find_datasets

    hit = [str(e.path) for e in find_datasets(at.session_state["global_roots"]) if e.name == name]
    assert hit, at.selectbox(key="sidebar_dataset").options
    at.selectbox(key="sidebar_dataset").set_value(hit[0]).run()
    _no_errors(at)


def test_datasets_page_lists_and_switches(app):
    _no_errors(app)
    first = {m.label: m.value for m in app.metric}["episodes"]
    assert len(app.selectbox(key="sidebar_dataset").options) == 2
    other = "hands" if Path(app.session_state["global_dataset"]).name == "robot" else "robot"
    _pick_dataset(app, other)
    assert {m.label: m.value for m in app.metric}["episodes"] != first
    assert app.query_params["dataset"] in (other, [other])  # the choice is in the URL


def test_datasets_page_frame_and_streams(app):
    _pick_dataset(app, "robot")
    deadline = time.time() + 60  # the thumbnails come from a background thread, the table at once
    while app.dataframe[0].value["frame"].isna().any() and time.time() < deadline:
        time.sleep(0.5)
        app.run()
    assert app.dataframe[0].value["frame"].str.startswith("data:image/png;base64,").all()
    assert len(app.get("image")) == 6  # scene and wrist: rgb, depth, segmentation
    charts_before = len(app.get("plotly_chart"))
    app.multiselect(key="datasets_streams").set_value(["action", "ee_pos"]).run()
    _no_errors(app)
    assert len(app.get("plotly_chart")) == charts_before == 1
    app.slider(key="datasets_frame").set_value(5).run()
    _no_errors(app)


def test_bad_dataset_shows_one_message_and_keeps_running(app, roots, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(roots / "data" / "robot", bad)
    for f in (bad / "data").rglob("*.parquet"):  # every episode's frames unreadable
        f.write_bytes(b"broken")
    app.session_state["global_roots"] = [str(tmp_path)]
    app.run()
    _pick_dataset(app, "bad")
    assert not app.exception
    messages = [w.value for w in app.warning] + [e.value for e in app.error] + [i.value for i in app.info]
    assert len(app.warning) + len(app.error) <= 1, messages  # one message, not one per episode
    assert any("cannot be read" in m or "Cannot open" in m for m in messages), messages


def test_a_garbage_root_is_refused_with_the_library_message(app, tmp_path):
    garbage = tmp_path / "garbage"
    (garbage / "meta").mkdir(parents=True)
    (garbage / "meta" / "info.json").write_text("")
    (garbage / "data.hdf5").write_bytes(np.random.default_rng(0).bytes(4096))
    before = list(app.session_state["global_roots"])
    app.text_input(key="sidebar_new_root").set_value(str(garbage))
    app.button(key="sidebar_add_root").click().run()
    assert not app.exception
    assert any("not valid JSON" in e.value and "info.json" in e.value for e in app.error), [e.value for e in app.error]
    assert app.session_state["global_roots"] == before  # refused, nothing added
    app.text_input(key="sidebar_new_root").set_value(str(tmp_path / "missing")).run()
    app.button(key="sidebar_add_root").click().run()
    assert any("is not a folder" in e.value for e in app.error)
    assert app.session_state["global_roots"] == before


def test_a_good_root_is_added_and_its_dataset_listed(app, roots, tmp_path):
    shutil.copytree(roots / "data" / "robot", tmp_path / "more" / "robot2")
    app.text_input(key="sidebar_new_root").set_value(str(tmp_path / "more"))
    app.button(key="sidebar_add_root").click().run()
    _no_errors(app)
    assert any(o.startswith("robot2") for o in app.selectbox(key="sidebar_dataset").options)


def test_dataset_and_run_come_from_the_url_and_page_inputs_reset(trained, roots, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("ACTIONLENS_ROOTS", str(roots / "data"))
    monkeypatch.setenv("ACTIONLENS_RUNS", str(roots / "runs"))
    monkeypatch.setenv("ACTIONLENS_CACHE", str(roots / "cache"))
    for k, v in _ENV.items():
        monkeypatch.setenv(k, v)
    st_cache_clear()
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.query_params["dataset"] = "hands"
    at.run()
    _no_errors(at)
    assert Path(at.session_state["global_dataset"]).name == "hands"
    assert at.session_state["global_run"] is None  # the hands fixture has no scene camera: no run offered
    _pick_dataset(at, "robot")
    assert at.query_params["run"] in ("caip-tiny", ["caip-tiny"])  # a run that reads it is chosen and put in the URL
    at.switch_page("app_pages/saliency.py").run()
    _no_errors(at)
    at.text_input(key="saliency_instruction").set_value("my own words").run()
    _pick_dataset(at, "hands")
    _pick_dataset(at, "robot")
    assert at.text_input(key="saliency_instruction").value != "my own words"  # reset with the dataset


def test_playback_page_scrubber_and_viewer(app):
    app.switch_page("app_pages/playback.py").run()
    _no_errors(app)
    _pick_dataset(app, "robot")
    fig_before = _path_figure(app)  # the 3-D path with the chunk worm
    assert [t["name"] for t in fig_before["data"]] == ["path", "ground truth chunk", "t=0"]
    app.slider(key="playback_frame").set_value(6).run()
    moved = _path_figure(app)
    assert moved["data"][1] != fig_before["data"][1] and moved["data"][-1]["name"] == "t=6"  # the worm moved
    app.toggle(key="playback_open").set_value(True).run()
    _no_errors(app)
    viewer = _viewer_args(app)
    assert viewer["url"].startswith("rerun+http://localhost:") and viewer["frame"] == 6  # the scrubber's frame
    app.slider(key="playback_frame").set_value(3).run()
    moved = _viewer_args(app)
    assert moved["frame"] == 3 and moved["url"] == viewer["url"]  # the same recording, another time
    assert any("No CLAMP virtual views" in c.value and "only 'scene' has" in c.value for c in app.caption)


def _path_figure(app) -> dict:
    """The Plotly figure the page passes its 3-D path component (app/live_plot.py)."""
    import json

    (plot,) = [c for c in app.get("component_instance") if c.proto.component_name == "live_plot.live_plot"]
    return json.loads(json.loads(plot.proto.json_args)["figure"])


def _viewer_args(app) -> dict:
    """What the page passes the Rerun viewer component (app/rerun_viewer.py)."""
    import json

    (viewer,) = [c for c in app.get("component_instance") if c.proto.component_name == "rerun_viewer.rerun_viewer"]
    return json.loads(viewer.proto.json_args)


def test_jobs_page_renders_runs(app, roots):
    from workbench.train import create_run, make_config
    from workbench.train.loop import train

    cfg = make_config("caip", "smoke", [f"data.path={roots / 'data' / 'robot'}", "steps=4", "data.image_size=32"])
    train(create_run(cfg, roots / "runs" / "r1").path)
    app.switch_page("app_pages/jobs.py").run()
    _no_errors(app)
    assert app.selectbox(key="jobs_method").options
    assert len(app.get("plotly_chart")) == 1
    assert any("r1" in str(df.value) for df in app.dataframe)


def test_datasets_page_flags_are_saved_beside_the_dataset(app, roots):
    from workbench.data.flags import flags_path, load_flags

    _pick_dataset(app, "robot")
    ep = int(app.selectbox(key="datasets_episode").value)
    before = {p: p.stat().st_mtime_ns for p in (roots / "data" / "robot").rglob("*")}
    app.multiselect(key=f"datasets_flags_{ep}").set_value(["interesting"]).run()
    app.text_input(key=f"datasets_note_{ep}").set_value("gripper slips").run()
    app.button(key="datasets_save_flags").click().run()
    _no_errors(app)
    assert load_flags(roots / "data" / "robot")[ep] == {"flags": ["interesting"], "note": "gripper slips"}
    assert flags_path(roots / "data" / "robot").parent == roots / "data"  # beside, not inside
    assert {p: p.stat().st_mtime_ns for p in (roots / "data" / "robot").rglob("*")} == before
    app.run()
    assert "interesting" in str(app.dataframe[0].value)
    app.toggle(key="datasets_stats").set_value(True).run()
    _no_errors(app)
    assert len(app.dataframe) == 2


# ------------------------------------------------------------------------------------------------
# the analysis pages, on a tiny trained run
# ------------------------------------------------------------------------------------------------


def _robot(app) -> None:
    _pick_dataset(app, "robot")


def _pick_run(app, run_id: str) -> None:
    box = app.selectbox(key="sidebar_run")
    assert any(o.startswith(run_id) for o in box.options), box.options
    box.set_value(str(Path(os.environ["ACTIONLENS_RUNS"]) / run_id)).run()
    _no_errors(app)


def test_latent_page_projects_selects_and_plays_back(trained, app, monkeypatch):
    import threading

    from workbench.analysis import projection
    from workbench.warmup import Warmup

    # UMAP not yet compiled in this process, whatever earlier tests did (test_analysis warms it):
    # a warm-up whose thread never runs, restored after the test
    stuck = Warmup("never", lambda: None)
    stuck._thread = threading.Thread(target=lambda: None)
    monkeypatch.setattr(projection, "_UMAP_WARMUP", stuck)
    app.switch_page("app_pages/latent.py").run()
    _robot(app)
    _pick_run(app, "caip-tiny")
    metrics = {m.label: m.value for m in app.metric}
    assert -1.0 < float(metrics["Alignment score"]) <= 1.0 and metrics["Frames"] == "24"  # 4 episodes × 12 steps, every 2nd
    spec = app.get("plotly_chart")[0].proto.spec
    app.radio(key="latent_color").set_value("time").run()
    _no_errors(app)
    assert app.get("plotly_chart")[0].proto.spec != spec
    app.radio(key="latent_projector").set_value("tsne").run()  # in the background; PCA (and a progress bar) meanwhile
    _no_errors(app)
    deadline = time.time() + 120
    while "TSNE" not in app.get("plotly_chart")[0].proto.spec and time.time() < deadline:
        assert "PCA" in app.get("plotly_chart")[0].proto.spec and app.get("progress")
        time.sleep(1)
        app.run()
    assert "TSNE" in app.get("plotly_chart")[0].proto.spec
    app.radio(key="latent_projector").set_value("umap").run()  # never compiles on a click: says so, shows PCA
    assert any("UMAP is still compiling" in i.value for i in app.info)  # not warm (patched above)
    assert "PCA" in app.get("plotly_chart")[0].proto.spec
    # a UMAP already on disk (as the shipped runs carry theirs) is shown at once, compiled or not
    from workbench.analysis.run_analysis import RunAnalysis
    from workbench.data import load_dataset
    from workbench.train.run import load_run

    analysis = RunAnalysis(load_run(trained), load_dataset(Path(os.environ["ACTIONLENS_ROOTS"]) / "robot"), 2)
    stored = projection._cache_path(projection.make_projector("umap", random_state=0),
                                    analysis.embeddings.vectors, analysis._projections_dir)  # fmt: skip
    stored.parent.mkdir(parents=True, exist_ok=True)
    np.save(stored, np.random.default_rng(0).normal(size=(len(analysis.embeddings), 2)).astype(np.float32))
    try:
        app.run()
        _no_errors(app)
        assert not any("UMAP is still compiling" in i.value for i in app.info)
        assert "UMAP" in app.get("plotly_chart")[0].proto.spec and not projection.umap_is_warm()
    finally:
        stored.unlink()
    app.radio(key="latent_projector").set_value("pca").run()
    # a lasso selection of two points, as Plotly 6 sends numpy customdata (compact: {"0": id, …}),
    # shows their frames, the chosen one's saliency and neighbours
    app.session_state["latent_plot"] = {"selection": {"points": [{"customdata": {"0": 0, "1": 0, "2": 0}},
                                                                  {"customdata": {"0": 5, "1": 0, "2": 10}}],
                                                       "point_indices": [0, 5], "box": [], "lasso": []}}  # fmt: skip
    app.run()
    _no_errors(app)
    assert app.selectbox(key="latent_chosen").options and len(app.selectbox(key="latent_chosen").options) == 2
    assert len(app.get("image")) >= 2 + 1 + 2 + 12  # selection, chosen, saliency + PCA, 2 × 6 neighbours
    app.button(key="latent_play").click().run()
    _no_errors(app)
    assert app.slider(key="playback_frame").value == 0 and app.selectbox(key="playback_episode").value == 0


def test_analysis_pages_say_when_the_run_cannot_embed_the_dataset(trained, app, monkeypatch):
    from workbench.analysis import run_analysis

    def broken(*a, **kw):
        raise ValueError("the frames are unreadable")

    for page, stride in (("latent", 7), ("neighbours", 9)):  # strides no other test embeds at: nothing cached
        app.switch_page(f"app_pages/{page}.py").run()
        _robot(app)
        _pick_run(app, "caip-tiny")  # embeds at the default stride
        monkeypatch.setattr(run_analysis, "compute_embeddings", broken)
        key = "latent_stride" if page == "latent" else "neighbours_stride"
        app.number_input(key=key).set_value(stride).run()
        assert not app.exception
        assert any("Cannot embed this dataset with run `caip-tiny`: the frames are unreadable" in e.value for e in app.error), page


def test_neighbours_page_controls_change_the_output(trained, app):
    app.switch_page("app_pages/neighbours.py").run()
    _robot(app)
    _pick_run(app, "caip-tiny")
    metrics = {m.label: m.value for m in app.metric}
    assert "overlap@8" in metrics and "Positives of this frame" in metrics
    thr = [m.value for m in app.metric if m.label.startswith("Threshold")][0]
    app.slider(key="neighbours_quantile").set_value(20.0).run()
    _no_errors(app)
    assert float([m.value for m in app.metric if m.label.startswith("Threshold")][0]) > float(thr)
    grid = app.get("plotly_chart")[1].proto.spec
    app.slider(key="neighbours_k").set_value(3).run()
    _no_errors(app)
    assert "overlap@3" in {m.label for m in app.metric} and app.get("plotly_chart")[1].proto.spec != grid
    matrix = app.get("plotly_chart")[2].proto.spec
    against = lambda: [b for b in app.selectbox if b.label == "Against"][0]  # noqa: E731 (its key names the query)
    against().select_index(1).run()
    _no_errors(app)
    assert app.get("plotly_chart")[2].proto.spec != matrix
    captions = list(against().options)
    times = app.select_slider[0].options
    app.select_slider[0].set_value(times[-1]).run()  # another query frame: the neighbours and their captions change
    _no_errors(app)
    assert list(against().options) != captions
    assert app.selectbox(key="neighbours_kind").options == ["raw", "ee", "relative"]  # a robot dataset has no hand chunks
    app.number_input(key="neighbours_horizon").set_value(4).run()
    _no_errors(app)


def _in_a_fresh_process(script: str, tmp_path, **env_vars: str) -> str:
    """Run ``script`` (AppTest on the shipped samples) in a new interpreter, as a fresh server
    would; the last line it prints."""
    import subprocess

    env = {k: v for k, v in os.environ.items() if k != "ACTIONLENS_ROOTS"}
    env.update(_ENV, PYTHONPATH=os.pathsep.join([str(REPO), str(REPO / "app")]), ACTIONLENS_RUNS=str(tmp_path / "runs"),
               ACTIONLENS_CACHE=str(tmp_path / "cache"), **env_vars)  # fmt: skip
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout.strip().splitlines()[-1]


_OPEN = f"""
import sys, threading
from streamlit.testing.v1 import AppTest
at = AppTest.from_file({str(APP)!r}, default_timeout=120)
"""
_NO_ERRORS = "assert not at.exception and not at.error, ([e.value for e in at.exception], [e.value for e in at.error])\n"


def test_the_first_page_imports_neither_torch_nor_numba(tmp_path):
    """A fresh server's first page (Datasets, on the shipped samples, with the run picker filled)
    is drawn without importing torch, numba, HF datasets or umap: they cost seconds on a loaded
    machine and the page needs none of them (the run list reads checkpoint headers)."""
    script = _OPEN + "at.run()\n" + _NO_ERRORS + """
assert [m.label for m in at.metric][:2] == ["episodes", "frames"], at.metric
assert len(at.selectbox(key="sidebar_run").options) == 3, at.selectbox(key="sidebar_run").options
print(sorted(m for m in ("torch", "numba", "datasets", "umap") if m in sys.modules))
"""
    assert _in_a_fresh_process(script, tmp_path) == "[]"


def test_playback_opened_directly_imports_neither_torch_nor_rerun(tmp_path):
    """Playback on the shipped samples, as a new user's first page: no torch, numba, umap or
    rerun (imported only when the viewer is opened or a recording saved)."""
    script = _OPEN + 'at.switch_page("app_pages/playback.py")\nat.run()\n' + _NO_ERRORS + """
assert at.title[0].value == "Playback" and at.slider, (at.title, at.slider)
print(sorted(m for m in ("torch", "numba", "datasets", "umap", "rerun") if m in sys.modules))
"""
    assert _in_a_fresh_process(script, tmp_path) == "[]"


def test_the_first_page_then_imports_the_analysis_modules_in_the_background(tmp_path):
    """After the first page is drawn (without torch), the server imports what the analysis pages
    need in one background thread, so the next page finds torch loaded; a module that cannot be
    imported is skipped, the rest still load."""
    script = _OPEN + """
import cache
cache.HEAVY_MODULES = ("workbench.no_such_module",) + cache.HEAVY_MODULES
at.run()
""" + _NO_ERRORS + """
[thread] = [t for t in threading.enumerate() if t.name == "actionlens-imports"]
thread.join(300)
print(not thread.is_alive(), all(m in sys.modules for m in cache.HEAVY_MODULES[1:]), "torch" in sys.modules)
"""
    assert _in_a_fresh_process(script, tmp_path, ACTIONLENS_WARM_IMPORTS="1") == "True True True"


def test_neighbours_page_answers_from_the_shipped_table_while_dtw_compiles(monkeypatch, tmp_path):
    """A fresh clone: the DTW kernels are still compiling, yet the shipped samples' page shows its
    neighbours, threshold and positives from the table; with a stale key (no matching table) it
    says it is computing instead of blocking."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from workbench.analysis import run_analysis
    from workbench.analysis.neighbour_table import SHIPPED_TABLES, load_neighbour_table
    from workbench.dtw import warmup

    monkeypatch.setattr(warmup, "dtw_is_warming", lambda: True)
    monkeypatch.delenv("ACTIONLENS_ROOTS", raising=False)  # the shipped samples, as on a fresh clone
    monkeypatch.setenv("ACTIONLENS_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("ACTIONLENS_CACHE", str(tmp_path / "cache"))
    for k, v in _ENV.items():
        monkeypatch.setenv(k, v)

    def page() -> AppTest:
        st.cache_data.clear()
        st.cache_resource.clear()
        at = AppTest.from_file(str(APP), default_timeout=120)
        at.run()
        at.switch_page("app_pages/neighbours.py").run()
        _no_errors(at)
        return at

    at = page()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Relative DTW"] == "…" and "overlap@8" in metrics  # relative DTW waits for the kernels
    table_file = max(SHIPPED_TABLES.glob("*.npz"), key=lambda p: p.stat().st_size)  # the metaworld table
    table = load_neighbour_table(SHIPPED_TABLES, table_file.stem)
    # the default query is the first row (first episode, first frame): its threshold, positives and
    # nearest DTW neighbour are the table's
    assert metrics["Threshold (K = 5 %)"] == f"{table.threshold(5.0):.3g}"
    assert int(metrics["Positives of this frame"]) == table.positives_of(0, 5.0)
    against = [b for b in at.selectbox if b.label == "Against"]
    assert not against and any("compiling in the background" in c.value for c in at.caption)  # the alignment waits, saying why
    grid = str(at.get("plotly_chart")[1].proto.spec)
    assert f"dtw {table.dtw_distances[0, 0]:.3g}" in grid

    monkeypatch.setattr(run_analysis, "SHIPPED_TABLES", tmp_path / "no-tables")  # every key stale
    at = page()
    assert not at.metric and any("Computing the DTW neighbours" in c.value for c in at.caption)


def _maps_drawn(app) -> None:
    """Rerun until the Saliency page's background maps are in (the browser's fragment does this)."""
    for _ in range(240):
        if not app.get("progress"):
            break
        time.sleep(0.5)
        app.run()
    _no_errors(app)
    assert not app.get("progress")


def test_saliency_page_follows_the_instruction(trained, app):
    app.switch_page("app_pages/saliency.py").run()
    _robot(app)
    _pick_run(app, "caip-tiny")
    app.multiselect(key="saliency_methods").set_value(["saliency", "text_pooling"]).run()
    _maps_drawn(app)
    spec = app.get("plotly_chart")[0].proto.spec
    app.text_input(key="saliency_instruction").set_value("open the drawer quickly").run()
    _maps_drawn(app)
    assert app.get("plotly_chart")[0].proto.spec != spec  # CAIP's pooling is conditioned on the text
    app.toggle(key="saliency_check").set_value(True).run()
    _maps_drawn(app)
    assert any(m.label.startswith("Sanity") for m in app.metric)


def test_jobs_page_shows_evaluation_results(trained, app):
    from workbench.eval import EvalConfig, evaluate_run, load_eval_results
    from workbench.eval.results import ProbeResult

    evaluate_run(trained, EvalConfig(probe=True, retrieval=True, knn=True, device="cpu"))
    app.switch_page("app_pages/jobs.py").run()
    _no_errors(app)
    _pick_run(app, "caip-tiny")
    titles = " ".join(str(c.proto.spec) for c in app.get("plotly_chart"))
    assert "Recall@k" in titles
    assert any("k-NN policy" in str(df.value) for df in app.dataframe)
    # the probe is checked before it is shown: a curve below chance at every budget is withheld, with a note
    probe = [r for r in load_eval_results(trained).values() if isinstance(r, ProbeResult)][0]
    below = max(probe.accuracy) < probe.chance
    assert ("linear probe" in titles) is not below
    assert any("below chance" in w.value for w in app.warning) is below


def test_jobs_page_withholds_a_probe_below_chance_and_an_empty_recall(app, roots):
    """The shipped bc-sample (no cross-modal pairs) and caip-sample (probe below chance) evaluations."""
    import json

    from workbench.train import create_run, make_config

    run = create_run(make_config("bc", "smoke", [f"data.path={roots / 'data' / 'robot'}"]), roots / "runs" / "evaluated").path
    shutil.copytree(REPO / "data_samples" / "runs" / "caip-sample" / "checkpoints", run / "checkpoints")
    (run / "eval").mkdir()
    probe = json.loads((REPO / "data_samples" / "runs" / "caip-sample" / "eval" / "probe.json").read_text())
    probe["accuracy"] = [0.05, 0.04]
    probe["accuracy_std"], probe["shots"], probe["chance"] = [0.01, 0.01], [1, 2], 0.27
    (run / "eval" / "probe.json").write_text(json.dumps(probe))
    shutil.copy(REPO / "data_samples" / "runs" / "bc-sample" / "eval" / "retrieval.json", run / "eval" / "retrieval.json")
    st_cache_clear()
    app.run()
    app.switch_page("app_pages/jobs.py").run()
    _pick_run(app, "evaluated")
    titles = " ".join(str(c.proto.spec) for c in app.get("plotly_chart"))
    assert "linear probe" not in titles and "Recall@k" not in titles
    assert any("below chance" in w.value for w in app.warning)
    assert any("no Recall@k" in c.value for c in app.caption)
    shutil.rmtree(run)


def test_playback_page_draws_predicted_worms(trained, app):
    app.switch_page("app_pages/playback.py").run()
    _robot(app)
    _pick_run(app, "caip-tiny")
    app.toggle(key="playback_predict").set_value(True).run()
    _no_errors(app)
    fig = _path_figure(app)
    assert "caip-tiny k-NN" in [t["name"] for t in fig["data"]]
    app.toggle(key="playback_anchor").set_value(True).run()
    _no_errors(app)
    assert _path_figure(app)["data"] != fig["data"]
    app.toggle(key="playback_open").set_value(True).run()
    _no_errors(app)
    assert _viewer_args(app)["url"].startswith("rerun+http://")


def test_jobs_defaults_to_a_smoke_job_and_refuses_a_bad_dataset_where_launched(app, roots, tmp_path):
    app.switch_page("app_pages/jobs.py").run()
    _no_errors(app)
    assert app.selectbox(key="jobs_preset").value == "smoke"  # seconds, not a 10-minute sample run
    before = sorted(p.name for p in (roots / "runs").iterdir())
    app.text_input(key="jobs_data").set_value(str(tmp_path / "typo")).run()
    yaml_box = [t for t in app.text_area if t.label.startswith("Config")][0]
    assert str(tmp_path / "typo") in yaml_box.value  # the typed dataset is the one the config uses
    app.button(key="jobs_launch").click().run()
    assert not app.exception
    assert any("Cannot launch" in e.value and "typo" in e.value and "does not exist" in e.value for e in app.error)
    assert sorted(p.name for p in (roots / "runs").iterdir()) == before  # no dead run left behind
    yaml_box = [t for t in app.text_area if t.label.startswith("Config")][0]
    yaml_box.set_value("method: [caip\n").run()
    app.button(key="jobs_launch").click().run()
    assert not app.exception
    assert any("Cannot launch" in e.value and "the edited config: not valid YAML" in e.value for e in app.error)
    assert sorted(p.name for p in (roots / "runs").iterdir()) == before
