"""One-off warm-ups (compiling numba kernels, importing heavy modules ahead of the first request)
run once per process in a daemon thread; the UMAP and DTW warm-ups are two :class:`Warmup` objects,
:func:`import_modules` a third kind."""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Sequence

__all__ = ["Warmup", "import_modules"]


class Warmup:
    """``target`` run at most once per process, in a daemon thread named ``name``."""

    def __init__(self, name: str, target: Callable[[], object]) -> None:
        self.name = name
        self._target = target
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._done = threading.Event()

    def _run(self) -> None:
        try:
            self._target()
        finally:
            self._done.set()

    def start(self, *, wait: bool = False, timeout: float | None = None) -> threading.Thread:
        """Start the thread (idempotent: later calls return the same one); ``wait`` joins it for
        up to ``timeout`` seconds."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()
            thread = self._thread
        if wait:
            thread.join(timeout)
        return thread

    def done(self) -> bool:
        """True once the target has returned (or raised)."""
        return self._done.is_set()

    def running(self) -> bool:
        """True between :meth:`start` and the target's end (False when never started)."""
        return self._thread is not None and not self._done.is_set()


def import_modules(modules: Sequence[str], name: str = "actionlens-imports") -> Warmup:
    """A :class:`Warmup` importing ``modules`` in order (not started: call ``.start()``).

    An app starts one once its first page is drawn, so the next page finds torch and the rest in
    ``sys.modules`` instead of importing them on the user's click; a page that needs a module
    still being imported waits on Python's import lock for the rest of it, never imports it twice.
    A module that fails to import is skipped (the page that needs it reports the error)."""

    def run() -> None:
        for module in modules:
            try:
                importlib.import_module(module)
            except Exception:  # noqa: BLE001 (an optional extra missing; the page that needs it says so)
                continue

    return Warmup(name, run)
