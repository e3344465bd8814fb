"""CLAMP's retrieval examples (App. B, Fig. 7) and Recall@k with Wilson intervals.

App. B picks validation examples so that they are diverse: "(1) the time step is a multiple of 10,
and (2) the workspace is evenly divided into a 3×3 grid, and the first object's position has not
previously appeared in any grid cell", giving 3,216 examples over 48 tasks. A cell can only be new
nine times in a whole set, so the rule must be read per task and time step; we keep an example when
its step is a multiple of ``every`` and its first object's (x, y) cell has not been kept before for
the same task and step. Recall@k on the kept examples is a rate over queries, so each comes with a
Wilson score interval.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from workbench.eval.retrieval import recall_at_k
from workbench.stats import Interval, wilson_interval
from workbench.types import Episode

__all__ = ["first_object_positions", "recall_with_intervals", "select_app_b"]


def first_object_positions(
    episodes: Mapping[int, Episode], episode_ids: npt.ArrayLike, times: npt.ArrayLike, *, state_dims: tuple[int, int] = (4, 7)
) -> npt.NDArray[np.float64]:
    """``(N, 3)`` world position of each sample's first object: ``extras["object.0"]`` when the
    episode records it, else ``state[:, state_dims]`` (metaworld's object), else NaN."""
    out = np.full((len(np.asarray(episode_ids)), 3), np.nan)
    for i, (e, t) in enumerate(zip(np.asarray(episode_ids), np.asarray(times))):
        ep = episodes[int(e)]
        if "object.0" in ep.extras:
            out[i] = np.asarray(ep.extras["object.0"])[int(t), :3]
        elif ep.state is not None and ep.state.shape[1] >= state_dims[1]:
            out[i] = ep.state[int(t), state_dims[0] : state_dims[1]]
    return out


def select_app_b(
    tasks: Sequence[str],
    times: npt.ArrayLike,
    positions: npt.ArrayLike,
    *,
    lo: Sequence[float],
    hi: Sequence[float],
    every: int = 10,
    grid: int = 3,
) -> npt.NDArray[np.int64]:
    """Indices of the App. B examples, in input order (see the module docstring).

    ``positions`` ``(N, ≥2)``: the first object's world position; its (x, y) falls into one of
    ``grid × grid`` cells of the box ``lo..hi`` (clipped to the border cells). Samples without a
    position (NaN) are never kept.
    """
    if every < 1 or grid < 1:
        raise ValueError(f"every and grid must be >= 1, got {every}, {grid}")
    times = np.asarray(times)
    pos = np.asarray(positions, dtype=np.float64)[:, :2]
    lo2, hi2 = np.asarray(lo, dtype=np.float64)[:2], np.asarray(hi, dtype=np.float64)[:2]
    cells = np.clip(np.floor((pos - lo2) / (hi2 - lo2) * grid), 0, grid - 1)
    seen: set[tuple[str, int, int, int]] = set()
    keep = []
    for i in range(len(times)):
        if times[i] % every or not np.isfinite(pos[i]).all():
            continue
        key = (str(tasks[i]), int(times[i]), int(cells[i, 0]), int(cells[i, 1]))
        if key not in seen:
            seen.add(key)
            keep.append(i)
    return np.asarray(keep, dtype=np.int64)


def recall_with_intervals(query: npt.ArrayLike, keys: npt.ArrayLike, k: int = 5) -> Interval:
    """Paired Recall@k (query ``i``'s key is key ``i``) with its 95 % Wilson interval; ``n`` is the
    number of queries (chance is ``k / n``)."""
    q = np.asarray(query)
    r = recall_at_k(q, keys, ks=(k,))[k]
    return wilson_interval(int(round(r * len(q))), len(q))
