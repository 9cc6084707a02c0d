"""`babybias study experiment=imbalance_sweep size=tiny|paper`: gender bias vs the corpus's female ratio.

For each female_ratio r (default 0.1, 0.3, 0.5, 0.7, 0.9), one model is pretrained on `corpus=imbalanced
corpus.female_ratio=r` (seeded removal of male or female sentences until r of the gendered sentences are
female) and, as a size-matched control, one on `corpus=random_drop` that drops as many random sentences;
plus the unchanged corpus. Each is evaluated on CrowS-Pairs and StereoSet; the gender numbers go into
one table and one plot of bias against r (see `babybias.studies.premodel`).
"""

from __future__ import annotations

from typing import Any

from babybias.errors import ConfigError
from babybias.studies.premodel import Arm, arm_estimate, bias_axes, context_of, error_bars, run_study, save_png

DEFAULT_RATIOS = (0.1, 0.3, 0.5, 0.7, 0.9)


def arms(female_ratios, controls: bool = True, include_original: bool = True) -> list[Arm]:
    """original, imbalanced_<r> for each r, and random_drop_<r> (same number of sentences removed)."""
    out = [Arm("original", "original", ("corpus=original",))] if include_original else []
    for r in female_ratios:
        r = float(r)
        if not 0.1 <= r <= 0.9:
            raise ConfigError(f"female_ratio {r} is out of range", fix="use ratios in [0.1, 0.9]")
        out.append(Arm(f"imbalanced_{r:g}", "imbalanced", ("corpus=imbalanced", f"corpus.female_ratio={r}"), r))
        if controls:
            out.append(Arm(f"random_drop_{r:g}", "random_drop",
                           ("corpus=random_drop", "corpus.random_drop_reference=imbalanced", f"corpus.female_ratio={r}"), r))
    return out


def plot(table, path, title: str) -> None:
    """Bias (y) vs female ratio (x): imbalanced and random_drop lines (mean over seeds, 95% CI error bars: across
    seeds, or over items with one seed), the original corpus as a line with its CI as a band."""
    fig, axes = bias_axes(title)
    for ax, column in zip(axes, ("crows_gender", "stereoset_gender_ss")):
        for group, style, label in (("imbalanced", "o-", "imbalanced"),
                                    ("random_drop", "s--", "random_drop (size-matched to imbalanced)")):
            part = table[table.group == group]
            ratios = sorted(part["female_ratio"].dropna().unique())
            if ratios:
                estimates = [arm_estimate(part[part["female_ratio"] == r], column) for r in ratios]
                ax.errorbar(ratios, [e[0] for e in estimates], yerr=error_bars(estimates), fmt=style, capsize=3,
                            label=label)
        original, low, high = arm_estimate(table[table.group == "original"], column)
        if original == original:  # not NaN
            ax.axhline(original, color="black", linewidth=1, label="original corpus")
            if low == low and high == high:
                ax.axhspan(low, high, color="black", alpha=0.08, lw=0)
        ax.set_xlabel("female share of gendered training sentences")
        ax.set_title("error bars / band: 95% CI (across seeds, or over items with one seed)", fontsize=8)
        ax.legend(fontsize=8)
    save_png(fig, path)


def run(cfg) -> dict[str, Any]:
    """Run the sweep described by the study config's size preset (`female_ratios`, `controls`)."""
    _, preset = context_of(cfg)
    chosen = arms(preset.get("female_ratios", DEFAULT_RATIOS), bool(preset.get("controls", True)),
                  bool(preset.get("include_original", True)))
    return run_study(cfg, chosen, plot, "bias_vs_female_ratio.png",
                     "Gender bias vs female ratio of the pretraining corpus")
