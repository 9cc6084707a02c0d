"""Bootstrap CIs and paired tests (babybias.uncertainty) against analytic answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm, t

from babybias import uncertainty
from babybias.uncertainty import (
    Resampling,
    across_seeds,
    bootstrap,
    bootstrap_items,
    bootstrap_mean,
    bootstrap_sums,
    paired_bootstrap,
    paired_bootstrap_sums,
    sign_test,
)


def test_bootstrap_mean_matches_normal_approximation_of_a_proportion():
    rng = np.random.default_rng(3)
    outcomes = (rng.random(1508) < 0.55).astype(float)  # CrowS-Pairs-sized binary vector
    ci = bootstrap_mean(outcomes, scale=100, n_resamples=4000, seed=1)
    p = outcomes.mean()
    half = norm.ppf(0.975) * math.sqrt(p * (1 - p) / outcomes.size) * 100  # Wald interval, ~2.5 points
    assert ci.estimate == pytest.approx(100 * p)
    assert ci.low == pytest.approx(100 * p - half, abs=0.25)
    assert ci.high == pytest.approx(100 * p + half, abs=0.25)
    assert ci.n_items == 1508 and ci.n_resamples == 4000 and ci.level == 0.95


def test_bootstrap_is_seeded_and_generic_statistic_agrees_with_the_vectorized_mean():
    x = np.random.default_rng(0).normal(size=200)
    a = bootstrap(lambda idx: x[idx].mean(), x.size, n_resamples=500, seed=7)
    b = bootstrap(lambda idx: x[idx].mean(), x.size, n_resamples=500, seed=7)
    assert a == b
    vec = bootstrap_mean(x, n_resamples=2000, seed=7)
    assert a.low == pytest.approx(vec.low, abs=0.03) and a.high == pytest.approx(vec.high, abs=0.03)
    assert a.low < x.mean() < a.high


def test_stratified_bootstrap_keeps_every_stratum():
    labels = np.array([0] * 5 + [1] * 50)
    values = np.concatenate([np.zeros(5), np.ones(50)])

    def gap(idx):  # mean of stratum 1 minus mean of stratum 0: constant 1 when both strata are present
        return values[idx][labels[idx] == 1].mean() - values[idx][labels[idx] == 0].mean()

    ci = bootstrap(gap, values.size, n_resamples=200, strata=labels)
    assert ci.low == ci.high == 1.0


def test_paired_bootstrap_and_exact_sign_test():
    rng = np.random.default_rng(5)
    a = (rng.random(1000) < 0.6).astype(float)
    b = a.copy()
    flip = rng.choice(1000, size=80, replace=False)
    b[flip[:60]] = 0  # 60 items where only a prefers, then 20 where only b does (where a was 0)
    b[flip[60:]] = 1 - a[flip[60:]]
    result = paired_bootstrap(a, b, scale=100, n_resamples=2000, seed=0)
    a_only = int(np.sum((a == 1) & (b == 0)))
    b_only = int(np.sum((a == 0) & (b == 1)))
    assert result.a_only == a_only and result.n_discordant == a_only + b_only
    assert result.p_exact == pytest.approx(sign_test(a_only, b_only))
    assert result.difference.estimate == pytest.approx(100 * (a.mean() - b.mean()))
    assert result.difference.low < result.difference.estimate < result.difference.high
    # identical models: zero difference, no discordant items, p = 1
    same = paired_bootstrap(a, a, n_resamples=200)
    assert same.difference.estimate == 0 and same.n_discordant == 0 and same.p_exact == 1.0 and same.p_bootstrap == 1.0


def test_sign_test_exact_values():
    assert sign_test(0, 0) == 1.0
    assert sign_test(5, 0) == pytest.approx(2 * 0.5**5)
    assert sign_test(3, 3) == pytest.approx(1.0)


def test_bootstrap_rejects_bad_input():
    with pytest.raises(ValueError):
        bootstrap_mean([1.0, float("nan")])
    with pytest.raises(ValueError):
        bootstrap_mean([], n_resamples=10)
    with pytest.raises(ValueError):
        paired_bootstrap([1, 0], [1])


# ---------------------------------------------------------------- vectorized core (bootstrap_sums and friends)
def test_bootstrap_sums_draws_the_same_items_as_bootstrap_mean():
    x = (np.random.default_rng(2).random(1508) < 0.4).astype(float)
    columns = np.column_stack([x, np.ones_like(x)])
    ci = bootstrap_sums(columns, {"score": lambda s: 100 * s[:, 0] / s[:, 1]}, resampling=Resampling(seed=9))["score"]
    reference = bootstrap_mean(x, scale=100, seed=9)
    assert (ci.estimate, ci.low, ci.high) == pytest.approx((reference.estimate, reference.low, reference.high), abs=1e-9)


def test_bootstrap_items_equals_brute_force_resampling_and_chunks_do_not_change_it(monkeypatch):
    x = np.random.default_rng(4).normal(size=300)
    ratio = lambda counts: {"r": (counts @ x**2) / (counts @ np.abs(x))}  # noqa: E731 - a non-mean statistic
    got = bootstrap_items(ratio, x.size, resampling=Resampling(n_resamples=500, seed=3))["r"]
    idx = np.random.default_rng(3).integers(0, x.size, size=(500, x.size))
    brute = [np.sum(x[i] ** 2) / np.sum(np.abs(x[i])) for i in idx]
    assert got.estimate == pytest.approx(np.sum(x**2) / np.sum(np.abs(x)))
    assert (got.low, got.high) == pytest.approx(tuple(np.quantile(brute, [0.025, 0.975])), rel=1e-12)
    monkeypatch.setattr(uncertainty, "MAX_DRAWS_PER_CHUNK", 7 * x.size)  # 7 resamples per chunk
    assert bootstrap_items(ratio, x.size, resampling=Resampling(n_resamples=500, seed=3))["r"] == got


def test_stratified_counts_keep_stratum_sizes():
    strata = np.array([0] * 3 + [1] * 10 + [2] * 5)
    seen = []
    bootstrap_items(lambda c: seen.append(c) or {"s": c[:, 0]}, strata.size, strata=strata,
                    resampling=Resampling(n_resamples=50))
    counts = np.concatenate(seen[1:])  # seen[0] is the all-ones estimate
    for label, size in ((0, 3), (1, 10), (2, 5)):
        assert np.all(counts[:, strata == label].sum(axis=1) == size)


def test_paired_bootstrap_sums_agrees_with_paired_bootstrap_on_binary_outcomes():
    rng = np.random.default_rng(8)
    a, b = (rng.random(800) < 0.6).astype(float), (rng.random(800) < 0.5).astype(float)
    ones = np.ones_like(a)
    vectorized = paired_bootstrap_sums(np.column_stack([a, ones]), np.column_stack([b, ones]),
                                       lambda s: 100 * s[:, 0] / s[:, 1], resampling=Resampling(seed=2))
    loop = paired_bootstrap(a, b, scale=100, seed=2)
    assert vectorized.difference.estimate == pytest.approx(loop.difference.estimate)
    assert (vectorized.difference.low, vectorized.difference.high) == pytest.approx(
        (loop.difference.low, loop.difference.high))
    assert vectorized.p_bootstrap == pytest.approx(loop.p_bootstrap)


def test_across_seeds_is_the_student_t_interval():
    values = [51.0, 53.5, 52.2]
    summary = across_seeds(values)
    low, high = t.interval(0.95, 2, loc=np.mean(values), scale=np.std(values, ddof=1) / math.sqrt(3))
    assert summary.n_seeds == 3 and summary.sd == pytest.approx(np.std(values, ddof=1))
    assert (summary.low, summary.high) == pytest.approx((low, high))
    one = across_seeds([50.0, float("nan")])
    assert one.n_seeds == 1 and one.mean == 50.0 and math.isnan(one.sd) and math.isnan(one.low)
