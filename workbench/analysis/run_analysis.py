"""A trained run looked at on one dataset: each analysis view is one call on one object.

:class:`RunAnalysis` holds the :class:`~workbench.train.run.TrainedRun`, the opened dataset and —
once a view needs them — the run's embeddings of every ``stride``-th frame, so along one chain
the dataset is opened once and the image encoder runs once (the embeddings are also cached on
disk, :func:`~workbench.analysis.embeddings.compute_embeddings`). The app keeps one per
(run, dataset, stride) in its resource cache and asks it one question per view:

* :meth:`projection` — 2-D t-SNE / UMAP / PCA of the embeddings (CLASS Fig. 13, CLAP Fig. 9);
* :meth:`alignment` — how well the latent trajectories of a task line up (CLASS App. J.1);
* :meth:`neighbours`, :meth:`dtw_threshold`, :meth:`dtw_row` — embedding vs DTW neighbours and the
  K % positive threshold (CLASS §4.1, App. J.2);
* :meth:`saliency`, :meth:`randomisation` — saliency overlays of chosen frames and the
  model-randomisation check (CAIP Fig. 1/4).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from workbench.analysis.embeddings import Embeddings, compute_embeddings
from workbench.analysis.neighbour_table import SHIPPED_TABLES, NeighbourTable, load_neighbour_table, neighbour_table_key
from workbench.analysis.neighbours import NeighbourComparison, compare_neighbours, neighbours_from_table
from workbench.analysis.projection import make_projector, project_cached, stored_projection
from workbench.analysis.rechunk import rechunk
from workbench.analysis.run_saliency import (
    NATIVE_MAPS,
    FrameSamples,
    SaliencyPanel,
    frame_samples,
    randomisation_score,
    run_saliency,
    saliency_target,
    target_kind,
)
from workbench.analysis.trajectories import TrajectoryAlignment, trajectory_alignment
from workbench.data.dataset import Dataset
from workbench.dtw import estimate_threshold, pairwise_dtw
from workbench.train.run import TrainedRun

__all__ = ["RunAnalysis"]


@dataclass
class RunAnalysis:
    """``run`` on ``dataset`` (see the module docstring); ``cache_dir`` is where embeddings are cached."""

    run: TrainedRun
    dataset: Dataset
    stride: int = 1
    cache_dir: str | Path | None = None
    _rechunked: dict[tuple[str, int], Embeddings] = field(default_factory=dict, repr=False)

    @cached_property
    def embeddings(self) -> Embeddings:
        """Every ``stride``-th frame embedded by the run (its own chunk kind and horizon)."""
        return compute_embeddings(self.run, self.dataset, stride=self.stride, cache_dir=self.cache_dir)

    def rechunked(self, kind: str, horizon: int) -> Embeddings:
        """The embeddings with chunks of ``kind`` and ``horizon`` (no re-encoding)."""
        key = (str(kind), int(horizon))
        if key not in self._rechunked:
            self._rechunked[key] = rechunk(self.embeddings, self.dataset, kind, horizon)
        return self._rechunked[key]

    # -- latent space ---------------------------------------------------------------------------
    @property
    def _projections_dir(self) -> Path | None:
        # beside the run's embeddings (keyed by the vectors' bytes), so the shipped samples carry them
        return self.run.run_dir / "embeddings" / "projections" if self.run.run_dir and self.cache_dir is None else None

    def projection(self, projector: str) -> npt.NDArray[np.float32]:
        """(N, 2) projection of the embeddings by ``projector`` ("tsne", "umap", "pca"), seeded."""
        return project_cached(make_projector(projector, random_state=0), self.embeddings.vectors, cache_dir=self._projections_dir)

    def stored_projection(self, projector: str) -> npt.NDArray[np.float32] | None:
        """:meth:`projection` when it is on disk already (shipped or computed before), else None."""
        return stored_projection(make_projector(projector, random_state=0), self.embeddings.vectors, cache_dir=self._projections_dir)

    def alignment(self) -> TrajectoryAlignment:
        e = self.embeddings
        return trajectory_alignment(e.vectors, e.episode, e.task, e.progress)

    # -- neighbours -------------------------------------------------------------------------------
    def neighbours(self, row: int, k: int, *, kind: str, horizon: int, window: int | None, cost: str,
                   other_episodes: bool, n_random: int = 256) -> NeighbourComparison:  # fmt: skip
        """Embedding vs DTW neighbours of row ``row`` (chunks of ``kind`` / ``horizon``)."""
        return compare_neighbours(self.rechunked(kind, horizon), [row], k, exclude_same_episode=other_episodes,
                                  window=window, cost=cost, n_random=n_random)  # fmt: skip

    def neighbour_table(self, *, kind: str, horizon: int, window: int | None, cost: str,
                        folder: str | Path | None = None) -> NeighbourTable | None:  # fmt: skip
        """The precomputed DTW table of these chunks (:mod:`~workbench.analysis.neighbour_table`)
        when ``folder`` (default: the shipped samples' tables) holds one for their content, else
        None (compute live)."""
        key = self.neighbour_table_key(kind=kind, horizon=horizon, window=window, cost=cost)
        return load_neighbour_table(SHIPPED_TABLES if folder is None else folder, key)

    def neighbour_table_key(self, *, kind: str, horizon: int, window: int | None, cost: str) -> str:
        """The content key of the DTW table of these chunks (what :meth:`neighbour_table` looks up
        and scripts/precompute_samples.py writes under)."""
        emb = self.rechunked(kind, horizon)
        return neighbour_table_key(emb.chunks, emb.episode, window=window, cost=cost)

    def table_neighbours(self, row: int, k: int, table: NeighbourTable, *, kind: str, horizon: int) -> NeighbourComparison:
        """:meth:`neighbours` among other episodes from ``table`` (no DTW computed; no relative DTW)."""
        return neighbours_from_table(self.rechunked(kind, horizon), [row], k, table)

    def dtw_threshold(self, *, kind: str, horizon: int, window: int | None, cost: str, quantile: float,
                      n_pairs: int = 20_000) -> float:  # fmt: skip
        """CLASS's K % positive threshold estimated from ``n_pairs`` random pairs (App. B)."""
        chunks = self.rechunked(kind, horizon).chunks
        return estimate_threshold(chunks, quantile, n_pairs=n_pairs, window=window, cost=cost).threshold

    def dtw_row(self, row: int, *, kind: str, horizon: int, window: int | None, cost: str) -> npt.NDArray[np.float64]:
        """DTW from row ``row``'s chunk to every row's chunk."""
        chunks = self.rechunked(kind, horizon).chunks
        return pairwise_dtw(chunks[row : row + 1], chunks, window=window, cost=cost)[0]

    # -- saliency -------------------------------------------------------------------------------
    def frames(self, refs: Sequence[tuple[int, int]], text: str | None = None) -> FrameSamples:
        """The frames ``refs`` as the run saw them; ``text`` replaces their instruction."""
        samples = frame_samples(self.run, self.dataset, refs)
        return samples.with_text(text) if text is not None else samples

    def saliency(self, refs: Sequence[tuple[int, int]], names: Sequence[str], *,
                 text: str | None = None) -> tuple[npt.NDArray[np.uint8], tuple[str, ...], SaliencyPanel]:  # fmt: skip
        """``(frames (B, S, S, 3), their texts, the maps and overlays of names)``."""
        samples = self.frames(refs, text)
        target = None
        if any(n not in NATIVE_MAPS for n in names):
            emb = self.embeddings if target_kind(self.run.method) == "prototype" else None
            target = saliency_target(self.run.method, samples, embeddings=emb)
        return samples.display, samples.texts, run_saliency(self.run.method, samples, target, names)

    def randomisation(self, refs: Sequence[tuple[int, int]], name: str, *, text: str | None = None) -> Any:
        """The model-parameter randomisation check of map ``name`` on the frames ``refs``."""
        samples = self.frames(refs, text)
        emb = self.embeddings if target_kind(self.run.method) == "prototype" else None
        return randomisation_score(self.run.method, samples, name, embeddings=emb)
