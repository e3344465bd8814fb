"""The Streamlit app: every page through streamlit.testing, and the real server in headless Chromium."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import make_hand_episode, make_robot_episode

from workbench.data import write_hand_pose, write_lerobot

APP = Path(__file__).resolve().parents[1] / "app" / "main.py"
PAGES = ["app_pages/datasets.py", "app_pages/jobs.py"]
#: the test environment: fixture roots, a private embedding/projection cache, no UMAP compile competing
#: for the two cores (the Latent page's not-yet-warm path is what these tests see)
_ENV = {"ACTIONLENS_WARM_UMAP": "0"}


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

    st.cache_data.clear()  # each test starts like a fresh server: no run or dataset list from the last one

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


def test_datasets_page_lists_and_switches(app):
    _no_errors(app)
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["episodes"] in ("2", "4")
    first = metrics["episodes"]
    labels = app.selectbox(key="sidebar_dataset").options
    assert len(labels) == 2
    app.selectbox(key="sidebar_dataset").select_index(1 - app.selectbox(key="sidebar_dataset").index).run()
    _no_errors(app)
    assert {m.label: m.value for m in app.metric}["episodes"] != first


def test_datasets_page_frame_and_streams(app):
    robot = [i for i, o in enumerate(app.selectbox(key="sidebar_dataset").options) if "lerobot" in o][0]
    app.selectbox(key="sidebar_dataset").select_index(robot).run()
    _no_errors(app)
    assert len(app.get("image")) == 6  # scene and wrist: rgb, depth, segmentation
    charts_before = len(app.get("plotly_chart"))
    app.multiselect(key="datasets_streams").set_value(["action", "ee_pos"]).run()
    _no_errors(app)
    assert len(app.get("plotly_chart")) == charts_before == 1
    app.slider(key="datasets_frame").set_value(5).run()
    _no_errors(app)


def test_bad_dataset_shows_error_and_keeps_running(app, roots, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(roots / "data" / "robot", bad)
    (bad / "meta" / "episodes" / "chunk-000" / "file-000.parquet").write_bytes(b"broken")
    app.session_state["global_roots"] = [str(tmp_path)]
    app.run()
    assert not app.exception
    assert any("Cannot open this dataset" in e.value or "parquet" in e.value for e in app.error) or any(
        "No datasets found" in w.value for w in app.warning
    )


def test_playback_page_scrubber_and_viewer(app):
    app.switch_page("app_pages/playback.py").run()
    _no_errors(app)
    robot = [i for i, o in enumerate(app.selectbox(key="sidebar_dataset").options) if "lerobot" in o][0]
    app.selectbox(key="sidebar_dataset").select_index(robot).run()
    _no_errors(app)
    assert len(app.get("plotly_chart")) == 1  # the 3-D path with the chunk worm
    fig_before = app.get("plotly_chart")[0].proto.spec
    app.slider(key="playback_frame").set_value(6).run()
    assert app.get("plotly_chart")[0].proto.spec != fig_before  # the worm moved
    app.toggle(key="playback_open").set_value(True).run()
    _no_errors(app)
    iframes = app.get("iframe")
    assert iframes and "localhost" in iframes[0].proto.src


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


# ------------------------------------------------------------------------------------------------
# the real server in headless Chromium
# ------------------------------------------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until_idle(page, timeout: float = 60.0) -> None:
    """Until the script has finished running and no element is still a loading placeholder."""
    deadline = time.time() + timeout
    quiet = 0
    while time.time() < deadline:
        busy = page.locator('[data-testid="stStatusWidget"]').count() + page.locator('[data-testid="stSkeleton"]').count()
        quiet = quiet + 1 if busy == 0 else 0
        if quiet >= 3:
            page.wait_for_timeout(500)  # let plotly draw
            return
        page.wait_for_timeout(300)
    raise AssertionError("the app did not finish rendering")


def test_every_page_in_headless_chromium(roots, trained, tmp_path):
    from playwright.sync_api import sync_playwright

    assert CHROMIUM, "chromium is missing: `make test` installs it (scripts/ensure-system-deps.sh)"
    port = _free_port()
    env = {**os.environ, **_ENV, "ACTIONLENS_ROOTS": str(roots / "data"), "ACTIONLENS_RUNS": str(roots / "runs"),
           "ACTIONLENS_CACHE": str(roots / "cache")}  # fmt: skip
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(APP), "--server.port", str(port), "--server.address", "127.0.0.1",
         "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    shots = Path(os.environ.get("ACTIONLENS_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.3)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--disable-quic"])  # fmt: skip
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            pages = (("", "Datasets"), ("playback", "Playback"), ("latent", "Latent space"), ("neighbours", "Neighbours"),
                     ("saliency", "Saliency"), ("jobs", "Jobs"))  # fmt: skip
            timings = {}
            for url_path, title in pages:
                start = time.time()
                page.goto(f"http://127.0.0.1:{port}/{url_path}")
                page.get_by_role("heading", name=title).first.wait_for(timeout=60_000)
                _wait_until_idle(page, timeout=120)
                timings[title] = time.time() - start
                page.screenshot(path=str(shots / f"{title.lower().replace(' ', '_')}.png"), full_page=True)
                assert page.locator('[data-testid="stException"]').count() == 0, f"traceback on {title}"
                assert page.locator('[data-testid="stAlertContentError"]').count() == 0, f"error box on {title}"
                assert "Traceback" not in page.content()
            browser.close()
        print("first load (s):", {k: round(v, 1) for k, v in timings.items()})  # reported, not asserted
    finally:
        server.terminate()
        server.wait(timeout=20)


def test_datasets_page_flags_are_saved_beside_the_dataset(app, roots):
    from workbench.data.flags import flags_path, load_flags

    robot = [i for i, o in enumerate(app.selectbox(key="sidebar_dataset").options) if "lerobot" in o][0]
    app.selectbox(key="sidebar_dataset").select_index(robot).run()
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
    robot = [i for i, o in enumerate(app.selectbox(key="sidebar_dataset").options) if "lerobot" in o][0]
    app.selectbox(key="sidebar_dataset").select_index(robot).run()
    _no_errors(app)


def _pick_run(app, key: str, run_id: str) -> None:
    box = app.selectbox(key=key)
    match = [i for i, o in enumerate(box.options) if o.startswith(run_id)]
    assert match, box.options
    box.select_index(match[0]).run()
    _no_errors(app)


def test_latent_page_projects_selects_and_plays_back(trained, app):
    app.switch_page("app_pages/latent.py").run()
    _robot(app)
    _pick_run(app, "latent_run", "caip-tiny")
    metrics = {m.label: m.value for m in app.metric}
    assert float(metrics["Alignment score"]) <= 1.0 and metrics["Frames"] == "24"  # 4 episodes × 12 steps, every 2nd
    spec = app.get("plotly_chart")[0].proto.spec
    app.radio(key="latent_color").set_value("time").run()
    _no_errors(app)
    assert app.get("plotly_chart")[0].proto.spec != spec
    app.radio(key="latent_projector").set_value("umap").run()  # never compiles on a click: says so, shows PCA
    assert any("UMAP is still compiling" in i.value for i in app.info) or not app.info
    # a lasso selection of two points shows their frames, the chosen one's saliency and neighbours
    app.session_state["latent_plot"] = {"selection": {"points": [{"customdata": [0, 0, 0]}, {"customdata": [5, 0, 10]}],
                                                       "point_indices": [0, 5], "box": [], "lasso": []}}
    app.run()
    _no_errors(app)
    assert app.selectbox(key="latent_chosen").options and len(app.selectbox(key="latent_chosen").options) == 2
    assert len(app.get("image")) >= 2 + 1 + 2 + 12  # selection, chosen, saliency + PCA, 2 × 6 neighbours
    app.button(key="latent_play").click().run()
    _no_errors(app)
    assert app.slider(key="playback_frame").value == 0 and app.selectbox(key="playback_episode").value == 0


def test_neighbours_page_controls_change_the_output(trained, app):
    app.switch_page("app_pages/neighbours.py").run()
    _robot(app)
    _pick_run(app, "neighbours_run", "caip-tiny")
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
    app.selectbox(key="neighbours_against").select_index(1).run()
    _no_errors(app)
    assert app.get("plotly_chart")[2].proto.spec != matrix
    app.number_input(key="neighbours_horizon").set_value(4).run()
    _no_errors(app)


def test_saliency_page_follows_the_instruction(trained, app):
    app.switch_page("app_pages/saliency.py").run()
    _robot(app)
    app.multiselect(key="saliency_runs").set_value([str(trained)]).run()
    app.multiselect(key="saliency_methods").set_value(["saliency", "text_pooling"]).run()
    _no_errors(app)
    spec = app.get("plotly_chart")[0].proto.spec
    app.text_input(key="saliency_instruction").set_value("open the drawer quickly").run()
    _no_errors(app)
    assert app.get("plotly_chart")[0].proto.spec != spec  # CAIP's pooling is conditioned on the text
    app.toggle(key="saliency_check").set_value(True).run()
    _no_errors(app)
    assert any(m.label.startswith("Sanity") for m in app.metric)


def test_jobs_page_shows_evaluation_results(trained, app):
    from workbench.eval import EvalConfig, evaluate_run

    evaluate_run(trained, EvalConfig(probe=True, retrieval=True, knn=True, device="cpu"))
    app.switch_page("app_pages/jobs.py").run()
    _no_errors(app)
    _pick_run(app, "jobs_eval_run", "caip-tiny")
    titles = " ".join(str(c.proto.spec) for c in app.get("plotly_chart"))
    assert "linear probe" in titles and "Recall@k" in titles
    assert any("k-NN policy" in str(df.value) for df in app.dataframe)


def test_playback_page_draws_predicted_worms(trained, app):
    app.switch_page("app_pages/playback.py").run()
    _robot(app)
    app.toggle(key="playback_predict").set_value(True).run()
    _no_errors(app)
    _pick_run(app, "playback_run", "caip-tiny")
    spec = app.get("plotly_chart")[0].proto.spec
    assert "caip-tiny k-NN" in spec
    app.toggle(key="playback_anchor").set_value(True).run()
    _no_errors(app)
    assert app.get("plotly_chart")[0].proto.spec != spec
    app.toggle(key="playback_open").set_value(True).run()
    _no_errors(app)
    assert app.get("iframe")
