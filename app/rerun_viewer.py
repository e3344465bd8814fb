"""The Rerun web viewer embedded in a page, its time cursor following the page's frame scrubber.

A Streamlit component (``app/rerun_viewer.html``) hosts the viewer's JavaScript class
(:mod:`workbench.viz.rerun_web`) and moves its time cursor with ``WebViewer.set_time`` whenever
the page passes another frame; the viewer and its loaded recording stay in place between reruns.
The component's files (the page, the viewer module and its Wasm) are served by the Streamlit
server itself, so the browser needs only the recording's gRPC port besides the app's.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

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


def rerun_viewer(grpc_url: str, frame: int, *, key: str, height: int = 720) -> None:
    """The viewer on the recording at ``grpc_url`` (``rerun+http://host:port/proxy``), showing ``frame``.

    A new ``grpc_url`` (another episode or option) starts a fresh viewer; a new ``frame`` only
    moves the time cursor of the one already loaded.
    """
    instance = f"{key}-{hashlib.blake2b(grpc_url.encode(), digest_size=6).hexdigest()}"
    _viewer(url=grpc_url, frame=int(frame), timeline=TIMELINE, height=int(height), panels=PANELS, key=instance, default=None)
