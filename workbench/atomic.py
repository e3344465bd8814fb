"""Atomic file writes: write to a temporary file beside the target, then rename over it.

Readers (the app, a resumed job) never see half a file, and a crash leaves the previous version
intact. Every writer of checkpoints, results, caches and metadata in the workbench goes through here.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_link", "atomic_path", "atomic_write_text"]


@contextmanager
def atomic_path(path: str | Path, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path``, on error it is removed.

    ``suffix`` matters for writers that insist on an extension (``np.savez`` adds ``.npz``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically, flushed to disk before the rename."""
    with atomic_path(path) as tmp:
        with open(tmp, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())


def atomic_link(source: str | Path, path: str | Path) -> None:
    """``path`` as a hard link to ``source`` where the file system allows, a copy otherwise;
    either way it appears whole (made beside, then renamed), so two processes at once are safe."""
    import shutil

    with atomic_path(path) as staged:
        staged.unlink()  # the link (or copy) takes the staged name itself
        try:
            os.link(source, staged)
        except OSError:  # another file system, or links not allowed
            shutil.copyfile(source, staged)
