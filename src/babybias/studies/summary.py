"""Across-seed summaries of a study's table: for each arm and number, the mean, the sample sd and the 95%
Student t interval over the training seeds (`babybias.uncertainty.across_seeds`).

A study table has one row per (arm ..., seed). `seed_summary` groups the rows by everything that names the
arm (`by`) and summarises each number (`values`) over the seeds: one row per (arm, number). With one seed
the sd and the interval are NaN (the item-bootstrap CIs of each run's result files still apply).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from babybias.uncertainty import DEFAULT_LEVEL, across_seeds

SUMMARY_COLUMNS = ["column", "n_seeds", "mean", "sd", "ci_low", "ci_high"]
NOT_ARMS = ("seed", "run")


def seed_summary(table: Any, by: Sequence[str] | None = None, values: Sequence[str] | None = None,
                 level: float = DEFAULT_LEVEL) -> Any:
    """One row per (arm, number): `by` columns, then SUMMARY_COLUMNS (`column` names the number).

    Defaults: `values` = the float columns; `by` = every other column except seed and run. Named columns the
    table lacks are left out.
    """
    import pandas as pd

    values = [c for c in values if c in table] if values is not None else [
        c for c in table.columns if c not in NOT_ARMS and table[c].dtype.kind == "f"]
    by = [c for c in by if c in table] if by is not None else [
        c for c in table.columns if c not in NOT_ARMS and c not in values]
    groups = table.groupby(by, sort=False, dropna=False) if by else [((), table)]
    rows = []
    for key, group in groups:
        key = key if isinstance(key, tuple) else (key,)
        for column in values:
            numbers = pd.to_numeric(group[column], errors="coerce")
            stats = across_seeds(numbers.to_numpy(dtype=float), level)
            rows.append({**dict(zip(by, key)), "column": column, "n_seeds": stats.n_seeds, "mean": stats.mean,
                         "sd": stats.sd, "ci_low": stats.low, "ci_high": stats.high})
    return pd.DataFrame(rows, columns=[*by, *SUMMARY_COLUMNS])


def write_seed_summary(folder: Path, table: Any, by: Sequence[str] | None = None,
                       values: Sequence[str] | None = None) -> tuple[Path, str]:
    """Write `<folder>/summary.csv`; return it and a markdown section for results.md."""
    from babybias.analysis.report_html import markdown_table
    from babybias.runs import atomic_write_text

    summary = seed_summary(table, by, values)
    path = atomic_write_text(Path(folder) / "summary.csv", summary.to_csv(index=False))
    n_seeds = table["seed"].nunique() if "seed" in table else 1
    section = (f"## Across seeds ({n_seeds} seed{'s' if n_seeds != 1 else ''}: mean, sample sd, 95% Student t "
               f"interval)\n\n{markdown_table(summary)}")
    return path, section
