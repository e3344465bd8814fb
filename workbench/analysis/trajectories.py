"""Latent trajectories: each episode's frames as an ordered path through embedding space, and a
number for how well the paths of different demonstrations of one task line up.

CLASS App. J.1 (Fig. 13) shows t-SNE projections of the per-frame representations with one spline
per episode: under CLASS the demonstrations "align and overlap in latent space", under behaviour
cloning they show "little overlap". :func:`trajectory_alignment` turns that picture into numbers.

The alignment score
-------------------
For every frame ``i`` (embedding ``z_i``, episode ``e``, task ``τ``) let

* ``d_nn(i)`` = min ‖z_i − z_j‖ over frames ``j`` of the *other* episodes of task ``τ`` — how close
  the nearest other demonstration passes;
* ``d_rand(i)`` = mean ‖z_i − z_j‖ over the same frames — the distance to a random frame of another
  demonstration of the task (the random baseline, computed exactly rather than sampled).

``score = 1 − mean_i d_nn(i) / mean_i d_rand(i)``. It is 1 when every frame lies on another
demonstration (the trajectories overlap) and falls to 0 as the nearest other demonstration is no
closer than a random frame of it (separate, non-overlapping trajectories). It is invariant to the
scale of the embedding, so it compares methods whose embeddings differ in spread.

Overlap alone does not say the demonstrations are *in step*; ``progress_score`` does:
``1 − mean |p_i − p_nn(i)| / mean |p_i − p_j|`` with ``p = t / (T − 1)`` the episode progress of a
frame and ``nn(i)`` its nearest frame in another episode of the task — 1 when the nearest other
demonstration is at the same stage of the task, ≈ 0 when the match is at a random stage.
Both are computed in whatever space is given: the full embedding (preferred; t-SNE distorts
distances) or a 2-D projection.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.ndimage import gaussian_filter1d

__all__ = ["LatentTrajectory", "TrajectoryAlignment", "latent_trajectories", "trajectory_alignment"]


@dataclass(frozen=True)
class LatentTrajectory:
    """One episode's path: ``points`` (T, d) in time order, ``time`` (T,) increasing, and
    ``sample_ids`` (T,) the rows of the embeddings they came from (for app selection)."""

    episode: int
    task: str
    camera_setup: str
    time: npt.NDArray[np.int64]
    points: npt.NDArray[np.float32]
    sample_ids: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return int(self.time.shape[0])


def latent_trajectories(
    points: npt.ArrayLike,
    episode: npt.ArrayLike,
    time: npt.ArrayLike,
    *,
    task: npt.ArrayLike | None = None,
    camera_setup: npt.ArrayLike | None = None,
    smooth: float = 0.0,
) -> list[LatentTrajectory]:
    """Group per-frame ``points`` (N, d) by ``episode`` and order each group by ``time``.

    ``smooth`` is the standard deviation, in steps, of a Gaussian filter along each path (0 = raw
    points); it smooths positions only, so the time order and the sample ids are kept. Episodes come
    out in increasing episode index.
    """
    p = np.asarray(points, dtype=np.float32)
    ep = np.asarray(episode)
    t = np.asarray(time)
    n = p.shape[0] if p.ndim == 2 else -1
    if p.ndim != 2 or ep.shape != (n,) or t.shape != (n,):
        raise ValueError(f"points must be (N, d) with episode and time (N,), got {p.shape}, {ep.shape}, {t.shape}")
    if smooth < 0:
        raise ValueError(f"smooth must be >= 0, got {smooth}")
    tasks = np.asarray(task) if task is not None else np.full(n, "", dtype=np.str_)
    setups = np.asarray(camera_setup) if camera_setup is not None else np.full(n, "", dtype=np.str_)
    out = []
    for e in np.unique(ep):
        rows = np.flatnonzero(ep == e)
        rows = rows[np.argsort(t[rows], kind="stable")]
        pts = p[rows]
        if smooth > 0 and len(rows) > 1:
            pts = gaussian_filter1d(pts, smooth, axis=0, mode="nearest").astype(np.float32)
        out.append(LatentTrajectory(int(e), str(tasks[rows[0]]), str(setups[rows[0]]), t[rows].astype(np.int64),
                                    pts, rows.astype(np.int64)))  # fmt: skip
    return out


@dataclass(frozen=True)
class TrajectoryAlignment:
    """How well the demonstrations of each task line up (see the module docstring)."""

    score: float  # 1 − mean d_nn / mean d_rand over all frames
    progress_score: float  # 1 − mean |Δprogress| of nearest matches / that of random pairs
    nn_distance: float  # mean d_nn
    random_distance: float  # mean d_rand
    per_task: dict[str, float]  # score per task
    per_frame_nn: npt.NDArray[np.float64]  # (N,) d_nn (NaN for a task with a single episode)


def trajectory_alignment(
    vectors: npt.ArrayLike,
    episode: npt.ArrayLike,
    task: npt.ArrayLike | None = None,
    progress: npt.ArrayLike | None = None,
) -> TrajectoryAlignment:
    """Cross-episode alignment of per-frame ``vectors`` (N, d) within each task.

    ``progress`` (N,) in [0, 1] is each frame's stage in its episode (``Embeddings.progress``); when
    None, ``progress_score`` is NaN. Tasks with a single episode are skipped; at least one task
    needs two episodes.
    """
    z = np.asarray(vectors, dtype=np.float64)
    ep = np.asarray(episode)
    n = z.shape[0] if z.ndim == 2 else -1
    if z.ndim != 2 or ep.shape != (n,):
        raise ValueError(f"vectors must be (N, d) and episode (N,), got {z.shape} and {ep.shape}")
    if not np.isfinite(z).all():
        raise ValueError("vectors contain NaN or infinite values")
    tasks = np.asarray(task) if task is not None else np.zeros(n, dtype=np.int64)
    prog = None if progress is None else np.asarray(progress, dtype=np.float64)
    if tasks.shape != (n,) or (prog is not None and prog.shape != (n,)):
        raise ValueError("task and progress must be (N,) like episode")
    d_nn = np.full(n, np.nan)
    d_rand = np.full(n, np.nan)
    dp_nn = np.full(n, np.nan)
    dp_rand = np.full(n, np.nan)
    per_task: dict[str, float] = {}
    for tau in np.unique(tasks):
        rows = np.flatnonzero(tasks == tau)
        if len(np.unique(ep[rows])) < 2:
            continue
        zt, et = z[rows], ep[rows]
        sq = (zt**2).sum(1)
        d = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2.0 * zt @ zt.T, 0.0))  # (n_τ, n_τ)
        other = et[:, None] != et[None, :]
        d_masked = np.where(other, d, np.inf)
        nn = d_masked.argmin(1)
        d_nn[rows] = d_masked[np.arange(len(rows)), nn]
        d_rand[rows] = (d * other).sum(1) / other.sum(1)
        per_task[str(tau)] = float(1.0 - d_nn[rows].mean() / max(d_rand[rows].mean(), 1e-12))
        if prog is not None:
            pt = prog[rows]
            dp = np.abs(pt[:, None] - pt[None, :])
            dp_nn[rows] = dp[np.arange(len(rows)), nn]
            dp_rand[rows] = (dp * other).sum(1) / other.sum(1)
    valid = ~np.isnan(d_nn)
    if not valid.any():
        raise ValueError("no task has two or more episodes; alignment needs at least two demonstrations of a task")
    nn_mean, rand_mean = float(d_nn[valid].mean()), float(d_rand[valid].mean())
    score = 1.0 - nn_mean / max(rand_mean, 1e-12)
    pscore = float("nan") if prog is None else 1.0 - float(dp_nn[valid].mean()) / max(float(dp_rand[valid].mean()), 1e-12)
    return TrajectoryAlignment(score=float(score), progress_score=pscore, nn_distance=nn_mean, random_distance=rand_mean,
                               per_task=per_task, per_frame_nn=d_nn)  # fmt: skip
