"""Confidence intervals of benchmark scores, in the shape `MetricResult.intervals` stores them.

The pattern every benchmark follows (CrowS-Pairs, StereoSet, BLiMP and pseudo-perplexity do; add yours the
same way): describe each item by a few numbers (the *columns*: e.g. `[is_biased, is_decided, 1]`), write each
reported number as a function of the column sums (`ratio(0, 2)` = 100 * sum of column 0 / sum of column 2),
and call

    intervals = sums_intervals(columns, {"metric_score": ratio(0, 2)}, categories=bias_types)

which bootstraps the items overall and, separately, the items of each category, and returns
`{"metric_score": Interval.as_dict(), "<category>/metric_score": ...}` (percentile CIs, seeded, see
`babybias.uncertainty`). A score that is the mean of one per-item value is `mean_intervals(values, ...)`.
Every number is recomputed from the resampled items, never approximated (e.g. a normal interval).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from babybias.uncertainty import Resampling, SumsStatistics, bootstrap_sums


def ratio(numerator: int, denominator: int, scale: float = 100.0):
    """The statistic `scale * sum(column numerator) / sum(column denominator)` (NaN where the latter is 0)."""
    def statistic(sums: np.ndarray) -> np.ndarray:
        return scale * sums[:, numerator] / sums[:, denominator]

    return statistic


def sums_intervals(columns, statistics: SumsStatistics, categories: Sequence | np.ndarray | None = None, *,
                   resampling: Resampling | None = Resampling(), strata=None) -> dict[str, dict]:
    """Intervals of `statistics` over all items (keys as given) and within each category ("<category>/<key>").

    `columns`: `(n_items, m)` per-item values (dense or scipy sparse); `categories`: one label per item;
    `strata`: one label per item to resample within (kept within each category too). `resampling=None`
    returns no intervals.
    """
    if resampling is None or columns.shape[0] == 0:
        return {}
    out = {k: v.as_dict() for k, v in bootstrap_sums(columns, statistics, strata=strata, resampling=resampling).items()}
    if categories is None:
        return out
    labels = np.asarray(categories)
    if hasattr(columns, "tocsr"):
        columns = columns.tocsr()
    for category in sorted(set(labels.tolist()), key=str):
        rows = np.flatnonzero(labels == category)
        within = None if strata is None else np.asarray(strata)[rows]
        for key, interval in bootstrap_sums(columns[rows], statistics, strata=within, resampling=resampling).items():
            out[f"{category}/{key}"] = interval.as_dict()
    return out


def mean_intervals(values: Sequence[float] | np.ndarray, categories: Sequence | np.ndarray | None = None, *,
                   key: str, scale: float = 100.0, resampling: Resampling | None = Resampling()) -> dict[str, dict]:
    """Intervals of `scale * mean(values)` overall and per category (e.g. an accuracy from 0/1 outcomes)."""
    x = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{key}: per-item values must be finite")
    return sums_intervals(np.column_stack([x, np.ones_like(x)]), {key: ratio(0, 1, scale)}, categories,
                          resampling=resampling)
