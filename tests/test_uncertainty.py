"""Bootstrap CIs and paired tests (babybias.uncertainty) against analytic answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm

from babybias.uncertainty import bootstrap, bootstrap_mean, paired_bootstrap, sign_test


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
