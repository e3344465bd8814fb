"""Analysis of trained representations: embeddings, 2-D projections, latent trajectories,
embedding-vs-action neighbours (with the one cosine top-k, :mod:`.similarity`) and saliency;
:class:`~workbench.analysis.run_analysis.RunAnalysis` answers each view of a run on a dataset.

Import what you need from the submodules (``from workbench.analysis.saliency import attribute``);
the names below are the common entry points, imported on first use (PEP 562, as in
:mod:`workbench.train`): ``import workbench.analysis`` costs nothing, and a page that needs only
the trajectories does not pay for torch (embeddings) or scikit-learn and umap (projections).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from workbench.lazy import lazy_attributes

if TYPE_CHECKING:
    from workbench.analysis.embeddings import Embeddings, compute_embeddings, load_frames
    from workbench.analysis.neighbours import NeighbourComparison, compare_neighbours, overlap_at_k, relative_dtw_of_neighbours
    from workbench.analysis.projection import PCAProjector, TSNEProjector, UMAPProjector, make_projector, project_cached, warm_umap
    from workbench.analysis.similarity import cosine_topk, top_k
    from workbench.analysis.trajectories import LatentTrajectory, TrajectoryAlignment, latent_trajectories, trajectory_alignment

_HOMES = {
    "workbench.analysis.embeddings": ("Embeddings", "compute_embeddings", "load_frames"),
    "workbench.analysis.neighbours": ("NeighbourComparison", "compare_neighbours", "overlap_at_k", "relative_dtw_of_neighbours"),
    "workbench.analysis.projection": ("PCAProjector", "TSNEProjector", "UMAPProjector", "make_projector", "project_cached", "warm_umap"),
    "workbench.analysis.similarity": ("cosine_topk", "top_k"),
    "workbench.analysis.trajectories": ("LatentTrajectory", "TrajectoryAlignment", "latent_trajectories", "trajectory_alignment"),
}
__getattr__, __all__ = lazy_attributes(__name__, _HOMES)
