"""workbench.stats: Wilson against published values, pooling, bootstrap and seed sweeps on known spreads."""

from __future__ import annotations

import math

import numpy as np
import pytest

from workbench.stats import Interval, bootstrap_interval, pooled_rate, seed_sweep, separated, wilson_interval


# Newcombe (1998), "Two-sided confidence intervals for the single proportion", Table I, method 3
# (Wilson score interval without continuity correction), 95 %.
@pytest.mark.parametrize(
    "s, n, low, high",
    [(81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0.0, 0.1611), (1, 29, 0.0061, 0.1718)],
)
def test_wilson_matches_newcombe_table(s, n, low, high):
    iv = wilson_interval(s, n)
    assert iv.estimate == pytest.approx(s / n)
    assert iv.low == pytest.approx(low, abs=5e-5)
    assert iv.high == pytest.approx(high, abs=5e-5)
    assert iv.method == "wilson" and iv.n == n


def test_wilson_is_symmetric_and_exact_at_the_ends():
    a, b = wilson_interval(3, 20), wilson_interval(17, 20)
    assert a.low == pytest.approx(1 - b.high) and a.high == pytest.approx(1 - b.low)
    assert wilson_interval(20, 20).high == 1.0 and wilson_interval(0, 20).low == 0.0
    # a wider level gives a wider interval
    assert wilson_interval(5, 20, 0.99).low < wilson_interval(5, 20).low


def test_wilson_refuses_impossible_counts():
    with pytest.raises(ValueError, match="n >= 1"):
        wilson_interval(0, 0)
    with pytest.raises(ValueError, match="successes"):
        wilson_interval(5, 4)


def test_wilson_coverage_near_nominal():
    # 4,000 binomial draws of 100 episodes at p = 0.3: the 95 % interval covers p in 93-97 % of them
    rng = np.random.default_rng(0)
    hits = [wilson_interval(int(k), 100).low <= 0.3 <= wilson_interval(int(k), 100).high for k in rng.binomial(100, 0.3, 4000)]
    assert 0.93 <= np.mean(hits) <= 0.97


def test_pooled_rate_sums_counts():
    iv = pooled_rate([(10, 100), (30, 100), (20, 100)])
    ref = wilson_interval(60, 300)
    assert (iv.estimate, iv.low, iv.high, iv.n) == (ref.estimate, ref.low, ref.high, 300)
    with pytest.raises(ValueError):
        pooled_rate([])


def test_seed_sweep_is_the_t_interval():
    x = [0.2, 0.4, 0.3]
    iv = seed_sweep(x)
    # t_{0.975, 2} = 4.302653; s = 0.1
    assert iv.estimate == pytest.approx(0.3)
    assert iv.half_width == pytest.approx(4.302653 * 0.1 / math.sqrt(3), rel=1e-6)
    one = seed_sweep([0.5])
    assert one.low == -math.inf and one.high == math.inf


def test_seed_sweep_on_a_toy_metric_with_known_spread():
    # metric(seed) = 1 + N(0, 0.5²): over 400 sweeps of 5 seeds, the 95 % t-interval covers 1 in 93-97 %
    def sweep(base: int) -> Interval:
        return seed_sweep(lambda s: 1.0 + 0.5 * np.random.default_rng(s).standard_normal(), seeds=range(base, base + 5))

    cover = [sweep(5 * i).low <= 1.0 <= sweep(5 * i).high for i in range(400)]
    assert 0.93 <= np.mean(cover) <= 0.97
    # and its mean half-width matches E[t·s/√n] = t_{0.975,4} · 0.5 · c4(5) / √5 (c4(5) = 0.9400)
    widths = [sweep(5 * i).half_width for i in range(400)]
    assert np.mean(widths) == pytest.approx(2.776445 * 0.5 * 0.9400 / math.sqrt(5), rel=0.06)


def test_bootstrap_interval_of_a_mean():
    rng = np.random.default_rng(1)
    x = rng.normal(2.0, 1.0, 400)
    iv = bootstrap_interval(x, resamples=2000, seed=0)
    assert iv.estimate == pytest.approx(x.mean())
    # the percentile bootstrap of a mean approaches mean ± 1.96 σ/√n (σ/√n = 0.05)
    assert iv.half_width == pytest.approx(1.96 * x.std() / 20, rel=0.1)
    assert bootstrap_interval(x, seed=0) == bootstrap_interval(x, seed=0)  # seeded


def test_bootstrap_over_episode_outcomes_agrees_with_wilson_at_large_n():
    outcomes = np.array([1] * 120 + [0] * 280)
    b, w = bootstrap_interval(outcomes, seed=0), wilson_interval(120, 400)
    assert b.low == pytest.approx(w.low, abs=0.01) and b.high == pytest.approx(w.high, abs=0.01)


def test_separated_and_format():
    assert separated(wilson_interval(10, 100), wilson_interval(60, 100))
    assert not separated(wilson_interval(10, 100), wilson_interval(15, 100))
    assert wilson_interval(32, 100).format() == "0.32 [0.24, 0.42]"
    assert wilson_interval(32, 100).format(percent=True) == "32 [24, 42] %"
