"""The Rerun web viewer embedded in a page, its time synced with the page's frame scrubber both ways.

A Streamlit component (``app/rerun_viewer.html``) hosts the viewer's JavaScript class
(:mod:`workbench.viz.rerun_web`) and moves its time cursor with ``WebViewer.set_time`` whenever
the page passes another frame; the viewer and its loaded recording stay in place between reruns.
The other way, a time the user scrubs or plays to inside the viewer (its ``time_update``,
``timeline_change``, ``play`` and ``pause`` events) comes back as the component's value, at most
twice a second and at once on pause, and reaches the page through ``on_time`` before the page's
widgets are drawn. The frame the page then shows is marked as the viewer's own (``seen``), so the
viewer does not seek back to it while the user keeps dragging: no feedback loop.
The component's files (the page, the viewer module and its Wasm) are served by the Streamlit
server itself, so the browser needs only the recording's gRPC port besides the app's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import streamlit as st
import streamlit.components.v1 as components

from workbench.atomic import atomic_write_text
from workbench.viz.rerun_web import web_viewer_assets, web_viewer_dir

_PAGE = Path(__file__).with_name("rerun_viewer.html")
#: The frame index timeline every recording of :func:`workbench.viz.rerun.log_episode` has.
TIMELINE = "frame_index"
#: Side panels folded away in the page, where the viewer has less room than in its own tab.
PANELS = {"blueprint": "collapsed", "selection": "collapsed", "time": "collapsed"}


def _component_folder() -> Path:
    page = _PAGE.read_text(encoding="utf-8")
    # keyed by the page's content: two checkouts sharing a cache each serve their own page
    folder = web_viewer_assets(web_viewer_dir() / hashlib.blake2b(page.encode(), digest_size=6).hexdigest())
    if not (folder / "index.html").is_file() or (folder / "index.html").read_text(encoding="utf-8") != page:
        atomic_write_text(folder / "index.html", page)
    return folder


_viewer = components.declare_component("rerun_viewer", path=str(_component_folder()))


@dataclass(frozen=True)
class ViewerTime:
    """Where the user put the viewer's own time cursor: a frame of :data:`TIMELINE`, and whether
    the viewer is playing on its own."""

    frame: int
    playing: bool


def _take(instance: str, on_time: Callable[[ViewerTime], None] | None) -> None:
    """The component's new value (``{frame, n, playing}`` from the page's JavaScript), to ``on_time``."""
    value = st.session_state.get(instance)
    if not isinstance(value, dict) or not isinstance(value.get("frame"), int) or not isinstance(value.get("n"), int):
        return
    st.session_state[f"{instance}-seen"] = (value["n"], value["frame"])
    if on_time is not None:
        on_time(ViewerTime(frame=max(0, value["frame"]), playing=bool(value.get("playing"))))


def rerun_viewer(grpc_url: str, frame: int, *, key: str, on_time: Callable[[ViewerTime], None] | None = None,
                 height: int = 720) -> None:  # fmt: skip
    """The viewer on the recording at ``grpc_url`` (``rerun+http://host:port/proxy``), showing ``frame``.

    A new ``grpc_url`` (another episode or option) starts a fresh viewer; a new ``frame`` only
    moves the time cursor of the one already loaded. ``on_time`` receives the time the user moved
    the viewer to (a widget callback: it runs before the page's script, so it may set the state of
    the scrubber the page draws ``frame`` from).
    """
    instance = f"{key}-{hashlib.blake2b(grpc_url.encode(), digest_size=6).hexdigest()}"
    seen = st.session_state.get(f"{instance}-seen")  # the viewer's last time the page took: (n, frame)
    _viewer(url=grpc_url, frame=int(frame), seen=seen[0] if seen is not None and seen[1] == int(frame) else None,
            timeline=TIMELINE, height=int(height), panels=PANELS, key=instance, default=None,
            on_change=partial(_take, instance, on_time))  # fmt: skip
