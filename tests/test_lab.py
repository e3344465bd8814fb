"""`make lab`: JupyterLab on notebooks/ with jupytext, so the percent ``.py`` notebooks open as
notebooks. The test starts the server with the Makefile's own command line (port and token
filled in) and opens a notebook through the Jupyter server's contents API."""

from __future__ import annotations

import json
import os
import secrets
import shlex
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _lab_command(port: int, token: str) -> list[str]:
    recipe = [ln.strip() for ln in (REPO / "Makefile").read_text().splitlines() if "jupyter lab" in ln and ln.startswith("\t")]
    assert len(recipe) == 1, "the Makefile's lab target runs `jupyter lab` once"
    line = recipe[0].replace("$(VENV)/bin/jupyter", f"{sys.executable} -m jupyter").replace("$(HOST)", "127.0.0.1")
    line = line.replace("$(LAB_PORT)", str(port))
    return [*shlex.split(line), f"--IdentityProvider.token={token}", "--ServerApp.open_browser=False"]


def test_make_lab_opens_a_percent_py_file_as_a_notebook(tmp_path):
    pytest.importorskip("jupytext", reason="`make lab` installs jupytext (the lab extra)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    token = secrets.token_hex(8)
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt"), "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg")}
    proc = subprocess.Popen(_lab_command(port, token), cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}/api/contents/exploratory/datasets_tour.py?type=notebook&content=1&token={token}"
        deadline, reply = time.time() + 90, None
        while time.time() < deadline and reply is None:
            try:
                with urllib.request.urlopen(url, timeout=10) as r:
                    reply = json.loads(r.read())
            except OSError:
                time.sleep(0.5)
        assert reply is not None, "the lab server did not answer"
        assert reply["type"] == "notebook" and reply["format"] == "json"
        cells = reply["content"]["cells"]
        assert cells[0]["cell_type"] == "markdown" and "tour of the shipped datasets" in "".join(cells[0]["source"])
        assert any(c["cell_type"] == "code" and "parameters" in c["metadata"].get("tags", []) for c in cells)
        # a double-click opens it as a notebook: the overrides the lab target installs name jupytext's viewer
        overrides = json.loads((REPO / "notebooks" / "lab-overrides.json").read_text())
        assert overrides["@jupyterlab/docmanager-extension:plugin"]["defaultViewers"]["python"] == "Jupytext Notebook"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
