"""The app as a user drives it: a real ``streamlit run`` server, headless Chromium through
Playwright, mouse drags on the plots and clicks on the buttons. AppTest (tests/test_app.py) covers
the pages' logic quickly; these cover what only a browser does (Plotly's selection events, the
download, the URL, the live job refresh).

One server per module with an EMPTY embedding cache, on a free localhost port.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import make_hand_episode, make_robot_episode

from workbench.data import write_hand_pose, write_lerobot

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
APP = REPO / "app" / "main.py"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run", "--disable-sync", "--disable-quic"]  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Fixture roots (a robot and a hands dataset, plus the three shipped samples), a tiny trained
    CAIP run, and an empty cache."""
    from workbench.train import create_run, make_config
    from workbench.train.loop import train

    base = tmp_path_factory.mktemp("browser")
    write_lerobot([make_robot_episode(i, T=12, size=32, task=("push", "reach")[i % 2]) for i in range(4)], base / "data" / "robot")
    write_hand_pose([make_hand_episode(i, T=10) for i in range(2)], base / "data" / "hands")
    (base / "cache").mkdir()
    cfg = make_config("caip", "smoke", [f"data.path={base / 'data' / 'robot'}", "steps=2", "data.image_size=32"])
    train(create_run(cfg, base / "runs" / "caip-tiny").path)
    return base


@pytest.fixture(scope="module")
def server(world):
    assert CHROMIUM, "chromium is missing: `make test` installs it (scripts/ensure-system-deps.sh)"
    port = _free_port()
    roots = os.pathsep.join([str(world / "data"), str(REPO / "data_samples")])
    env = {**os.environ, "ACTIONLENS_WARM_UMAP": "0", "ACTIONLENS_WARM_DTW": "0", "ACTIONLENS_ROOTS": roots, "ACTIONLENS_RUNS": str(world / "runs"),
           "ACTIONLENS_CACHE": str(world / "cache")}  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(APP), "--server.port", str(port), "--server.address", "127.0.0.1",
         "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO,
    )  # fmt: skip
    deadline = time.time() + 60
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.3)
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=20)


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, tmp_path):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    pg = ctx.new_page()
    yield pg
    shots = os.environ.get("ACTIONLENS_SCREENSHOTS")
    if shots:
        Path(shots).mkdir(parents=True, exist_ok=True)
        pg.screenshot(path=str(Path(shots) / f"{time.time():.0f}.png"), full_page=True)
    ctx.close()


def _idle(page, timeout: float = 120.0) -> None:
    """Until the script has finished running and no element is still a loading placeholder."""
    deadline = time.time() + timeout
    quiet = 0
    while time.time() < deadline:
        busy = page.locator('[data-testid="stStatusWidget"]').count() + page.locator('[data-testid="stSkeleton"]').count()
        quiet = quiet + 1 if busy == 0 else 0
        if quiet >= 3:
            page.wait_for_timeout(400)  # let plotly draw
            return
        page.wait_for_timeout(300)
    raise AssertionError("the app did not finish rendering")


def _clean(page, where: str) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0, f"traceback on {where}"
    errors = page.locator('[data-testid="stAlertContentError"]').all_inner_texts()
    assert not errors, f"error box on {where}: {errors}"


def _open(page, server: str, path: str, **query: str) -> None:
    q = "&".join(f"{k}={v}" for k, v in query.items())
    page.goto(f"{server}/{path}" + (f"?{q}" if q else ""))
    page.locator('[data-testid="stAppViewContainer"]').wait_for(timeout=60_000)
    _idle(page)


def _see(page, text: str, timeout: float = 120.0) -> None:
    """Wait until ``text`` is on the page (a rerun starts a moment after the click that caused it)."""
    page.get_by_text(text).first.wait_for(timeout=timeout * 1000)


def _drag(page, points: list[tuple[float, float]]) -> None:
    page.mouse.move(*points[0])
    page.mouse.down()
    for p in points[1:]:
        page.mouse.move(*p, steps=6)
    page.mouse.up()


def _plot_area(page):
    area = page.locator(".js-plotly-plot .nsewdrag").first
    area.wait_for(timeout=60_000)
    return area.bounding_box()


def test_lasso_and_box_on_latent_space_through_to_playback(page, server):
    _open(page, server, "latent", dataset="robot", run="caip-tiny")
    _see(page, "Select points with a click")  # nothing selected yet
    _clean(page, "Latent space")
    box = _plot_area(page)
    x0, y0, w, h = box["x"], box["y"], box["width"], box["height"]
    # a lasso (the figure's drag mode) around the whole plot area
    _drag(page, [(x0 + 5, y0 + 5), (x0 + w - 5, y0 + 5), (x0 + w - 5, y0 + h - 5), (x0 + 5, y0 + h - 5), (x0 + 5, y0 + 8)])
    heading = page.get_by_role("heading", name="selected frame").first
    heading.wait_for(timeout=120_000)
    assert " 24 selected" in f" {heading.inner_text()}"  # every frame (4 episodes × 12, every 2nd)
    _see(page, "gradient saliency")  # the chosen frame's saliency
    _see(page, "Action neighbours (DTW)")
    _idle(page)
    _clean(page, "Latent space after a lasso")
    # a box over the left half only: fewer frames
    for _ in range(3):  # the modebar shows on hover; a drag before the mode switched is a lasso again
        page.mouse.move(x0 + w / 2, y0 + h / 2)
        page.locator('.modebar-btn[data-title="Box Select"]').first.click(force=True)
        page.wait_for_timeout(500)
        _drag(page, [(x0 + 5, y0 + 5), (x0 + w / 2, y0 + h - 5)])
        deadline = time.time() + 60
        while " 24 selected" in " " + page.get_by_role("heading", name="selected frame").first.inner_text() and time.time() < deadline:
            page.wait_for_timeout(500)
        if " 24 selected" not in " " + page.get_by_role("heading", name="selected frame").first.inner_text():
            break
    _idle(page)
    _clean(page, "Latent space after a box")
    text = page.get_by_role("heading", name="selected frame").first.inner_text()
    assert 0 < int(text.split()[0]) < 24, text
    _see(page, "gradient saliency")
    page.get_by_role("button", name="Play back from here").click()
    page.get_by_role("heading", name="Playback").wait_for(timeout=120_000)
    _idle(page)
    assert "/playback" in page.url
    _clean(page, "Playback after play back from here")


def test_switching_datasets_on_every_page_and_the_url(page, server):
    for name in ("metaworld", "robomimic", "hands"):  # the three shipped datasets
        for path in ("", "playback", "jobs"):
            _open(page, server, path, dataset=name)
            _clean(page, f"/{path} on {name}")
            assert f"dataset={name}" in page.url  # the choice stays in the URL
        if name == "hands":  # no shipped run reads the hands camera: the analysis pages say so
            _open(page, server, "latent", dataset=name)
            _see(page, "No trained run reads")
            _clean(page, "latent on hands")
    for path in ("latent", "neighbours", "saliency"):
        _open(page, server, path, dataset="robot", run="caip-tiny")
        _clean(page, f"/{path} on robot")
        assert "run=caip-tiny" in page.url


def test_datasets_filters_and_roots(page, server, tmp_path):
    _open(page, server, "", dataset="metaworld")
    rows_before = page.locator('[data-testid="stDataFrame"]').first.get_attribute("data-testid")
    assert rows_before
    page.get_by_text("Dataset roots").click()
    box = page.get_by_placeholder("/path/to/datasets")
    garbage = tmp_path / "garbage"
    (garbage / "meta").mkdir(parents=True)
    (garbage / "meta" / "info.json").write_text("")
    (garbage / "data.hdf5").write_bytes(np.random.default_rng(0).bytes(4096))
    for folder, expect in ((garbage, "not valid JSON"), (tmp_path / "missing", "is not a folder")):
        box.fill(str(folder))
        box.press("Enter")
        _idle(page)
        page.get_by_role("button", name="Add root").click()
        _see(page, expect)
    good = tmp_path / "good"
    shutil.copytree(REPO / "data_samples" / "robomimic", good / "mine")
    box.fill(str(good))
    box.press("Enter")
    _idle(page)
    page.get_by_role("button", name="Add root").click()
    _idle(page)
    _clean(page, "Datasets after adding a good root")
    page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').first.click()
    assert page.get_by_role("option", name="mine  ·  robomimic").count() == 1


def test_rrd_download(page, server):
    _open(page, server, "playback", dataset="robomimic")
    page.get_by_role("button", name="Prepare .rrd download").click()
    _idle(page)
    with page.expect_download() as dl:
        page.get_by_role("button", name="Download .rrd").click()
    path = dl.value.path()
    data = Path(path).read_bytes()
    assert len(data) > 1000 and data[:4] == b"RRF2"  # a Rerun recording file


def test_launch_a_job_see_it_plotted_stop_resume(page, server, world):
    from workbench.train.rundir import RunDir

    _open(page, server, "jobs", dataset="robot")
    _clean(page, "Jobs")
    page.get_by_text("Launch a run").click()
    yaml_box = page.locator("textarea").first
    text = yaml_box.input_value()
    assert "preset: smoke" in text
    lines = [("steps: 400" if ln.startswith("steps:") else ln) for ln in text.splitlines()]
    lines = [("ckpt_every: 20" if ln.startswith("ckpt_every:") else ln) for ln in lines]
    yaml_box.fill("\n".join(lines))
    page.keyboard.press("Control+Enter")
    _idle(page)
    before = {p.name for p in (world / "runs").iterdir()}
    page.get_by_role("button", name="Launch").click()
    _idle(page)
    new = {p.name for p in (world / "runs").iterdir()} - before
    assert len(new) == 1
    run_id = new.pop()
    rd = RunDir(world / "runs" / run_id)
    # plotted and picked: its id is among "Runs to plot" and is the Control target
    page.get_by_text(run_id).first.wait_for(timeout=30_000)
    deadline = time.time() + 120
    while time.time() < deadline and rd.read_status().step < 5:
        page.wait_for_timeout(1000)
    assert rd.read_status().state == "running"
    page.get_by_role("button", name="Stop").click()
    page.get_by_text("Stopped").first.wait_for(timeout=90_000)
    _idle(page)
    stopped = rd.read_status()
    assert stopped.state == "stopped", stopped
    assert page.get_by_role("button", name="Resume").is_enabled()  # no Refresh needed
    page.get_by_role("button", name="Resume").click()
    page.get_by_text("Resumed").first.wait_for(timeout=30_000)
    deadline = time.time() + 120
    while time.time() < deadline and rd.read_status().step <= stopped.step + 2:
        page.wait_for_timeout(1000)
    assert rd.read_status().step > stopped.step  # the curve continues
    page.get_by_role("button", name="Stop").click()
    page.get_by_text("Stopped").first.wait_for(timeout=90_000)
    _idle(page)
    _clean(page, "Jobs after stop and resume")
    # the config diff of the two runs names what differs (the launched run's 400 steps vs 2)
    page.get_by_role("heading", name="Config diff").wait_for(timeout=30_000)
    diff = page.locator('[data-testid="stTable"]').first.inner_text()
    assert "steps" in diff and "400" in diff, diff
    # evaluate the sidebar's run in the background, then see its results
    page.get_by_role("button", name="Quick evaluation").click()
    deadline = time.time() + 300
    while page.get_by_text("k-NN offline error").count() == 0 and time.time() < deadline:
        page.wait_for_timeout(3000)
        if page.get_by_role("button", name="Refresh").count():
            page.get_by_role("button", name="Refresh").click()
        _idle(page)
    assert page.get_by_text("k-NN offline error").count() >= 1
    _clean(page, "Jobs after a quick evaluation")
