"""Pre-model studies: pretrain one model per corpus variant ("arm"), evaluate gender bias, tabulate, plot.

Shared by `imbalance_sweep` and `detox`. Each arm is pretrained and evaluated by chaining the ordinary
commands in this process (`run_command("pretrain", ...)`, `run_command("evaluate", ...)`), so every arm
has a normal run directory, runs/<study name>/<arm>/seed<seed>/{pretrain,eval}/, and is skipped when
already DONE. The study folder (runs/<study name>/study/) receives one table (results.csv, results.md),
one plot (PNG), the across-seed summary (summary.csv: mean, sd and 95% t interval of each number per arm), the
resolved config.yaml and DONE. The plots draw error bars: the interval across seeds when there are several, else
the run's 95% item-bootstrap interval from its result file.

Bias numbers are the gender rows of CrowS-Pairs (metric score, % of pairs where the stereotypical sentence
is preferred; 50 = unbiased; scored as the preset states in `crows_pairs_scoring`, shared = Nangia et al.
2020) and StereoSet intrasentence (SS, 50 = unbiased; LMS; ICAT; Nadeem et al. 2021), read from the evaluate
result files. Every study that evaluates CrowS-Pairs states its scoring (`crows_pairs_scoring`); the helpers
here (`evaluate_overrides`, `crows_note`) run and name each stated scoring for all the studies.
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
           "crows_gender_pairs", "stereoset_gender_ss", "stereoset_gender_lms", "stereoset_gender_icat",
           "crows_gender_ci_low", "crows_gender_ci_high", "stereoset_gender_ss_ci_low", "stereoset_gender_ss_ci_high",
           "run")
ARM_COLUMNS = ["arm", "group", "female_ratio"]
SEED_VALUES = ["train_sentences", "female_ratio_achieved", "crows_gender", "stereoset_gender_ss",
               "stereoset_gender_lms", "stereoset_gender_icat"]
"""What `summary.csv` summarises across seeds, per arm."""


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
    crows_scorings: list[str] = field(default_factory=list)
    """The CrowS-Pairs scorings the study states (`crows_pairs_scoring`), its own first."""


def context_of(cfg) -> tuple[StudyContext, dict]:
    """(StudyContext, the size preset) from a `StudyConfig` (or anything with the same fields)."""
    from babybias.configs.study import check_distinct_seeds

    preset = dict(cfg.preset)
    for key in ("pretrain", "evaluate"):
        if not isinstance(preset.get(key, []), (list, tuple)):
            raise ConfigError(f"presets.{cfg.size}.{key} must be a list of overrides", fix="see conf/experiment/")
    common = [f"data.root={cfg.data.root}", f"data.verify={str(cfg.data.verify).lower()}",
              f"paths.runs={cfg.paths.runs}", f"paths.cache={cfg.paths.cache}", *cfg.overrides]
    if cfg.data.mirror:
        common.append(f"data.mirror={cfg.data.mirror}")
    seeds = list(cfg.seeds or preset.get("seeds") or [cfg.seed])  # seeds=[...], else the preset's, else seed
    check_distinct_seeds(seeds, "seeds" if cfg.seeds else f"presets.{cfg.size}.seeds")
    return StudyContext(cfg.name, cfg.paths.runs, seeds, list(preset.get("pretrain", [])),
                        list(preset.get("evaluate", [])), common, list(getattr(cfg, "crows_pairs_scoring", []))), preset


SCORING_REFERENCES = {"shared": "Nangia et al. 2020: pseudo-log-likelihood of the tokens the two sentences share",
                      "modified": "bias-bench, Meade et al. 2022: mean log-probability of the modified tokens"}


def evaluates_crows(overrides: list[str]) -> bool:
    """Whether `babybias evaluate` with these overrides scores CrowS-Pairs (its default eval list does)."""
    evals = [o for o in overrides if o.startswith("eval=")]
    return not evals or "crows_pairs" in evals[-1]


def evaluate_overrides(ctx: StudyContext, overrides: list[str]) -> list[list[str]]:
    """The `babybias evaluate` override lists that give every CrowS-Pairs scoring the study states: `overrides`
    with its own scoring, then CrowS-Pairs alone with each further one (crows_pairs.json, crows_pairs-modified.json)."""
    if not evaluates_crows(overrides):
        return [overrides]
    if not ctx.crows_scorings:
        raise ConfigError("this study evaluates CrowS-Pairs but does not state which scoring it reports",
                          fix="state crows_pairs_scoring=[shared] (Nangia et al.) or [modified] (bias-bench)")
    plain = [o for o in overrides if not o.startswith("crows_pairs.scoring=")]
    first, *more = ctx.crows_scorings
    return [[*plain, f"crows_pairs.scoring={first}"],
            *[[*(o for o in plain if not o.startswith("eval=")), "eval=[crows_pairs]", f"crows_pairs.scoring={s}"]
              for s in more]]


def result_variants(ctx: StudyContext, calls: list[list[str]]) -> list[dict[str, Any]]:
    """Per `babybias evaluate` call (override lists, e.g. from `evaluate_overrides`): benchmark -> the result
    `Variant` it writes (`babybias.results.variant`: file stem with its naming options and precision). A study reads
    these files only, never another variant an earlier evaluation left in the same folder."""
    from babybias.launch.compose import compose_command
    from babybias.results import variant

    out = []
    for overrides in calls:
        cfg = compose_command("evaluate", [*overrides, *ctx.common])
        out.append({b: variant(b, cfg) for b in cfg.eval})
    return out


def crows_stem(scoring: str) -> str:
    """The result file stem of a CrowS-Pairs scoring (fp32, no debiasing)."""
    return "crows_pairs" if scoring == "shared" else f"crows_pairs-{scoring}"


def crows_note(ctx: StudyContext) -> str:
    """One line for a study's results: the CrowS-Pairs scoring(s) it reports."""
    if not ctx.crows_scorings:
        return ""
    named = "; ".join(f"{crows_stem(s)} = {s} ({SCORING_REFERENCES[s]})" for s in ctx.crows_scorings)
    return f"CrowS-Pairs scoring: {named}."


def run_arm(ctx: StudyContext, arm: Arm, seed: int) -> dict[str, Any]:
    """Pretrain and evaluate one arm with one seed; returns its table row."""
    from babybias.analysis.dynamics import select_checkpoints
    from babybias.launch.compose import run_command
    from babybias.studies.arms import pretrain_arm

    name = f"{ctx.name}/{arm.label}/seed{seed}"
    run_dir = Path(ctx.runs_root) / name / "pretrain"
    pretrain_arm([*ctx.pretrain, *arm.corpus, f"name={name}", f"seed={seed}", *ctx.common])
    calls = evaluate_overrides(ctx, [f"eval=[{','.join(BENCHMARKS)}]", *ctx.evaluate])
    for overrides in calls:
        run_command("evaluate", [f"run={run_dir}", "checkpoints=final", *overrides, *ctx.common])
    variants = result_variants(ctx, calls[:1])[0]  # the study's own: its first CrowS-Pairs scoring
    missing = [b for b in BENCHMARKS if b not in variants]
    if missing:
        raise ConfigError(f"this study reads {', '.join(BENCHMARKS)} but its evaluate overrides leave out {missing}",
                          fix=f"drop eval= from presets.<size>.evaluate (the study sets eval=[{','.join(BENCHMARKS)}])")
    eval_dir = select_checkpoints(str(run_dir), "final", ctx.runs_root)[0].eval_dir
    row = {"arm": arm.label, "group": arm.group, "female_ratio": arm.female_ratio, "seed": seed, "run": str(run_dir)}
    row.update(corpus_stats(run_dir))
    row.update(gender_bias(eval_dir, variants["crows_pairs"].stem, variants["stereoset"].stem))
    return row


def corpus_stats(run_dir: Path) -> dict[str, Any]:
    """Train-split size and female share of gendered sentences, from the run's corpus.json (None if absent)."""
    try:
        manifest = json.loads((run_dir / "corpus.json").read_text()).get("manifest", {})
    except (OSError, ValueError):
        manifest = {}
    train = (manifest.get("splits") or {}).get("train") or {}
    return {"train_sentences": train.get("sentences"), "female_ratio_achieved": train.get("female_sentence_ratio")}


def gender_bias(eval_dir: Path, crows: str = "crows_pairs", stereoset: str = "stereoset") -> dict[str, Any]:
    """The gender rows of the CrowS-Pairs and StereoSet result files (stems `crows`, `stereoset`) of one checkpoint,
    with the 95% CIs of the CrowS-Pairs metric score and the StereoSet SS (None where a file has none)."""
    out = {}
    for bench in BENCHMARKS:
        path = eval_dir / f"{crows if bench == 'crows_pairs' else stereoset}.json"
        if not path.is_file():
            raise BabybiasError(f"{path} is missing after evaluation", fix="rerun the study (finished runs are skipped)")
        result = json.loads(path.read_text())
        gender = result.get("per_category", {}).get("gender", {})
        intervals = result.get("intervals") or {}
        if bench == "crows_pairs":
            out["crows_gender"] = gender.get("metric_score")
            out["crows_gender_pairs"] = gender.get("n_pairs")
            out.update(_bounds(intervals.get("gender/metric_score"), "crows_gender"))
        else:
            out.update({"stereoset_gender_ss": gender.get("ss"), "stereoset_gender_lms": gender.get("lms"),
                        "stereoset_gender_icat": gender.get("icat")})
            out.update(_bounds(intervals.get("gender/ss"), "stereoset_gender_ss"))
    return out


def _bounds(interval: dict | None, column: str) -> dict[str, Any]:
    if not isinstance(interval, dict):
        return {}
    return {f"{column}_ci_low": interval.get("low"), f"{column}_ci_high": interval.get("high")}


def run_study(cfg, arms: list[Arm], plot: Callable, plot_name: str, title: str) -> dict[str, Any]:
    """Run every (arm, seed), then write the table and plot into runs/<name>/study/; returns their paths."""
    import pandas as pd

    from babybias.studies.summary import write_seed_summary

    ctx, _ = context_of(cfg)
    rows = [run_arm(ctx, arm, seed) for seed in ctx.seeds for arm in arms]
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    study = RunDir(Path(ctx.runs_root) / ctx.name / "study").create()
    study.clear_done()
    study.write_config(cfg)
    paths = {"csv": study / "results.csv", "markdown": study / "results.md", "plot": study / plot_name}
    atomic_write_text(paths["csv"], table.to_csv(index=False))
    paths["summary"], section = write_seed_summary(study.path, table, ARM_COLUMNS, SEED_VALUES)
    atomic_write_text(paths["markdown"],
                      f"# {title}\n\n{crows_note(ctx)}\n\n{markdown_table(table)}\n\n{section}")
    with atomic_path(paths["plot"]) as tmp:
        plot(table, tmp, title)
    study.mark_done({"rows": len(table), **{k: str(v) for k, v in paths.items()}})
    print(f"{title}\n{markdown_table(table)}\n\n{section}\nstudy outputs: {study.path.resolve()}")
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


def arm_estimate(rows, column: str) -> tuple[float, float, float]:
    """(mean over seeds, 95% CI low, high) of one arm's `column`: the Student t interval across seeds with two
    or more seeds, else the run's item-bootstrap CI (`<column>_ci_low|high`); NaN where there is none."""
    import math

    import pandas as pd

    from babybias.uncertainty import across_seeds

    values = pd.to_numeric(rows[column], errors="coerce").dropna()
    if len(values) >= 2:
        stats = across_seeds(values.to_numpy(dtype=float))
        return stats.mean, stats.low, stats.high
    if len(values) == 1:
        bounds = [pd.to_numeric(rows.get(f"{column}{s}", pd.Series([None] * len(rows), dtype=object)),
                                errors="coerce").dropna() for s in ("_ci_low", "_ci_high")]
        low, high = (float(b.iloc[0]) if len(b) else math.nan for b in bounds)
        return float(values.iloc[0]), low, high
    return math.nan, math.nan, math.nan


def error_bars(estimates: list[tuple[float, float, float]]):
    """matplotlib `yerr` (2, n) from `arm_estimate` triples; NaN bounds draw no bar."""
    import numpy as np

    centre, low, high = (np.array(x, dtype=float) for x in zip(*estimates)) if estimates else (np.array([]),) * 3
    return np.nan_to_num(np.vstack([centre - low, high - centre]), nan=0.0)


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
