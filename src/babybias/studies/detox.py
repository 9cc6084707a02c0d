"""`babybias study experiment=detox size=tiny|paper`: does removing toxic sentences change gender bias?

Three arms, one model each per seed: the unchanged corpus, `corpus=detox` (sentences whose toxicity score
exceeds the threshold removed) and `corpus=random_drop` (as many random sentences removed: the size-matched
control). Each is evaluated on CrowS-Pairs and StereoSet; the gender numbers go into one table and one bar
plot (see `babybias.studies.premodel`).
"""

from __future__ import annotations

from typing import Any

from babybias.studies.premodel import Arm, arm_estimate, bias_axes, context_of, error_bars, run_study, save_png

ORDER = ("original", "detox", "random_drop")


def arms(scorer: str = "profanity_check", threshold: float = 0.5) -> list[Arm]:
    toxicity = (f"corpus.scorer={scorer}", f"corpus.threshold={threshold}")
    return [Arm("original", "original", ("corpus=original",)),
            Arm("detox", "detox", ("corpus=detox", *toxicity)),
            Arm("random_drop", "random_drop", ("corpus=random_drop", "corpus.random_drop_reference=detox", *toxicity))]


def plot(table, path, title: str) -> None:
    """One bar per arm (mean over seeds, seeds as dots, 95% CI as error bar) for each bias measure."""
    fig, axes = bias_axes(title)
    for ax, column in zip(axes, ("crows_gender", "stereoset_gender_ss")):
        for x, group in enumerate(ORDER):
            rows = table[table.group == group]
            values = rows[column].astype(float)
            estimate = arm_estimate(rows, column)
            ax.bar(x, values.mean() if len(values) else 0.0, color=f"C{x}", alpha=0.7,
                   yerr=error_bars([estimate]) if len(values) else None, capsize=4)
            ax.plot([x] * len(values), values, "k.")
        ax.set_xticks(range(len(ORDER)), ORDER)
        ax.set_title("error bars: 95% CI (across seeds, or over items with one seed)", fontsize=8)
    save_png(fig, path)


def run(cfg) -> dict[str, Any]:
    """Run the three arms of the size preset (`scorer`, `threshold`)."""
    _, preset = context_of(cfg)
    chosen = arms(preset.get("scorer", "profanity_check"), float(preset.get("threshold", 0.5)))
    return run_study(cfg, chosen, plot, "bias_by_corpus.png", "Gender bias: original vs detoxified vs random-drop corpus")
