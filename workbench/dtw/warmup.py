"""Compile the DTW kernels ahead of the first request, in a background thread.

The kernels are numba functions cached on disk beside their source (``cache=True``), so a fresh
clone compiles them once: ~25 s of CPU (72 s on the shared 2-core machine under load). An app starts this
at launch so a view that needs DTW finds them ready, or shows a progress note until they are
(:func:`dtw_is_warm`), instead of blocking its first request on the compiler.
"""

from __future__ import annotations

import threading

import numpy as np

__all__ = ["dtw_is_warm", "dtw_is_warming", "warm_dtw"]

_LOCK = threading.Lock()
_THREAD: threading.Thread | None = None
_DONE = threading.Event()


def _warm() -> None:
    from workbench.dtw import dtw_path, dtw_topk, estimate_threshold, paired_dtw, pairwise_dtw

    try:
        X = np.random.default_rng(0).normal(size=(24, 8, 3))  # every kernel, with the views' argument types
        dtw_path(X[0], X[1])  # what a view needs first first
        paired_dtw(X, np.arange(4), np.arange(4)[::-1].copy())
        pairwise_dtw(X[:2], X)
        estimate_threshold(X, 5.0, n_pairs=64)
        pairwise_dtw(X)
        dtw_topk(X[:2], X, 3, strategy="brute")
        dtw_topk(X[:2], X, 3, strategy="prune")
    finally:
        _DONE.set()


def warm_dtw(*, wait: bool = False, timeout: float | None = None) -> threading.Thread:
    """Compile (or load from numba's disk cache) every DTW kernel once per process, in a daemon
    thread. Idempotent: later calls return the same thread; ``wait`` blocks until it is done."""
    global _THREAD
    with _LOCK:
        if _THREAD is None:
            _THREAD = threading.Thread(target=_warm, name="actionlens-warm-dtw", daemon=True)
            _THREAD.start()
        thread = _THREAD
    if wait:
        thread.join(timeout)
    return thread


def dtw_is_warm() -> bool:
    """True once :func:`warm_dtw` has finished in this process."""
    return _DONE.is_set()


def dtw_is_warming() -> bool:
    """True while :func:`warm_dtw`'s thread is still compiling (False when it never started: a
    DTW call then compiles what it needs itself)."""
    return _THREAD is not None and not _DONE.is_set()
