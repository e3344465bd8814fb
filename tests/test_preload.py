"""The plotly.js preload (app/preload.py): Datasets, Latent space and Neighbours send,
before anything else, a script importing Streamlit's own PlotlyChart chunk, so the browser compiles
it while the server builds the page; Playback (no plotly) sends none."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import streamlit as st

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "app"))

import preload  # noqa: E402  (app/ is not a package: the app adds it to the path the same way)


@pytest.fixture(autouse=True)
def _restore_main_module(monkeypatch):
    main = sys.modules["__main__"]
    for k, v in {"ACTIONLENS_WARM_UMAP": "0", "ACTIONLENS_WARM_DTW": "0", "ACTIONLENS_WARM_IMPORTS": "0"}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("ACTIONLENS_ROOTS", raising=False)
    yield
    sys.modules["__main__"] = main


def test_the_installed_frontend_has_exactly_one_plotly_chunk_and_the_script_imports_it():
    [name] = preload.chunk_files()
    path = Path(st.__file__).parent / "static" / "static" / "js" / name
    assert name.startswith("PlotlyChart.") and path.stat().st_size > 1_000_000  # plotly.js itself, not a stub
    script = preload.preload_script((name,))
    assert script.startswith("<script>") and f'["{name}"]' in script and "import(" in script
    assert preload.chunk_files(("NoSuchChunk",)) == ()


def _sidebar_html(page: str | None, tmp_path, monkeypatch) -> list[str]:
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("ACTIONLENS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("ACTIONLENS_RUNS", str(tmp_path / "runs"))
    st.cache_data.clear()
    at = AppTest.from_file(str(REPO / "app" / "main.py"), default_timeout=120)
    if page:
        at.switch_page(page)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return [h.proto.body for h in at.sidebar.get("html")]


def test_datasets_sends_the_preload_first_and_playback_none(tmp_path, monkeypatch):
    [name] = preload.chunk_files()
    datasets = _sidebar_html(None, tmp_path, monkeypatch)
    assert len(datasets) == 1 and name in datasets[0], datasets
    assert _sidebar_html("app_pages/playback.py", tmp_path, monkeypatch) == []
    monkeypatch.setenv("ACTIONLENS_PRELOAD", "0")  # the switch a page-ready comparison uses
    assert _sidebar_html(None, tmp_path, monkeypatch) == []
