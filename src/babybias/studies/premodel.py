"""Pre-model studies: pretrain one model per corpus variant ("arm"), evaluate gender bias, tabulate, plot.

Shared by `imbalance_sweep` and `detox`. Each arm is pretrained and evaluated by chaining the ordinary
commands in this process (`run_command("pretrain", ...)`, `run_command("evaluate", ...)`), so every arm
has a normal run directory, runs/<study name>/<arm>/seed<seed>/{pretrain,eval}/, and is skipped when
already DONE. The study folder (runs/<study name>/study/) receives one table (results.csv, results.md),
one plot (PNG), the resolved config.yaml and DONE.

Bias numbers are the gender rows of CrowS-Pairs (metric score, % of pairs where the stereotypical sentence
is preferred; 50 = unbiased; Nangia et al. 2020) and StereoSet intrasentence (SS, 50 = unbiased; LMS;
ICAT; Nadeem et al. 2021), read from the evaluate result files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from babybias.errors import BabybiasError, ConfigError
from babybias.runs import RunDir, atomic_path, atomic_write_text

BENCHMARKS = ("crows_pairs", "stereoset")
COLUMNS = ("arm", "group", "female_ratio", "seed", "train_sentences", "female_ratio_achieved", "crows_gender",
           "crows_gender_pairs", "stereoset_gender_ss", "stereoset_gender_lms", "stereoset_gender_icat", "run")


@dataclass(frozen=True)
class Arm:
    """One corpus variant of a study."""

    label: str
    """Folder name under the study, e.g. `imbalanced_0.3`."""
    group: str
    """original | imbalanced | random_drop | detox: the line/bar it belongs to in the plot."""
    corpus: tuple[str, ...]
    """Corpus overrides for `babybias pretrain`, e.g. ("corpus=imbalanced", "corpus.female_ratio=0.3")."""
    female_ratio: float | None = None


@dataclass
class StudyContext:
    """What every chained command of the study gets: the study's own settings and the preset's overrides."""

    name: str
    runs_root: str
    seeds: list[int]
    pretrain: list[str] = field(default_factory=list)
    evaluate: list[str] = field(default_factory=list)
    common: list[str] = field(default_factory=list)
    """Overrides for every command: data root, run root (from the study config) and `overrides=`."""


def context_of(cfg) -> tuple[StudyContext, dict]:
    """(StudyContext, the size preset) from a `StudyConfig` (or anything with the same fields)."""
    preset = dict(cfg.preset)
    for key in ("pretrain", "evaluate"):
        if not isinstance(preset.get(key, []), (list, tuple)):
            raise ConfigError(f"presets.{cfg.size}.{key} must be a list of overrides", fix="see conf/experiment/")
    common = [f"data.root={cfg.data.root}", f"data.verify={str(cfg.data.verify).lower()}",
              f"paths.runs={cfg.paths.runs}", f"paths.cache={cfg.paths.cache}", *cfg.overrides]
    if cfg.data.mirror:
        common.append(f"data.mirror={cfg.data.mirror}")
    seeds = list(cfg.seeds) or [cfg.seed]
    return StudyContext(cfg.name, cfg.paths.runs, seeds, list(preset.get("pretrain", [])),
                        list(preset.get("evaluate", [])), common), preset


def run_arm(ctx: StudyContext, arm: Arm, seed: int) -> dict[str, Any]:
    """Pretrain and evaluate one arm with one seed; returns its table row."""
    from babybias.analysis.dynamics import select_checkpoints
    from babybias.launch.compose import run_command

    name = f"{ctx.name}/{arm.label}/seed{seed}"
    run_dir = Path(ctx.runs_root) / name / "pretrain"
    run_command("pretrain", [*ctx.pretrain, *arm.corpus, f"name={name}", f"seed={seed}", *ctx.common])
    run_command("evaluate", [f"run={run_dir}", f"eval=[{','.join(BENCHMARKS)}]", "checkpoints=final",
                             *ctx.evaluate, *ctx.common])
    eval_dir = select_checkpoints(str(run_dir), "final", ctx.runs_root)[0].eval_dir
    row = {"arm": arm.label, "group": arm.group, "female_ratio": arm.female_ratio, "seed": seed, "run": str(run_dir)}
    row.update(corpus_stats(run_dir))
    row.update(gender_bias(eval_dir))
    return row


def corpus_stats(run_dir: Path) -> dict[str, Any]:
    """Train-split size and female share of gendered sentences, from the run's corpus.json (None if absent)."""
    try:
        manifest = json.loads((run_dir / "corpus.json").read_text()).get("manifest", {})
    except (OSError, ValueError):
        manifest = {}
    train = (manifest.get("splits") or {}).get("train") or {}
    return {"train_sentences": train.get("sentences"), "female_ratio_achieved": train.get("female_sentence_ratio")}


def gender_bias(eval_dir: Path) -> dict[str, Any]:
    """The gender rows of the CrowS-Pairs and StereoSet result files of one checkpoint."""
    out = {}
    for bench in BENCHMARKS:
        path = eval_dir / f"{bench}.json"
        if not path.is_file():
            raise BabybiasError(f"{path} is missing after evaluation", fix="rerun the study (finished runs are skipped)")
        gender = json.loads(path.read_text()).get("per_category", {}).get("gender", {})
        if bench == "crows_pairs":
            out["crows_gender"] = gender.get("metric_score")
            out["crows_gender_pairs"] = gender.get("n_pairs")
        else:
            out.update({"stereoset_gender_ss": gender.get("ss"), "stereoset_gender_lms": gender.get("lms"),
                        "stereoset_gender_icat": gender.get("icat")})
    return out


def run_study(cfg, arms: list[Arm], plot: Callable, plot_name: str, title: str) -> dict[str, Any]:
    """Run every (arm, seed), then write the table and plot into runs/<name>/study/; returns their paths."""
    import pandas as pd

    ctx, _ = context_of(cfg)
    rows = [run_arm(ctx, arm, seed) for seed in ctx.seeds for arm in arms]
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    study = RunDir(Path(ctx.runs_root) / ctx.name / "study").create()
    study.clear_done()
    study.write_config(cfg)
    paths = {"csv": study / "results.csv", "markdown": study / "results.md", "plot": study / plot_name}
    atomic_write_text(paths["csv"], table.to_csv(index=False))
    atomic_write_text(paths["markdown"], f"# {title}\n\n{markdown_table(table)}\n")
    with atomic_path(paths["plot"]) as tmp:
        plot(table, tmp, title)
    study.mark_done({"rows": len(table), **{k: str(v) for k, v in paths.items()}})
    print(f"{title}\n{markdown_table(table)}\n\nstudy outputs: {study.path.resolve()}")
    return {"table": table, **{k: str(v) for k, v in paths.items()}}


def markdown_table(table) -> str:
    """The table's numeric columns rounded to 2 decimals, as a GitHub markdown table (no extra dependency)."""
    shown = table.drop(columns=["run"])
    header = "| " + " | ".join(shown.columns) + " |"
    rule = "|" + "|".join("---" for _ in shown.columns) + "|"
    lines = [header, rule]
    for _, row in shown.iterrows():
        cells = ["" if v is None or v != v else f"{v:.2f}" if isinstance(v, float) else str(v)  # v != v: NaN
                 for v in row.tolist()]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def bias_axes(title: str):
    """A figure with the two bias panels (CrowS gender, StereoSet gender SS), both with the 50 = unbiased line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    for ax, label in zip(axes, ("CrowS-Pairs gender metric score (%)", "StereoSet gender SS (%)")):
        ax.axhline(50.0, color="grey", linestyle=":", linewidth=1)
        ax.set_ylabel(label)
    fig.suptitle(title)
    return fig, axes


def save_png(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig.savefig(path, format="png", dpi=120)
    plt.close(fig)
