"""Plots of group fairness, kept apart from the computations (matplotlib only, no pyplot state)."""

from __future__ import annotations

from collections.abc import Mapping

from matplotlib.figure import Figure

from babybias.fairness.metrics import FairnessReport


def plot_group_rates(reports: Mapping[str, FairnessReport], title: str = "Per-group (FPR, TPR)") -> Figure:
    """One ROC-space panel: each predictor's groups as points, joined per predictor.

    Under equalized odds (Hardt et al. 2016) all groups of a predictor collapse to one point, so the length
    of each predictor's polyline shows its equalized-odds gap at a glance.
    """
    figure = Figure(figsize=(4.5, 4.5))
    ax = figure.add_subplot()
    ax.plot([0, 1], [0, 1], color="0.8", linestyle="--", linewidth=1)
    for name, report in reports.items():
        groups = list(report.by_group)
        fpr = [report.by_group[g]["fpr"] for g in groups]
        tpr = [report.by_group[g]["tpr"] for g in groups]
        (line,) = ax.plot(fpr, tpr, marker="o", label=f"{name} (EO gap {report.equalized_odds_difference:.3f})")
        for g, x, y in zip(groups, fpr, tpr):
            ax.annotate(str(g), (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7, color=line.get_color())
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="false-positive rate", ylabel="true-positive rate", title=title)
    ax.legend(fontsize=7, loc="lower right")
    return figure
