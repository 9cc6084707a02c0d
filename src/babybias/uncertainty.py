"""Uncertainty of benchmark scores: item bootstrap confidence intervals and paired tests between two models.

Every benchmark score is a statistic of per-item values (CrowS-Pairs: 1 if the stereotypical sentence is
preferred, StereoSet: per-item preferences, SEAT: per-stimulus embeddings, BLiMP: per-pair correctness).
Its uncertainty comes from the finite item sample: resample the items with replacement (Efron 1979; the
percentile interval of Efron & Tibshirani 1993, ch. 13), recompute the statistic, and read the 2.5% and
97.5% quantiles. Resampling is seeded, so a result file's interval is reproducible.

Comparisons of two models on the *same* items use paired tests: the paired bootstrap of the score
difference (resample item indices once for both models) and, for binary per-item outcomes, the exact
sign test on the items where the two models disagree (McNemar's exact test, which is that sign test).

Vectorized forms: a resample is a vector of item multiplicities (how often each item was drawn), so a
statistic of the items is a function of a `(resamples, items)` count matrix (`bootstrap_items`), and every
benchmark score here is a function of *weighted item sums* (`bootstrap_sums`: counts @ per-item columns).
Both draw the same item indices as `bootstrap_mean` for one seed. Across training seeds (few values, not
items) `across_seeds` gives the mean, the sample sd and Student's t interval.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
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


def level_label(level: float) -> str:
    """A confidence level as people write it: 0.95 -> "95%", 0.995 -> "99.5%"."""
    return f"{100 * level:g}%"


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
    groups = _strata_groups(n_items, strata)
    samples = np.empty(n_resamples)
    for r in range(n_resamples):
        idx = np.concatenate([g[rng.integers(0, g.size, size=g.size)] for g in groups])
        samples[r] = statistic(idx)
    return samples


def _strata_groups(n_items: int, strata: Sequence | np.ndarray | None) -> list[np.ndarray]:
    """Item indices of each stratum, in first-seen order (all items when `strata` is None)."""
    if strata is None:
        return [np.arange(n_items)]
    labels = np.asarray(strata)
    if labels.shape[0] != n_items:
        raise ValueError(f"strata has {labels.shape[0]} labels for {n_items} items")
    return [np.flatnonzero(labels == value) for value in dict.fromkeys(labels.tolist())]


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
    p_boot = _p_two_sided(diffs)
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


# ---------------------------------------------------------------- vectorized: statistics of item multiplicities
MAX_DRAWS_PER_CHUNK = 4_000_000
"""Item draws held in memory at once (as in `bootstrap_mean`): resamples are processed in chunks."""


@dataclass(frozen=True)
class Resampling:
    """How intervals are drawn: `n_resamples` item resamples, confidence `level`, `seed` (all recorded)."""

    n_resamples: int = DEFAULT_RESAMPLES
    level: float = DEFAULT_LEVEL
    seed: int = 0

    def __post_init__(self) -> None:
        _check(1, self.n_resamples, self.level)


def _count_chunks(n_items: int, resampling: Resampling, strata=None):
    """Yield `(r, n_items)` float matrices of item multiplicities, r resamples at a time.

    Row k counts how often each item was drawn in resample k (within its stratum when `strata` is given,
    so stratum sizes stay fixed). Without strata the draws are those of `bootstrap_mean` for the same seed.
    """
    rng = np.random.default_rng(resampling.seed)
    groups = _strata_groups(n_items, strata)
    chunk = max(1, MAX_DRAWS_PER_CHUNK // n_items)
    for start in range(0, resampling.n_resamples, chunk):
        rows = min(chunk, resampling.n_resamples - start)
        idx = np.concatenate([g[rng.integers(0, g.size, size=(rows, g.size))] for g in groups], axis=1)
        flat = (idx + (np.arange(rows) * n_items)[:, None]).ravel()
        yield np.bincount(flat, minlength=rows * n_items).reshape(rows, n_items).astype(np.float64)


StatisticsOfCounts = Callable[[np.ndarray], Mapping[str, np.ndarray]]
"""`counts (k, n_items) -> {name: (k,) values}`: one or more statistics of k weighted copies of the items."""


def resample_items(statistics: StatisticsOfCounts, n_items: int, *, strata=None,
                   resampling: Resampling = Resampling()) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """The statistics on all items (every weight 1) and on each resample: `(estimates, samples)`.

    `samples[name]` has one value per resample (NaN/inf where the statistic is undefined on that resample).
    """
    _check(n_items, resampling.n_resamples, resampling.level)
    with np.errstate(divide="ignore", invalid="ignore"):
        full = statistics(np.ones((1, n_items)))
        estimates = {k: float(np.asarray(v, dtype=np.float64).reshape(-1)[0]) for k, v in full.items()}
        parts = [statistics(counts) for counts in _count_chunks(n_items, resampling, strata)]
    samples = {k: np.concatenate([np.asarray(p[k], dtype=np.float64).reshape(-1) for p in parts]) for k in estimates}
    return estimates, samples


def interval_of(estimate: float, samples: np.ndarray, n_items: int, resampling: Resampling,
                method: str = "percentile bootstrap over items") -> Interval:
    """Percentile interval of resampled values (non-finite ones left out) around the full-sample estimate."""
    low, high = _bounds(np.asarray(samples, dtype=np.float64), resampling.level)
    if not math.isfinite(estimate):
        low = high = math.nan
    return Interval(float(estimate), low, high, resampling.level, int(n_items), resampling.n_resamples,
                    resampling.seed, method)


def bootstrap_items(statistics: StatisticsOfCounts, n_items: int, *, strata=None,
                    resampling: Resampling = Resampling()) -> dict[str, Interval]:
    """Percentile CIs of several statistics computed from the *same* resamples (vectorized over resamples)."""
    estimates, samples = resample_items(statistics, n_items, strata=strata, resampling=resampling)
    return {name: interval_of(estimates[name], samples[name], n_items, resampling) for name in estimates}


def _n_rows(columns) -> int:
    return int(columns.shape[0])


def weighted_sums(counts: np.ndarray, columns) -> np.ndarray:
    """`counts (k, n) @ columns (n, m)` -> (k, m); `columns` may be a dense array or a scipy sparse matrix."""
    if hasattr(columns, "tocsr"):  # scipy sparse: (m, n) @ (n, k), then back to (k, m)
        return np.asarray(columns.T @ counts.T).T
    return counts @ np.asarray(columns, dtype=np.float64)


SumsStatistics = Mapping[str, Callable[[np.ndarray], np.ndarray]] | Callable[[np.ndarray], Mapping[str, np.ndarray]]
"""Statistics of weighted column sums `(k, m)`: {name: sums -> (k,) values}, or one function sums -> {name: values}
(when several numbers share intermediate results, as StereoSet's LMS, SS and ICAT do)."""


def sums_statistics(columns, statistics: SumsStatistics) -> StatisticsOfCounts:
    """Turn statistics of weighted column sums into statistics of item counts."""
    def of_counts(counts: np.ndarray) -> Mapping[str, np.ndarray]:
        sums = weighted_sums(counts, columns)
        if not isinstance(statistics, Mapping):
            return statistics(sums)
        return {name: fn(sums) for name, fn in statistics.items()}

    return of_counts


def bootstrap_sums(columns, statistics: SumsStatistics, *, strata=None,
                   resampling: Resampling = Resampling()) -> dict[str, Interval]:
    """CIs of statistics that are functions of per-item column sums (means, ratios, per-group rates...).

    `columns` is `(n_items, m)` (dense or scipy sparse): per-item values, e.g. `[is_biased, is_decided, 1]`.
    Each statistic maps sums `(k, m)` to `(k,)`, e.g. `lambda s: 100 * s[:, 0] / s[:, 2]`: it is evaluated
    on the plain column sums (the estimate) and on the count-weighted sums of every resample. Exactly the
    statistic recomputed on resampled items, since every score here depends on the items through such sums.
    """
    return bootstrap_items(sums_statistics(columns, statistics), _n_rows(columns), strata=strata,
                           resampling=resampling)


def _p_two_sided(differences: np.ndarray) -> float:
    finite = differences[np.isfinite(differences)]
    if not finite.size:
        return math.nan
    return min(1.0, 2 * min(float(np.mean(finite <= 0)), float(np.mean(finite >= 0))))


def paired_bootstrap_sums(columns_a, columns_b, statistic: Callable[[np.ndarray], np.ndarray], *, strata=None,
                          resampling: Resampling = Resampling()) -> PairedComparison:
    """Paired bootstrap of `statistic(sums of a) - statistic(sums of b)`: one draw of items for both models.

    Row i of `columns_a` and of `columns_b` must describe the same item i. Exact tests for binary outcomes
    are the caller's (`sign_test` on the discordant items).
    """
    n_items = _n_rows(columns_a)
    if _n_rows(columns_b) != n_items:
        raise ValueError(f"paired columns need one row per item for both models, got {n_items} and "
                         f"{_n_rows(columns_b)}")

    def difference(counts: np.ndarray) -> dict[str, np.ndarray]:
        return {"difference": statistic(weighted_sums(counts, columns_a)) - statistic(weighted_sums(counts, columns_b))}

    estimates, samples = resample_items(difference, n_items, strata=strata, resampling=resampling)
    interval = interval_of(estimates["difference"], samples["difference"], n_items, resampling,
                           method="paired percentile bootstrap over items")
    return PairedComparison(interval, _p_two_sided(samples["difference"]))


# ---------------------------------------------------------------- across training seeds
@dataclass(frozen=True)
class SeedSummary:
    """Mean, sample sd (ddof=1) and Student's t interval of one number over training seeds."""

    n_seeds: int
    mean: float
    sd: float
    low: float
    high: float
    level: float = DEFAULT_LEVEL
    method: str = "Student t interval across seeds"

    def as_dict(self) -> dict:
        return asdict(self)


def across_seeds(values: Sequence[float] | np.ndarray, level: float = DEFAULT_LEVEL) -> SeedSummary:
    """Summary over seeds: `mean +- t_{(1+level)/2, n-1} * sd / sqrt(n)` of the finite values (n = their count).

    Seeds are few (3 in the paper presets), so a bootstrap over them would be meaningless; the t interval
    assumes the per-seed values are roughly normal. With one seed, sd and the interval are NaN.
    """
    from scipy.stats import t

    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return SeedSummary(0, math.nan, math.nan, math.nan, math.nan, level)
    mean = float(x.mean())
    if x.size < 2:
        return SeedSummary(1, mean, math.nan, math.nan, math.nan, level)
    sd = float(x.std(ddof=1))
    half = float(t.ppf((1 + level) / 2, x.size - 1)) * sd / math.sqrt(x.size)
    return SeedSummary(int(x.size), mean, sd, mean - half, mean + half, level)
