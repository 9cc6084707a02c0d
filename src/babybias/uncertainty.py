"""Uncertainty of benchmark scores: item bootstrap confidence intervals and paired tests between two models.

Every benchmark score is a statistic of per-item values (CrowS-Pairs: 1 if the stereotypical sentence is
preferred, StereoSet: per-item preferences, SEAT: per-stimulus embeddings, BLiMP: per-pair correctness).
Its uncertainty comes from the finite item sample: resample the items with replacement (Efron 1979; the
percentile interval of Efron & Tibshirani 1993, ch. 13), recompute the statistic, and read the 2.5% and
97.5% quantiles. Resampling is seeded, so a result file's interval is reproducible.

Comparisons of two models on the *same* items use paired tests: the paired bootstrap of the score
difference (resample item indices once for both models) and, for binary per-item outcomes, the exact
sign test on the items where the two models disagree (McNemar's exact test, which is that sign test).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

DEFAULT_RESAMPLES = 1000
DEFAULT_LEVEL = 0.95


@dataclass(frozen=True)
class Interval:
    """A confidence interval of one statistic: the point estimate on all items and the bootstrap bounds."""

    estimate: float
    low: float
    high: float
    level: float
    n_items: int
    n_resamples: int
    seed: int
    method: str = "percentile bootstrap over items"

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2


def _rng_indices(n_items: int, n_resamples: int, seed: int) -> np.ndarray:
    """[n_resamples, n_items] item indices drawn with replacement (the same for every statistic of one seed)."""
    return np.random.default_rng(seed).integers(0, n_items, size=(n_resamples, n_items))


def _check(n_items: int, n_resamples: int, level: float) -> None:
    if n_items < 1:
        raise ValueError("a bootstrap needs at least one item")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")


def _bounds(samples: np.ndarray, level: float) -> tuple[float, float]:
    samples = samples[np.isfinite(samples)]
    if samples.size == 0:
        return math.nan, math.nan
    alpha = (1 - level) / 2
    low, high = np.quantile(samples, [alpha, 1 - alpha])
    return float(low), float(high)


def bootstrap_mean(values: Sequence[float] | np.ndarray, *, scale: float = 1.0, n_resamples: int = DEFAULT_RESAMPLES,
                   level: float = DEFAULT_LEVEL, seed: int = 0) -> Interval:
    """CI of `scale * mean(values)` (e.g. scale=100 for a percentage of binary per-item outcomes). Vectorized."""
    x = np.asarray(values, dtype=np.float64)
    _check(x.size, n_resamples, level)
    if not np.all(np.isfinite(x)):
        raise ValueError("bootstrap_mean got non-finite per-item values")
    means = np.empty(n_resamples)
    rng = np.random.default_rng(seed)
    chunk = max(1, 4_000_000 // x.size)  # bound memory: at most ~4M indices at a time
    for start in range(0, n_resamples, chunk):
        stop = min(n_resamples, start + chunk)
        means[start:stop] = x[rng.integers(0, x.size, size=(stop - start, x.size))].mean(axis=1)
    low, high = _bounds(means * scale, level)
    return Interval(float(x.mean() * scale), low, high, level, int(x.size), n_resamples, seed)


def bootstrap(statistic: Callable[[np.ndarray], float], n_items: int, *, n_resamples: int = DEFAULT_RESAMPLES,
              level: float = DEFAULT_LEVEL, seed: int = 0, strata: Sequence | np.ndarray | None = None) -> Interval:
    """CI of any statistic of items: `statistic(indices)` gets an int array of item indices (with repeats).

    With `strata` (one label per item) items are resampled within each stratum, keeping stratum sizes fixed:
    use it where the statistic needs every group present (e.g. SEAT's four word sets, per-category scores).
    A resample on which the statistic is not finite (e.g. a ratio with a zero denominator) is left out.
    """
    _check(n_items, n_resamples, level)
    estimate = float(statistic(np.arange(n_items)))
    low, high = _bounds(_resampled(statistic, n_items, n_resamples, seed, strata), level)
    return Interval(estimate, low, high, level, n_items, n_resamples, seed)


def _resampled(statistic: Callable[[np.ndarray], float], n_items: int, n_resamples: int, seed: int,
               strata: Sequence | np.ndarray | None = None) -> np.ndarray:
    """The statistic on `n_resamples` seeded resamples of the items (within strata when given)."""
    rng = np.random.default_rng(seed)
    if strata is None:
        groups = [np.arange(n_items)]
    else:
        labels = np.asarray(strata)
        if labels.shape[0] != n_items:
            raise ValueError(f"strata has {labels.shape[0]} labels for {n_items} items")
        groups = [np.flatnonzero(labels == value) for value in dict.fromkeys(labels.tolist())]
    samples = np.empty(n_resamples)
    for r in range(n_resamples):
        idx = np.concatenate([g[rng.integers(0, g.size, size=g.size)] for g in groups])
        samples[r] = statistic(idx)
    return samples


@dataclass(frozen=True)
class PairedComparison:
    """Model A minus model B on the same items: the difference, its paired-bootstrap CI and p-values."""

    difference: Interval
    p_bootstrap: float
    """Two-sided: twice the smaller share of resampled differences on either side of 0 (capped at 1)."""
    n_discordant: int | None = None
    """Binary outcomes only: items where A and B disagree."""
    a_only: int | None = None
    """Items with outcome 1 for A and 0 for B."""
    p_exact: float | None = None
    """Exact two-sided sign test on the discordant items (= McNemar's exact test)."""

    def as_dict(self) -> dict:
        out = asdict(self)
        out["difference"] = self.difference.as_dict()
        return out


def paired_bootstrap(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, *,
                     statistic: Callable[[np.ndarray], float] | None = None, scale: float = 1.0,
                     n_resamples: int = DEFAULT_RESAMPLES, level: float = DEFAULT_LEVEL, seed: int = 0) -> PairedComparison:
    """Paired bootstrap of `stat(a) - stat(b)` over the same items (one index draw for both models).

    `a[i]` and `b[i]` must be the two models' values on item i. `statistic(values)` defaults to the mean
    times `scale`. For binary per-item outcomes the exact sign (McNemar) test is added.
    """
    xa, xb = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if xa.shape != xb.shape or xa.ndim != 1:
        raise ValueError(f"paired values must be two 1-d arrays of one length, got {xa.shape} and {xb.shape}")
    _check(xa.size, n_resamples, level)
    stat = statistic or (lambda v: float(np.mean(v) * scale))
    diffs = _resampled(lambda idx: stat(xa[idx]) - stat(xb[idx]), xa.size, n_resamples, seed)
    low, high = _bounds(diffs, level)
    interval = Interval(stat(xa) - stat(xb), low, high, level, int(xa.size), n_resamples, seed,
                        method="paired percentile bootstrap over items")
    finite = diffs[np.isfinite(diffs)]
    p_boot = min(1.0, 2 * min(float(np.mean(finite <= 0)), float(np.mean(finite >= 0)))) if finite.size else math.nan
    comparison = PairedComparison(interval, p_boot)
    if set(np.unique(np.concatenate([xa, xb])).tolist()) <= {0.0, 1.0}:
        a_only = int(np.sum((xa == 1) & (xb == 0)))
        b_only = int(np.sum((xa == 0) & (xb == 1)))
        comparison = PairedComparison(interval, p_boot, a_only + b_only, a_only, sign_test(a_only, b_only))
    return comparison


def sign_test(successes: int, failures: int) -> float:
    """Exact two-sided binomial sign test of `successes` vs `failures` at p = 1/2 (ties left out beforehand)."""
    from scipy.stats import binomtest

    n = successes + failures
    if n == 0:
        return 1.0
    return float(binomtest(successes, n, 0.5, alternative="two-sided").pvalue)
