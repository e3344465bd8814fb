"""The Rerun web viewer as an ES module that a page of our own embeds and drives.

``rerun.serve_web_viewer`` serves the viewer's own page on a port of its own: a page that embeds it
in an ``<iframe>`` sits on another origin and cannot reach its JavaScript, so nothing outside can
move its time cursor. The viewer's JavaScript API can: ``WebViewer.set_time``, ``get_state`` and
``override_panel_state`` drive it, and ``on(event, callback)`` reports the user's own moves
(``"time_update"`` with ``{time}``, ``"timeline_change"`` with ``{timeline, time}``, ``"play"``,
``"pause"``: the events ``rerun.notebook`` parses in ``rerun/_event.py``). That API is the
``@rerun-io/web-viewer`` package, which is also what the notebook widget of ``rerun-notebook`` — a
dependency through ``rerun-sdk[notebook]`` — is built on and what its ``Viewer.set_time_ctrl``
calls. :func:`web_viewer_assets` lays out that viewer for a page to
import: the widget's bundle with its ``WebViewer`` class exported as ``viewer.js``, and the Wasm
binary it loads from beside itself. The app's Playback page serves the folder as a Streamlit
component (``app/rerun_viewer.py``), so the viewer is fetched from the app's own address and only
the recording's gRPC port has to be reachable from the browser.

The layout depends on the bundle of the installed ``rerun-notebook``; rerun-sdk is pinned to one
minor version (pyproject.toml), and a bundle without the class is refused with a message naming it.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from pathlib import Path

from workbench.atomic import atomic_link, atomic_write_text
from workbench.paths import cache_root

__all__ = ["WASM", "MODULE", "web_viewer_assets", "web_viewer_dir"]

#: The ES module (exports ``WebViewer``) and the Wasm binary it fetches from its own folder.
MODULE = "viewer.js"
WASM = "re_viewer_bg.wasm"
_CLASS = "var WebViewer = class"  # how the bundle defines the class (esbuild output)


def _notebook_static() -> tuple[Path, str]:
    spec = importlib.util.find_spec("rerun_notebook")  # located, not imported (it pulls in ipywidgets)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("rerun-notebook is not installed: `pip install 'rerun-sdk[notebook]>=0.41,<0.42'`")
    return Path(next(iter(spec.submodule_search_locations))) / "static", importlib.metadata.version("rerun-notebook")


def web_viewer_dir() -> Path:
    """``$ACTIONLENS_CACHE/rerun-web-viewer-<version>`` or ``~/.cache/actionlens/…``: where
    :func:`web_viewer_assets` puts the viewer by default."""
    return cache_root() / f"rerun-web-viewer-{_notebook_static()[1]}"


def web_viewer_assets(folder: str | Path | None = None) -> Path:
    """``folder`` (default :func:`web_viewer_dir`) holding :data:`MODULE` and :data:`WASM`; returns it.

    ``import { WebViewer } from "./viewer.js"`` in a page served from the folder gives the viewer
    class; ``new WebViewer().start(url, element, options)`` loads the Wasm from the same folder.
    Made once: the 67 MB binary is hard-linked where the file system allows, copied otherwise, and
    each file appears whole (written beside, then renamed), so two servers starting at once are safe.
    """
    static, version = _notebook_static()
    folder = Path(folder) if folder is not None else web_viewer_dir()
    module, wasm = folder / MODULE, folder / WASM
    if module.is_file() and wasm.is_file() and wasm.stat().st_size == (static / WASM).stat().st_size:
        return folder
    bundle = (static / "widget.js").read_text(encoding="utf-8")
    if _CLASS not in bundle:
        raise RuntimeError(
            f"{static / 'widget.js'} (rerun-notebook {version}) does not define the WebViewer class as expected "
            f"({_CLASS!r}); install the version pyproject.toml pins: `pip install 'rerun-sdk[notebook]>=0.41,<0.42'`"
        )
    folder.mkdir(parents=True, exist_ok=True)
    atomic_link(static / WASM, wasm)
    atomic_write_text(module, f"{bundle}\nexport {{ WebViewer }};\n")
    return folder
