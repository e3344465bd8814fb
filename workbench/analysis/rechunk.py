"""The same frames with other action chunks: another chunk kind or horizon without re-encoding.

The neighbour view (CLASS App. J.2) compares frames by the DTW of the chunks that follow them; the
chunk kind and horizon are analysis choices, not properties of the encoder, so changing them must
not cost another pass of the image encoder over the dataset. :func:`rechunk` keeps every row of an
:class:`~workbench.analysis.embeddings.Embeddings` (vectors, episode, time, …) and recomputes only
``chunks``/``chunk_mask`` from the episodes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from workbench.analysis.embeddings import Embeddings
from workbench.data.chunks import ChunkKind, episode_chunks
from workbench.data.dataset import Dataset
from workbench.types import Episode

__all__ = ["rechunk"]


def rechunk(embeddings: Embeddings, source: Dataset | Sequence[Episode], kind: ChunkKind | str, horizon: int,
            **chunk_kwargs: Any) -> Embeddings:  # fmt: skip
    """``embeddings`` with ``chunks`` (N, horizon, D) of ``kind`` following each row's frame, read
    from ``source`` (the dataset the embeddings came from), un-normalised; ``chunk_kwargs`` go to
    the chunk function (e.g. ``relative=True`` for ee chunks). Raises ValueError when an episode
    lacks the stream the kind needs."""
    kind = ChunkKind(kind)
    if isinstance(horizon, bool) or not isinstance(horizon, (int, np.integer)) or horizon < 1:
        raise ValueError(f"horizon must be a positive int, got {horizon!r}")
    if kind.value == embeddings.chunk_kind and horizon == embeddings.chunks.shape[1] and not chunk_kwargs:
        return embeddings
    values: np.ndarray | None = None
    mask = np.zeros((len(embeddings), horizon), dtype=bool)
    for e in np.unique(embeddings.episode):
        ep = source.episode(int(e)) if isinstance(source, Dataset) else next(x for x in source if x.index == int(e))
        c, m = episode_chunks(ep, kind, int(horizon), 1, **chunk_kwargs)  # (T, H, D), one chunk per step
        rows = np.flatnonzero(embeddings.episode == e)
        t = embeddings.time[rows]
        if values is None:
            values = np.zeros((len(embeddings), horizon, c.shape[-1]), dtype=np.float32)
        values[rows] = c[t]
        mask[rows] = m[t]
    if values is None:
        values = np.zeros((0, horizon, 1), dtype=np.float32)
    return dataclasses.replace(embeddings, chunks=values, chunk_mask=mask, chunk_kind=kind.value)
