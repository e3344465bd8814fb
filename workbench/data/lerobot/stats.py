"""Feature statistics the way LeRobot computes them (``lerobot.datasets.compute_stats``, v0.4).

Per episode, every feature gets ``min, max, mean, std, count`` and the quantiles ``q01 q10 q50 q90
q99``; the dataset's ``meta/stats.json`` aggregates the episodes (count-weighted means, pooled
variance, count-weighted quantiles), which is what LeRobot's tools recompute after deleting or
merging episodes, so the two stay consistent.

* Numeric features: statistics over frames, per dimension (shape ``(D,)``; ``min``/``max`` keep the
  column's dtype). Quantiles are read off a 5000-bin histogram between min and max, linear inside
  the bin, as LeRobot estimates them.
* Images and videos: up to ~100 frames sampled evenly, downsampled when a side reaches 300 px, as
  RGB (a one-channel PNG is converted by PIL as LeRobot's loader does), statistics per channel over
  all pixels scaled to [0, 1], shape ``(3, 1, 1)``; ``count`` is the number of frames sampled.
  (LeRobot squares ``uint8`` pixels before averaging, which wraps; ``std`` here is computed in float.)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["QUANTILES", "feature_stats", "image_stats", "aggregate_stats", "sample_frame_indices", "to_json"]

QUANTILES = {"q01": 0.01, "q10": 0.10, "q50": 0.50, "q90": 0.90, "q99": 0.99}
_BINS = 5000


def _quantiles(values: np.ndarray, counts: np.ndarray | None, lo: float, hi: float) -> dict[str, float]:
    """Quantiles of one column (``values``, each seen ``counts`` times, or once) from a histogram of
    ``_BINS`` bins spanning ``[lo, hi]``, linear inside the bin."""
    edges = np.linspace(lo - 1e-10, hi + 1e-10, _BINS + 1)
    cum = np.cumsum(np.histogram(values, bins=edges, weights=counts)[0])
    out = {}
    for key, q in QUANTILES.items():
        target = q * cum[-1]
        i = int(np.searchsorted(cum, target))
        if i == 0:
            out[key] = edges[0]
        elif i >= len(cum):
            out[key] = edges[-1]
        else:
            before, inside = cum[i - 1], cum[i] - cum[i - 1]
            out[key] = edges[i] if inside == 0 else edges[i] + (target - before) / inside * (edges[i + 1] - edges[i])
    return out


def feature_stats(values: np.ndarray) -> dict[str, np.ndarray]:
    """Statistics of a numeric column ``(N, ...)`` over its N frames; every entry has shape ``(D,)``."""
    v = np.asarray(values)
    raw = v.reshape(len(v), -1)
    x = raw.astype(np.float64)
    mean = x.mean(0)
    stats = {"min": raw.min(0), "max": raw.max(0), "mean": mean, "std": x.std(0), "count": np.array([len(v)])}
    if len(v) < 2:  # LeRobot's rule for a single frame: the quantiles are the mean
        stats.update({k: mean.copy() for k in QUANTILES})
    else:
        cols = [_quantiles(x[:, j], None, x[:, j].min(), x[:, j].max()) for j in range(x.shape[1])]
        stats.update({k: np.array([c[k] for c in cols]) for k in QUANTILES})
    return stats


def sample_frame_indices(n: int) -> np.ndarray:
    """The frames LeRobot samples for image statistics: ``n`` when under 100, else ``n**0.75`` (100–10 000)."""
    k = n if n < 100 else max(100, min(int(n**0.75), 10_000))
    return np.round(np.linspace(0, n - 1, k)).astype(int)


def image_stats(frames: np.ndarray) -> dict[str, np.ndarray]:
    """Per-channel statistics of sampled RGB frames ``(n, H, W, 3) uint8``, scaled to [0, 1], shape ``(3, 1, 1)``.

    Computed from each channel's 256-value pixel counts: the same numbers as over the pixels, in one pass.
    """
    f = np.asarray(frames)
    n, h, w, c = f.shape
    if max(h, w) >= 300:
        step = int(w / 150) if w > h else int(h / 150)
        f = f[:, ::step, ::step]
    levels = np.arange(256, dtype=np.float64)
    per: dict[str, list[float]] = {k: [] for k in ("min", "max", "mean", "std", *QUANTILES)}
    for ch in range(c):
        counts = np.bincount(f[..., ch].ravel(), minlength=256)
        seen = np.flatnonzero(counts)
        mean = float((levels * counts).sum() / counts.sum())
        per["min"].append(levels[seen[0]])
        per["max"].append(levels[seen[-1]])
        per["mean"].append(mean)
        per["std"].append(float(np.sqrt(((levels - mean) ** 2 * counts).sum() / counts.sum())))
        for k, q in _quantiles(levels, counts, levels[seen[0]], levels[seen[-1]]).items():
            per[k].append(q)
    out = {k: (np.array(v) / 255.0).reshape(c, 1, 1) for k, v in per.items()}
    return {k: out[k] for k in ("min", "max", "mean", "std")} | {"count": np.array([n])} | {k: out[k] for k in QUANTILES}


def aggregate_stats(per_episode: Sequence[dict[str, dict[str, np.ndarray]]]) -> dict[str, dict[str, np.ndarray]]:
    """Pool per-episode statistics into the dataset's: exact for min/max/mean/std/count, count-weighted
    for the quantiles (as LeRobot's ``aggregate_stats``)."""
    keys = list(dict.fromkeys(k for ep in per_episode for k in ep))
    out: dict[str, dict[str, np.ndarray]] = {}
    for key in keys:
        items = [ep[key] for ep in per_episode if key in ep]
        counts = np.array([float(np.asarray(s["count"]).sum()) for s in items])
        total = counts.sum()
        means = np.stack([np.asarray(s["mean"], dtype=np.float64) for s in items])
        w = counts.reshape(-1, *([1] * (means.ndim - 1)))  # (E, 1, …) broadcasts over the feature's shape
        mean = (means * w).sum(0) / total
        var = ((np.stack([np.asarray(s["std"], dtype=np.float64) for s in items]) ** 2 + (means - mean) ** 2) * w).sum(0) / total
        agg = {
            "min": np.min(np.stack([s["min"] for s in items]), axis=0),
            "max": np.max(np.stack([s["max"] for s in items]), axis=0),
            "mean": mean,
            "std": np.sqrt(var),
            "count": np.array([int(total)]),
        }
        for q in QUANTILES:
            if all(q in s for s in items):
                agg[q] = (np.stack([np.asarray(s[q], dtype=np.float64) for s in items]) * w).sum(0) / total
        out[key] = agg
    return out


def to_json(stats: dict[str, dict[str, np.ndarray]]) -> dict:
    """Nested lists, as LeRobot writes ``stats.json`` and the ``stats/<feature>/<stat>`` columns."""
    return {k: {s: np.asarray(v).tolist() for s, v in d.items()} for k, d in stats.items()}
