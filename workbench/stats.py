"""Intervals for every number a verdict rests on: Wilson for rates, bootstrap and seed sweeps for the rest.

One module the whole project uses, so a table, a figure and a README quote the same interval:

* :func:`wilson_interval` — a success rate's score interval (Wilson 1927; Newcombe 1998, method 3),
  which stays inside [0, 1] and keeps its coverage at 0/n and n/n, where the normal approximation
  collapses to a zero-width interval;
* :func:`pooled_rate` — one rate from the summed counts of several cells (tasks), with its Wilson
  interval; valid when the cells are the same protocol at the same number of episodes;
* :func:`bootstrap_interval` — a percentile bootstrap over episodes (or any unit) of any statistic;
* :func:`seed_sweep` — mean over training seeds with a Student-t interval (seeds are few: 2–5).

Every result is a frozen :class:`Interval` (estimate, low, high, level, n) that prints as
``0.32 [0.24, 0.42]`` and serialises to a dict.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["Interval", "bootstrap_interval", "pooled_rate", "seed_sweep", "separated", "wilson_interval", "z_value"]


@dataclass(frozen=True)
class Interval:
    """An estimate with a two-sided interval at confidence ``level`` from ``n`` units."""

    estimate: float
    low: float
    high: float
    level: float = 0.95
    n: int = 0  # episodes (rates), resamples' unit count (bootstrap) or seeds (sweeps)
    method: str = ""  # "wilson", "bootstrap", "t"

    @property
    def half_width(self) -> float:
        return 0.5 * (self.high - self.low)

    def to_dict(self) -> dict:
        return asdict(self)

    def format(self, digits: int = 2, percent: bool = False) -> str:
        f = 100.0 if percent else 1.0
        d = max(0, digits - 2) if percent else digits
        unit = " %" if percent else ""
        return f"{self.estimate * f:.{d}f} [{self.low * f:.{d}f}, {self.high * f:.{d}f}]{unit}"

    def __str__(self) -> str:
        return self.format()


def z_value(level: float = 0.95) -> float:
    """The standard normal quantile for a two-sided interval at ``level`` (1.959964 for 95 %)."""
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    from scipy.stats import norm

    return float(norm.ppf(0.5 + level / 2))


def wilson_interval(successes: int, n: int, level: float = 0.95) -> Interval:
    """Wilson score interval of a binomial rate (Newcombe 1998, method 3, no continuity correction).

    centre = (p̂ + z²/2n) / (1 + z²/n),  half = z/(1 + z²/n) · sqrt(p̂(1−p̂)/n + z²/4n²).
    ``n = 0`` is refused (no episodes is not a rate).
    """
    s, n = int(successes), int(n)
    if n < 1:
        raise ValueError(f"a rate needs n >= 1 episodes, got {n}")
    if not 0 <= s <= n:
        raise ValueError(f"successes must be in 0..{n}, got {s}")
    z = z_value(level)
    p = s / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    # the exact ends: 0/n has low 0 and n/n high 1 (rounding would leave 1e-17)
    low = 0.0 if s == 0 else max(0.0, centre - half)
    high = 1.0 if s == n else min(1.0, centre + half)
    return Interval(p, low, high, level, n, "wilson")


def pooled_rate(counts: Sequence[tuple[int, int]], level: float = 0.95) -> Interval:
    """One rate over cells given as ``(successes, episodes)``: summed counts, Wilson interval.

    This is the pooled estimate of a table's row (e.g. over reach, push and pick-place at 100
    episodes each): every episode counts once, so a task with more episodes weighs more.
    """
    counts = [(int(s), int(n)) for s, n in counts]
    if not counts:
        raise ValueError("pooled_rate needs at least one (successes, episodes) cell")
    return wilson_interval(sum(s for s, _ in counts), sum(n for _, n in counts), level)


def bootstrap_interval(
    values: npt.ArrayLike,
    statistic: Callable[[npt.NDArray], float] = np.mean,
    *,
    resamples: int = 2000,
    level: float = 0.95,
    seed: int = 0,
    strata: npt.ArrayLike | None = None,
    method: str = "linear",
) -> Interval:
    """Percentile bootstrap of ``statistic`` over the first axis of ``values`` (episodes), seeded.

    The estimate is the statistic of the data itself; the ends are the (1−level)/2 and (1+level)/2
    quantiles of the statistic over ``resamples`` resamples with replacement. ``strata`` (one scalar
    label per value, e.g. an episode's task) resamples within each label, so every
    resample keeps each stratum's count and a pooled statistic keeps its weighting. ``method`` is
    numpy's quantile method: "inverted_cdf" takes order statistics, for a statistic that can be
    infinite (a ratio whose denominator resamples to 0), where interpolating would give NaN.
    """
    x = np.asarray(values)
    if len(x) < 1:
        raise ValueError("bootstrap_interval needs at least one value")
    if resamples < 1:
        raise ValueError(f"resamples must be >= 1, got {resamples}")
    rng = np.random.default_rng(seed)
    if strata is None:
        idx = rng.integers(0, len(x), size=(resamples, len(x)))
    else:
        _, labels = np.unique(np.asarray(strata), return_inverse=True)
        if len(labels) != len(x):
            raise ValueError(f"strata has {len(labels)} labels for {len(x)} values")
        members = [np.flatnonzero(labels == k) for k in range(labels.max() + 1)]
        idx = np.concatenate([m[rng.integers(0, len(m), size=(resamples, len(m)))] for m in members], axis=1)
    stats = np.array([float(statistic(x[i])) for i in idx])
    a = (1 - level) / 2
    low, high = np.quantile(stats, [a, 1 - a], method=method)
    return Interval(float(statistic(x)), float(low), float(high), level, int(len(x)), "bootstrap")


def seed_sweep(values: npt.ArrayLike | Callable[[int], float], seeds: Sequence[int] | None = None, level: float = 0.95) -> Interval:
    """Mean of a metric over training seeds with a Student-t interval: mean ± t_{n−1} · s / √n.

    ``values`` is either the per-seed numbers, or a function ``seed -> metric`` evaluated at each
    of ``seeds``. One seed gives an interval of infinite width (nothing is known about the spread).
    """
    if callable(values):
        if not seeds:
            raise ValueError("seed_sweep with a function needs the seeds to run it on")
        x = np.array([float(values(int(s))) for s in seeds], dtype=np.float64)
    else:
        x = np.asarray(values, dtype=np.float64).ravel()
    if len(x) < 1:
        raise ValueError("seed_sweep needs at least one seed's value")
    m = float(x.mean())
    if len(x) == 1:
        return Interval(m, -math.inf, math.inf, level, 1, "t")
    from scipy.stats import t as student_t

    half = float(student_t.ppf(0.5 + level / 2, len(x) - 1)) * float(x.std(ddof=1)) / math.sqrt(len(x))
    return Interval(m, m - half, m + half, level, int(len(x)), "t")


def separated(a: Interval, b: Interval) -> bool:
    """Whether two intervals do not overlap (the README's bar for "agree"/"disagree", never the
    estimates alone)."""
    return a.high < b.low or b.high < a.low
