"""Dynamic time warping between action chunks, and the positive pairs CLASS builds from it.

- :mod:`.distance` — DTW of one pair, pairwise matrices, index pairs and exact top-k search
  (its docstring states the conventions: step costs, Sakoe–Chiba windows, peers' equivalents);
- :mod:`.positives` — CLASS positive pairs, thresholds and soft weights (§4.1–4.2, App. B);
- :mod:`.kernels` — the compiled numba kernels behind both (:mod:`.warmup` compiles them ahead of use).

Comparisons in embedding space (cosine top-k, overlap@k, relative DTW of embedding neighbours)
are analysis, not DTW: :mod:`workbench.analysis.neighbours`.
"""

from __future__ import annotations

from workbench.dtw.distance import DTWCost, dtw_distance, dtw_path, dtw_topk, paired_dtw, pairwise_dtw
from workbench.dtw.positives import (
    PositivePairs,
    ThresholdEstimate,
    estimate_threshold,
    positive_pairs,
    scale_orientation,
    soft_weights_matrix,
)
from workbench.dtw.warmup import dtw_is_warm, warm_dtw

__all__ = [
    "DTWCost",
    "PositivePairs",
    "ThresholdEstimate",
    "dtw_distance",
    "dtw_is_warm",
    "dtw_path",
    "dtw_topk",
    "estimate_threshold",
    "paired_dtw",
    "pairwise_dtw",
    "positive_pairs",
    "scale_orientation",
    "soft_weights_matrix",
    "warm_dtw",
]
