"""Where the workbench keeps what it can recompute: one per-user cache root for every consumer."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_root"]


def cache_root() -> Path:
    """``$ACTIONLENS_CACHE``, or ``~/.cache/actionlens``: the folder under which embeddings,
    projections, rendered views and the served viewer assets are cached."""
    root = os.environ.get("ACTIONLENS_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "actionlens"
