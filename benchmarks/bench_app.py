"""Page-ready times of the app on a fresh server, as a newcomer meets them: a new ``streamlit run``
on the shipped samples, an empty per-user cache (ACTIONLENS_CACHE in a temp dir) and an empty
numba cache (NUMBA_CACHE_DIR in a temp dir: the DTW and UMAP kernels are not compiled yet, as on a
fresh clone), headless Chromium opening each page directly (its own first visit), then one
Playback scrubber step.

"Ready" = the page's title is drawn, the script has stopped running and no skeleton placeholder
is left. Each page's time runs from its ``goto`` to ready; the server's own start (until its port
answers, before any page is asked for) is reported on its own row, so the first page's time holds
everything the app does for a new user's first request (its imports, opening the dataset). Whatever the shipped runs carry in their ``embeddings/`` folders (see
scripts/precompute_samples.py) is used, as on a fresh clone.

    MUJOCO_GL=egl python benchmarks/bench_app.py [--repeat 1] [--floor]

``--floor`` also measures, the same way on its own fresh server, a reference app with nothing of
ours in it: a page with only a title, and a page with a title and one 2,000-point plotly chart.
Their times are the framework's floor in this harness (Streamlit's frontend, plotly.js), against
which the app's pages are read.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PAGES = (("", "Datasets"), ("playback", "Playback"), ("latent", "Latent space"), ("neighbours", "Neighbours"),
         ("saliency", "Saliency"), ("jobs", "Jobs"))  # fmt: skip
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run", "--disable-sync"]  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ready(page, title: str, timeout: float = 600.0) -> None:
    page.get_by_role("heading", name=title).first.wait_for(timeout=timeout * 1000)
    deadline, quiet = time.time() + timeout, 0
    while time.time() < deadline and quiet < 3:
        busy = page.locator('[data-testid="stStatusWidget"]').count() + page.locator('[data-testid="stSkeleton"]').count()
        quiet = quiet + 1 if busy == 0 else 0
        page.wait_for_timeout(100)


FLOOR_APP = '''import streamlit as st

def bare():
    st.title("Bare page")

def chart():
    import numpy as np
    import plotly.graph_objects as go
    st.title("One plotly chart")
    x = np.random.default_rng(0).normal(size=(2000, 2))
    st.plotly_chart(go.Figure(go.Scatter(x=x[:, 0], y=x[:, 1], mode="markers")))

st.navigation([st.Page(bare, title="Bare page", url_path="bare"), st.Page(chart, title="One plotly chart", url_path="chart")]).run()
'''
FLOOR_PAGES = (("bare", "Bare page"), ("chart", "One plotly chart"))


def measure(chromium: str, app: Path | None = None, pages: tuple[tuple[str, str], ...] = PAGES) -> dict[str, float]:
    from playwright.sync_api import sync_playwright

    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        port = _free_port()
        t_start = time.time()
        env = {**os.environ, "ACTIONLENS_CACHE": tmp, "ACTIONLENS_RUNS": str(Path(tmp) / "runs"), "MUJOCO_GL": "egl",
               "NUMBA_CACHE_DIR": str(Path(tmp) / "numba")}  # fmt: skip
        server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(app or REPO / "app" / "main.py"), "--server.port", str(port),
                                   "--server.address", "127.0.0.1", "--server.headless", "true"],
                                  cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            while socket.socket().connect_ex(("127.0.0.1", port)) != 0:
                time.sleep(0.2)
            out["Server start (until its port answers)"] = time.time() - t_start
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium, headless=True, args=ARGS)
                for path, title in pages:
                    page = browser.new_page(viewport={"width": 1400, "height": 1000})
                    t0 = time.time()
                    page.goto(f"http://127.0.0.1:{port}/{path}")
                    _ready(page, title)
                    out[title] = time.time() - t0
                    print(f"{title}: {out[title]:.1f} s", file=sys.stderr, flush=True)
                    if path == "playback":
                        slider = page.get_by_role("slider").first
                        slider.focus()
                        t0 = time.time()
                        page.keyboard.press("ArrowRight")
                        _ready(page, title)
                        out["Playback scrubber step"] = time.time() - t0
                    page.close()
                browser.close()
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:  # a background job (a compile, t-SNE) still running
                server.kill()
                server.wait()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description="page-ready times of a fresh app server")
    ap.add_argument("--repeat", type=int, default=1, help="fresh servers to measure (each starts cold)")
    ap.add_argument("--floor", action="store_true", help="also measure a reference app with nothing of ours in it")
    args = ap.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        print("chromium is missing (scripts/ensure-system-deps.sh installs it)", file=sys.stderr)
        return 2
    runs = [measure(chromium) for _ in range(args.repeat)]
    if args.floor:
        with tempfile.TemporaryDirectory() as tmp:
            ref = Path(tmp) / "floor.py"
            ref.write_text(FLOOR_APP)
            for r in runs:
                r.update({f"Reference: {k}": v for k, v in measure(chromium, ref, FLOOR_PAGES).items() if k in dict(FLOOR_PAGES).values()})
    print(f"| page | ready (s){' per server' if args.repeat > 1 else ''} |\n|---|---|")
    for name in runs[0]:
        print(f"| {name} | {' · '.join(f'{r[name]:.1f}' for r in runs)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
