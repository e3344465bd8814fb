"""The Playback page in headless Chromium: the embedded Rerun viewer follows the scrubber and the play
button, the scrubber follows the viewer's own timeline, its layout, and the CLAMP virtual-views
toggle (read back from the downloaded recording).

The viewer's time is read from the viewer itself (``WebViewer.get_state`` inside the component's
frame), not from what the page asked for. The servers and helpers are tests/test_browser.py's.
"""

from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_browser import _clean, _idle, _open, browser, page, server, world  # noqa: F401 (fixtures)
from test_rerun import read_rrd

pytestmark = pytest.mark.slow

VIEWER = 'iframe[title="rerun_viewer.rerun_viewer"]'
_STATE = """async () => {
    const s = await window.actionlens.viewer.get_state();
    const rec = s.recordings.find((r) => r.store_id === s.active_store_id);
    const t = rec && rec.current_time;
    return { timeline: t ? t.timeline : null, time: t && t.time !== undefined ? Number(t.time) : null,
             views: s.views.map((v) => [v.class, v.name, v.origin]) };
}"""


def _viewer(page, timeout: float = 180.0):
    """The viewer's frame, once the viewer runs and has shown a frame the page asked for."""
    handle = page.locator(VIEWER).first
    handle.wait_for(timeout=60_000)
    frame = handle.element_handle().content_frame()
    frame.wait_for_function("window.actionlens && window.actionlens.ready && window.actionlens.applied !== null", timeout=timeout * 1000)
    return frame


def _viewer_state(frame) -> dict:
    return frame.evaluate(_STATE)


def _wait_viewer_at(frame, want: int, timeout: float = 60.0) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        s = _viewer_state(frame)
        if s["timeline"] == "frame_index" and s["time"] == want:
            return s
        time.sleep(0.2)
    raise AssertionError(f"the viewer stayed at {s['timeline']} {s['time']}, not frame_index {want}")


def _slider_value(page) -> int:
    return int(page.get_by_role("slider", name="Frame").input_value())


def _open_viewer(page):
    page.get_by_text("Open the viewer").wait_for(timeout=120_000)
    page.get_by_text("Open the viewer").click()
    return _viewer(page)


def test_play_and_pause(page, server):
    _open(page, server, "playback", dataset="robot")
    page.get_by_role("button", name="▶ Play").wait_for(timeout=120_000)
    _clean(page, "Playback")
    assert page.get_by_role("button", name="▶ Play").count() == 1  # a clear label, not a bare "|"
    page.get_by_role("button", name="▶ Play").click()
    page.get_by_role("button", name="⏸ Pause").wait_for(timeout=30_000)
    deadline = time.time() + 60
    while _slider_value(page) < 2 and time.time() < deadline:
        page.wait_for_timeout(200)
    assert _slider_value(page) >= 2  # the scrubber steps on its own
    page.get_by_role("button", name="⏸ Pause").click(no_wait_after=True)  # the page reruns on its own while playing
    page.get_by_role("button", name="▶ Play").wait_for(timeout=30_000)
    _idle(page)
    stopped = _slider_value(page)
    page.wait_for_timeout(2000)
    assert _slider_value(page) == stopped  # paused: the frame stays
    _clean(page, "Playback after play and pause")


def test_the_viewer_follows_the_scrubber_and_the_play_button(page, server):
    _open(page, server, "playback", dataset="robot")
    frame = _open_viewer(page)
    _idle(page)
    _clean(page, "Playback with the viewer")
    _wait_viewer_at(frame, 0)
    thumb = page.get_by_role("slider", name="Frame")
    thumb.focus()
    for _ in range(5):
        thumb.press("ArrowRight")
    deadline = time.time() + 30
    while _slider_value(page) != 5 and time.time() < deadline:
        page.wait_for_timeout(200)
    assert _slider_value(page) == 5
    _wait_viewer_at(frame, 5)  # the viewer's own time cursor moved with the scrubber
    # Playing, the page and the viewer both step (a software-rendered viewer in headless Chromium
    # keeps the page too busy for a prompt Pause click: test_play_and_pause pauses without it).
    page.get_by_role("button", name="▶ Play").click()
    seen: set[int] = set()
    deadline = time.time() + 120
    while len(seen) < 4 and time.time() < deadline:
        seen.add(_viewer_state(frame)["time"])
        page.wait_for_timeout(150)
    assert len(seen) >= 4, seen  # 5, then the frames the page stepped to
    assert _sent(frame) == 0  # the viewer's events for the page's own steps never went back to it


def _wait_slider_at(page, want: int, timeout: float = 60.0) -> None:
    deadline = time.time() + timeout
    while _slider_value(page) != want and time.time() < deadline:
        page.wait_for_timeout(200)
    assert _slider_value(page) == want, f"the scrubber stayed at {_slider_value(page)}, not the viewer's {want}"


def _sent(frame) -> int:
    """How many times the viewer's time went back to the page."""
    return frame.evaluate("window.actionlens.sent ? window.actionlens.sent.n : 0")


def _drag_viewer_timeline(page, start: float, stop: float) -> None:
    """A mouse drag along the viewer's own timeline (the strip at the bottom of its collapsed time
    panel, from about 0.41 to 0.88 of the viewer's width), between those fractions of the width."""
    handle = page.locator(VIEWER).first
    handle.scroll_into_view_if_needed()
    box = handle.bounding_box()
    y = box["y"] + box["height"] - 14
    page.mouse.move(box["x"] + start * box["width"], y)
    page.mouse.down()
    for f in np.linspace(start, stop, 5)[1:]:
        page.mouse.move(box["x"] + f * box["width"], y, steps=4)
    page.mouse.up()


def test_the_scrubber_follows_the_viewer(page, server):
    _open(page, server, "playback", dataset="robot")
    frame = _open_viewer(page)
    _idle(page)
    _wait_viewer_at(frame, 0)
    assert _sent(frame) == 0  # the page's own set_time is not sent back
    # The user drags the viewer's time cursor: the scrubber follows, and the page's answer does not
    # pull the viewer back (a drag sends several times; the page catches up with each).
    _drag_viewer_timeline(page, 0.41, 0.6)
    frame.wait_for_function("window.actionlens.sent !== null && window.actionlens.timer === null", timeout=30_000)
    dragged = _viewer_state(frame)["time"]
    assert 0 < dragged < 12, dragged
    _wait_slider_at(page, dragged)
    _idle(page)
    assert _viewer_state(frame)["time"] == dragged and _slider_value(page) == dragged
    _clean(page, "Playback after a drag on the viewer's timeline")
    # A jump (the same set_time the viewer's time panel drives), then no feedback loop: the
    # page's echo neither moves the viewer nor comes back again.
    target = 10 if dragged != 10 else 8
    frame.evaluate(f"() => window.actionlens.viewer.set_time({{ timeline: 'frame_index', sequence: {target}n }})")
    _wait_slider_at(page, target)
    _idle(page)
    sent = _sent(frame)
    page.wait_for_timeout(2000)
    assert _wait_viewer_at(frame, target)["time"] == target and _slider_value(page) == target and _sent(frame) == sent
    # The viewer's own keys with the viewer focused: ← steps its time back, the scrubber follows.
    page.locator(VIEWER).first.click()
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    _wait_viewer_at(frame, target - 2)
    _wait_slider_at(page, target - 2)
    # And the scrubber still drives the viewer.
    thumb = page.get_by_role("slider", name="Frame")
    thumb.focus()
    thumb.press("ArrowRight")
    _wait_slider_at(page, target - 1)
    _wait_viewer_at(frame, target - 1)
    page.wait_for_timeout(1500)
    assert _slider_value(page) == target - 1 and _viewer_state(frame)["time"] == target - 1
    # The viewer playing on its own (Space, its play key): it reports while playing, the page's
    # own play button stays off, and once paused the scrubber shows the viewer's frame.
    before = _sent(frame)
    page.locator(VIEWER).first.click()
    page.keyboard.press("Space")
    frame.wait_for_function(f"window.actionlens.log.some((v) => v.n > {before} && v.playing && v.frame !== {target - 1})", timeout=60_000)
    page.keyboard.press("Space")
    frame.wait_for_function("window.actionlens.playing === false", timeout=30_000)
    page.wait_for_timeout(1000)
    _idle(page)
    _wait_slider_at(page, _viewer_state(frame)["time"])
    assert page.get_by_role("button", name="▶ Play").count() == 1
    _clean(page, "Playback after the viewer played")


PATH_PLOT = 'iframe[title="live_plot.live_plot"]'
_MARKER = """() => {
    const g = document.getElementById("graph");
    const d = g.data[g.data.length - 1];
    return { name: d.name, xyz: [d.x[0], d.y[0], d.z[0]], canvases: g.querySelectorAll("canvas").length };
}"""


def test_a_scrubber_step_updates_the_3d_path_in_place(page, server, world):
    from workbench.data import load_dataset
    from workbench.viz.trajectory import episode_path

    path = episode_path(load_dataset(world / "data" / "robot").episode(0))
    _open(page, server, "playback", dataset="robot")
    handle = page.locator(PATH_PLOT).first
    handle.wait_for(timeout=60_000)
    plot = handle.element_handle().content_frame()
    plot.wait_for_function("window.actionlens && window.actionlens.updates >= 1", timeout=60_000)
    first = plot.evaluate(_MARKER)
    assert first["name"] == "t=0" and first["canvases"] > 0  # a 3-D (WebGL) scene
    assert np.allclose(first["xyz"], path[0], atol=1e-4)
    plot.evaluate("window.mountedOnce = true")  # gone if the step mounted a new graph (a new frame)
    thumb = page.get_by_role("slider", name="Frame")
    thumb.focus()
    for want in (1, 2, 3):
        thumb.press("ArrowRight")
        plot.wait_for_function(f"document.getElementById('graph').data.at(-1).name === 't={want}'", timeout=60_000)
        assert np.allclose(plot.evaluate(_MARKER)["xyz"], path[want], atol=1e-4)  # the marker moved along the path
    _idle(page)
    assert plot.evaluate("window.mountedOnce") is True  # the same graph, updated in place
    assert plot.evaluate("window.actionlens.error") is None
    _clean(page, "Playback after three steps")


def _rgb(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB")).astype(int)


def test_viewer_layout_frames_the_path_and_one_text_document_per_view(page, server):
    _open(page, server, "playback", dataset="robot")
    frame = _open_viewer(page)
    _wait_viewer_at(frame, 0)
    views = _viewer_state(frame)["views"]
    assert ["3D", "world", "/world"] in views
    texts = sorted(origin for cls, _, origin in views if cls == "TextDocument")
    assert texts == ["/episode/info", "/episode/instruction"]
    page.locator(VIEWER).first.scroll_into_view_if_needed()
    page.wait_for_timeout(3000)  # a few frames drawn at this time
    shot = _rgb(Image.open(io.BytesIO(page.locator(VIEWER).first.screenshot())))
    # a text view given two documents paints a pink error box ("Can only show one text document")
    pink = np.abs(shot - [253, 230, 238]).max(axis=-1) < 8
    assert pink.sum() < 2000, f"{pink.sum()} pixels of an error box"
    # the 3-D view (the top 3/5 of the right 2/3, blueprint.make_blueprint) frames the worm: the
    # ground-truth chunk's green shows in it, as a stroke, not a speck far away
    h, w = shot.shape[:2]
    world = shot[40 : int(0.55 * h), w // 3 + 10 :]
    green = np.abs(world - [40, 200, 90]).max(axis=-1) < 30
    ys, xs = np.nonzero(green)
    assert len(xs) > 50, f"{len(xs)} worm pixels in the 3-D view"
    assert max(xs.max() - xs.min(), ys.max() - ys.min()) > 0.05 * world.shape[1]


def test_virtual_views_toggle(page, server, tmp_path):
    _open(page, server, "playback", dataset="robot")  # one scene camera with depth
    assert page.get_by_text("No CLAMP virtual views").count() == 1
    assert page.get_by_text("only 'scene' has").count() == 1
    assert page.get_by_text("CLAMP virtual views", exact=True).count() == 0

    _open(page, server, "playback", dataset="metaworld")  # two scene cameras with depth
    _clean(page, "Playback on metaworld")
    toggle = page.get_by_text("CLAMP virtual views", exact=True)
    assert toggle.count() == 1

    def download() -> dict:
        page.get_by_role("button", name="Prepare .rrd download").click()
        _idle(page)
        with page.expect_download() as dl:
            page.get_by_role("button", name="Download .rrd").click()
        out = tmp_path / f"{time.time_ns()}.rrd"
        Path(dl.value.path()).replace(out)
        return read_rrd(out)

    off = download()  # off by default
    assert not any("virtual" in e for e in off)
    toggle.click()
    _idle(page)
    on = download()
    names = ("overhead", "front_left", "back_right", "wrist_left", "wrist_right")
    for name in names:
        assert f"/world/cameras/virtual_{name}/rgb" in on and f"/world/cameras/virtual_{name}/depth" in on
        assert "Pinhole:image_from_camera" in on[f"/world/cameras/virtual_{name}"].static  # the frustum
    cloud = on["/world/points/virtual_cloud"].column("Points3D:positions")
    assert len(cloud) > 10 and all(len(c) > 100 for c in cloud)  # the merged cloud at every step

    frame = _open_viewer(page)
    _wait_viewer_at(frame, 0)
    shown = {name for cls, name, _ in _viewer_state(frame)["views"] if cls == "2D"}
    assert {f"virtual_{n}" for n in names} <= shown
    _clean(page, "Playback with virtual views")
