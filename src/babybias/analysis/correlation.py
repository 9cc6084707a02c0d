"""Align two runs' learning dynamics by fraction of training and correlate them (scipy.stats).

Alignment (documented choice): run **a**'s checkpoints define the grid. For every (benchmark, category,
metric) both runs have, run **b**'s values are *linearly interpolated* at a's training fractions
(`numpy.interp` over b's checkpoints sorted by fraction); a's points outside b's fraction range are dropped,
never extrapolated. Fraction = optimizer steps done / total steps (`state.json`), so a 1,000-step BabyLM run
and a 10,000-step BERT run are compared at the same share of their own schedule.

Correlations per metric over the aligned points: Pearson r (linear) and Spearman rho (rank), each with its
two-sided p-value from `scipy.stats.pearsonr` / `spearmanr`. With fewer than `min_points` points, or a
constant series, they are NaN. Every row states its n (`n_points`). The p-values are withheld (NaN) below
`P_VALUE_MIN_POINTS` points unless asked for: they assume independent points, and the checkpoints of one run
are autocorrelated, so with 4-6 checkpoints a small p-value says little.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

KEY = ["benchmark", "category", "metric"]
ALIGNED_COLUMNS = [*KEY, "fraction", "step_a", "value_a", "value_b"]
P_VALUE_MIN_POINTS = 5
CORRELATION_COLUMNS = [*KEY, "n_points", "pearson_r", "pearson_p", "spearman_rho", "spearman_p"]


def _trajectory(group):
    """(fractions, values, steps) sorted by fraction; duplicate fractions keep the later step's value."""
    group = group.dropna(subset=["fraction", "value"]).sort_values(["fraction", "step"], kind="stable")
    group = group.drop_duplicates("fraction", keep="last")
    return group["fraction"].to_numpy(float), group["value"].to_numpy(float), group["step"].to_numpy()


def align(table_a, table_b):
    """Rows `ALIGNED_COLUMNS`: a's value and b's value interpolated at a's fraction, per shared metric."""
    import pandas as pd

    b_groups = {key: group for key, group in table_b.groupby(KEY, sort=True)}
    rows = []
    for key, group_a in table_a.groupby(KEY, sort=True):
        if key not in b_groups:
            continue
        frac_a, val_a, step_a = _trajectory(group_a)
        frac_b, val_b, _ = _trajectory(b_groups[key])
        if len(frac_b) == 0:
            continue
        inside = (frac_a >= frac_b[0]) & (frac_a <= frac_b[-1])
        interpolated = np.interp(frac_a[inside], frac_b, val_b)
        for f, s, va, vb in zip(frac_a[inside], step_a[inside], val_a[inside], interpolated):
            rows.append([*key, f, s, va, vb])
    return pd.DataFrame(rows, columns=ALIGNED_COLUMNS)


def correlate(x, y) -> dict:
    """Pearson and Spearman correlation of two equal-length series, with two-sided p-values."""
    from scipy import stats

    x, y = np.asarray(x, float), np.asarray(y, float)
    nan = {"pearson_r": math.nan, "pearson_p": math.nan, "spearman_rho": math.nan, "spearman_p": math.nan}
    if len(x) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy warns on tiny n; the caller enforces min_points
        pearson = stats.pearsonr(x, y)
        spearman = stats.spearmanr(x, y)
    return {"pearson_r": float(pearson.statistic), "pearson_p": float(pearson.pvalue),
            "spearman_rho": float(spearman.statistic), "spearman_p": float(spearman.pvalue)}


def correlations(aligned, min_points: int = 3, small_n_p_values: bool = False):
    """One row per (benchmark, category, metric): `CORRELATION_COLUMNS`; p-values NaN below
    `P_VALUE_MIN_POINTS` points unless `small_n_p_values`."""
    import pandas as pd

    rows = []
    for key, group in aligned.groupby(KEY, sort=True):
        n = len(group)
        stats = correlate(group["value_a"], group["value_b"]) if n >= min_points else correlate([], [])
        if n < P_VALUE_MIN_POINTS and not small_n_p_values:
            stats = {**stats, "pearson_p": math.nan, "spearman_p": math.nan}
        rows.append({**dict(zip(KEY, key)), "n_points": n, **stats})
    return pd.DataFrame(rows, columns=CORRELATION_COLUMNS)


def to_markdown(table, title: str) -> str:
    """A GitHub markdown table (no tabulate dependency); floats with 4 significant digits."""
    def cell(v):
        if isinstance(v, float):
            return "nan" if math.isnan(v) else f"{v:.4g}"
        return "" if v is None else str(v)

    lines = [f"# {title}", "", "| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines) + "\n"
