"""PNG plots of learning dynamics and of run-vs-run comparisons (matplotlib, Agg backend; no computing here)."""

from __future__ import annotations

import re
from pathlib import Path

# The headline metric(s) of each benchmark; other metrics stay in the tables.
HEADLINE = {
    "crows_pairs": ["metric_score"],
    "stereoset": ["lms", "ss", "icat"],
    "seat": ["gender_mean_abs_effect_size", "effect_size"],
    "blimp": ["accuracy"],
    "pppl": ["pppl"],
    "blimp_fast": ["accuracy"],
    "blimp_supplement": ["accuracy"],
    "ewok": ["accuracy"],
    "bec_pro": ["gap_male_professions", "gap_female_professions", "gap_balanced_professions"],
}
IDEAL = {("crows_pairs", "metric_score"): 50.0, ("stereoset", "ss"): 50.0, ("stereoset", "lms"): 100.0,
         ("stereoset", "icat"): 100.0, ("seat", "gender_mean_abs_effect_size"): 0.0,
         **{("bec_pro", f"gap_{g}_professions"): 0.0 for g in ("male", "female", "balanced")}}
MAX_CATEGORY_LINES = 12


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def headline_metrics(benchmark: str) -> list[str]:
    """Headline metrics of a benchmark variant (`crows_pairs-modified` -> crows_pairs')."""
    return HEADLINE.get(benchmark.split("-")[0], [])


def band(ax, x, rows, color, alpha: float = 0.2) -> None:
    """Shade the 95% CI (`ci_low`..`ci_high` of `rows`, aligned with `x`) where the rows have one."""
    if "ci_low" not in rows or not rows["ci_low"].notna().any():
        return
    ax.fill_between(x, rows["ci_low"], rows["ci_high"], color=color, alpha=alpha, lw=0)


def interval_bars(ax, positions, estimates, low, high, horizontal: bool = False, color: str = "black",
                  marker: str = "o") -> None:
    """Each estimate as a marker and its interval as a line from `low` to `high`, drawn as computed.

    Not matplotlib's error bars (lengths from the estimate): a percentile interval need not contain its
    estimate (mean |effect size| and ICAT have a kink: near no bias the estimate can lie below or above every
    resample), and a negative length is an error there. NaN bounds draw no line.
    """
    import numpy as np

    positions, estimates = np.asarray(positions, float), np.asarray(estimates, float)
    low, high = np.asarray(low, float), np.asarray(high, float)
    lines = ax.hlines if horizontal else ax.vlines
    lines(positions, low, high, color=color, lw=1.2)
    x, y = (estimates, positions) if horizontal else (positions, estimates)
    ax.plot(x, y, marker, color=color, ls="none")


def _x(table):
    if table["tokens_seen"].notna().all():
        return "tokens_seen", "tokens seen"
    return "step", "step"


def plot_dynamics(table, folder: Path, level: float = 0.95) -> list[Path]:
    """One PNG per (benchmark variant, headline metric): overall (thick) and per category (thin) vs training,
    each with its item-bootstrap CI (at `level`, the results' `bootstrap.level`) as a band."""
    from babybias.uncertainty import level_label

    plt = _plt()
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    x, xlabel = _x(table)
    for benchmark in sorted(table["benchmark"].unique()):
        part = table[table["benchmark"] == benchmark]
        for metric in headline_metrics(benchmark):
            rows = part[part["metric"] == metric]
            if rows.empty:
                continue
            fig, ax = plt.subplots(figsize=(7, 4.5))
            categories = sorted(set(rows["category"]) - {"overall"})
            for category in categories[:MAX_CATEGORY_LINES]:
                cat = rows[rows["category"] == category].sort_values(x)
                (line,) = ax.plot(cat[x], cat["value"], marker=".", lw=1, alpha=0.6, label=category)
                band(ax, cat[x], cat, line.get_color(), alpha=0.07)
            overall = rows[rows["category"] == "overall"].sort_values(x)
            if not overall.empty:
                ax.plot(overall[x], overall["value"], marker="o", lw=2.5, color="black", label=f"overall ({level_label(level)} CI band)")
                band(ax, overall[x], overall, "black")
            if (benchmark.split("-")[0], metric) in IDEAL:
                ax.axhline(IDEAL[benchmark.split("-")[0], metric], ls="--", color="grey", lw=1)
            ax.set(xlabel=xlabel, ylabel=metric, title=f"{benchmark}: {metric} over training")
            ax.legend(fontsize=7, ncol=2)
            paths.append(_save(plt, fig, folder, benchmark, metric))
    return paths


def plot_comparison(aligned, correlations, folder: Path, name_a: str, name_b: str) -> list[Path]:
    """Per overall headline metric: both trajectories vs fraction of training, and the a-vs-b scatter."""
    plt = _plt()
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for (benchmark, category, metric), group in aligned.groupby(["benchmark", "category", "metric"], sort=True):
        if category != "overall" or metric not in headline_metrics(benchmark):
            continue
        group = group.sort_values("fraction")
        stats = correlations[(correlations["benchmark"] == benchmark) & (correlations["category"] == category)
                             & (correlations["metric"] == metric)]
        fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
        left.plot(group["fraction"], group["value_a"], marker="o", label=name_a)
        left.plot(group["fraction"], group["value_b"], marker="s", label=f"{name_b} (interpolated)")
        left.set(xlabel="fraction of training", ylabel=metric, title=f"{benchmark}: {metric}")
        left.legend(fontsize=8)
        right.scatter(group["value_a"], group["value_b"])
        title = "" if stats.empty else (f"Pearson r={stats['pearson_r'].iloc[0]:.3f} "
                                        f"Spearman rho={stats['spearman_rho'].iloc[0]:.3f}")
        right.set(xlabel=name_a, ylabel=name_b, title=title)
        paths.append(_save(plt, fig, folder, benchmark, metric))
    return paths


def save_figure(fig, path: Path, dpi: int = 110) -> Path:
    """Lay out `fig`, write it to `path` as PNG atomically (a reader never sees half a file) and close it."""
    from babybias.runs import atomic_path

    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    _plt().close(fig)
    return path


def _save(plt, fig, folder: Path, benchmark: str, metric: str) -> Path:
    """Write one figure as <folder>/<benchmark>__<metric>.png and close it."""
    fig.tight_layout()
    path = folder / f"{_safe(benchmark)}__{_safe(metric)}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_paired(table, folder: Path, name_a: str, name_b: str, level: float = 0.95) -> Path:
    """Forest plot of paired differences a - b with their CIs (at `level`): one panel per variant (own scale)."""
    from babybias.uncertainty import level_label

    plt = _plt()
    folder.mkdir(parents=True, exist_ok=True)
    variants = list(dict.fromkeys(table["variant"]))
    heights = [max(1, int((table["variant"] == v).sum())) for v in variants]
    fig, axes = plt.subplots(len(variants), 1, figsize=(7, 0.45 * sum(heights) + 0.9 * len(variants)),
                             gridspec_kw={"height_ratios": heights}, squeeze=False)
    for ax, variant in zip(axes[:, 0], variants):
        part = table[table["variant"] == variant]
        y = list(range(len(part)))[::-1]
        interval_bars(ax, y, part["difference"], part["ci_low"], part["ci_high"], horizontal=True)
        ax.axvline(0.0, color="grey", ls="--", lw=1)
        ax.set_yticks(y, list(part["metric"]), fontsize=8)
        ax.set_ylim(-0.7, len(part) - 0.3)
        ax.set_title(variant, fontsize=9)
    axes[-1, 0].set_xlabel(f"{name_a} minus {name_b} ({level_label(level)} paired-bootstrap CI)")
    fig.suptitle("Paired differences on the same items")
    return _save(plt, fig, folder, "paired", "differences")
