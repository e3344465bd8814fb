"""Compile the DTW kernels ahead of the first request, in the background.

The kernels are numba functions cached on disk beside their source (``cache=True``), so a fresh
clone compiles them once: ~25 s of CPU (72 s on the shared 2-core machine under load). An app
starts this at launch so a view that needs DTW finds them ready, or shows a progress note until
they are (:func:`dtw_is_warming`), instead of blocking its first request on the compiler. The
compile runs in a child process (numba's compiler holds the GIL: in the app's process it would
stall every page for its duration), which fills the disk cache; the app's process then loads the
kernels from it in a second or two.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np

from workbench.warmup import Warmup

__all__ = ["dtw_is_warm", "dtw_is_warming", "warm_dtw"]

_ROOT = Path(__file__).resolve().parents[2]  # the checkout the child must import workbench from


def _compile() -> None:
    """Call every kernel once on small inputs of the views' argument types."""
    from workbench.dtw import dtw_path, dtw_topk, estimate_threshold, paired_dtw, pairwise_dtw

    X = np.random.default_rng(0).normal(size=(24, 8, 3))  # every kernel, with the views' argument types
    dtw_path(X[0], X[1])  # what a view needs first first
    paired_dtw(X, np.arange(4), np.arange(4)[::-1].copy())
    pairwise_dtw(X[:2], X)
    estimate_threshold(X, 5.0, n_pairs=64)
    pairwise_dtw(X)
    dtw_topk(X[:2], X, 3, strategy="brute")
    dtw_topk(X[:2], X, 3, strategy="prune")


def _warm() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(_ROOT), os.environ.get("PYTHONPATH", "")])}
    try:  # failing here only means this process compiles below
        subprocess.run([sys.executable, "-c", "from workbench.dtw.warmup import _compile; _compile()"], env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=1800, check=False)  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        pass
    _compile()


_DTW_WARMUP = Warmup("actionlens-warm-dtw", _warm)


def warm_dtw(*, wait: bool = False, timeout: float | None = None) -> threading.Thread:
    """Compile (or load from numba's disk cache) every DTW kernel once per process, in a daemon
    thread. Idempotent: later calls return the same thread; ``wait`` blocks until it is done."""
    return _DTW_WARMUP.start(wait=wait, timeout=timeout)


def dtw_is_warm() -> bool:
    """True once :func:`warm_dtw` has finished in this process."""
    return _DTW_WARMUP.done()


def dtw_is_warming() -> bool:
    """True while :func:`warm_dtw`'s thread is still compiling (False when it never started: a
    DTW call then compiles what it needs itself)."""
    return _DTW_WARMUP.running()
