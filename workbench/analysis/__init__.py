"""Analysis of trained representations: embeddings, 2-D projections, latent trajectories,
embedding-vs-action neighbours (with the one cosine top-k, :mod:`.similarity`) and saliency;
:class:`~workbench.analysis.run_analysis.RunAnalysis` answers each view of a run on a dataset.

Import what you need from the submodules (``from workbench.analysis.saliency import attribute``);
the names below are the common entry points.
"""

from __future__ import annotations

from workbench.analysis.embeddings import Embeddings, compute_embeddings, load_frames
from workbench.analysis.neighbours import NeighbourComparison, compare_neighbours, overlap_at_k, relative_dtw_of_neighbours
from workbench.analysis.projection import (
    PCAProjector,
    TSNEProjector,
    UMAPProjector,
    make_projector,
    project_cached,
    warm_umap,
)
from workbench.analysis.similarity import cosine_topk, top_k
from workbench.analysis.trajectories import LatentTrajectory, TrajectoryAlignment, latent_trajectories, trajectory_alignment

__all__ = [
    "Embeddings",
    "LatentTrajectory",
    "NeighbourComparison",
    "PCAProjector",
    "TSNEProjector",
    "TrajectoryAlignment",
    "UMAPProjector",
    "compare_neighbours",
    "compute_embeddings",
    "cosine_topk",
    "latent_trajectories",
    "load_frames",
    "overlap_at_k",
    "relative_dtw_of_neighbours",
    "make_projector",
    "project_cached",
    "top_k",
    "trajectory_alignment",
    "warm_umap",
]
