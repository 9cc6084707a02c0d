"""`babybias study experiment=bias_dynamics size=tiny|paper`: do a BabyLM and BERT-base acquire bias alike?

The first seed paper's central figure. Per seed: both architectures (preset `models`: label -> overrides)
are pretrained on the same corpus with intermediate checkpoints, every checkpoint is evaluated
(`babybias evaluate checkpoints=all`), and the two trajectories are correlated at the same fractions of
training (`babybias compare`: Pearson r and Spearman rho per metric). Outputs:

    runs/<name>/<model>/seed<s>/{pretrain,eval}/       the ordinary run folders
    runs/<name>/compare/seed<s>/<a>__vs__<b>/          aligned.csv, correlations.csv|md, plots/
    runs/<name>/study/results.csv|md                   the correlations of every seed, config.yaml, DONE
    runs/<name>/study/summary.csv                      r and rho across seeds: mean, sd, 95% t interval
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional

from babybias.errors import BabybiasError, ConfigError


def model_presets(preset: Dict[str, Any]) -> Dict[str, List[str]]:
    """The two architectures of the preset, label -> overrides, in order (a, b)."""
    models = dict(preset.get("models") or {})
    if len(models) != 2 or not all(isinstance(v, (list, tuple)) for v in models.values()):
        raise ConfigError("bias_dynamics needs exactly two models: presets.<size>.models = {label: [overrides]}",
                          fix="see conf/experiment/bias_dynamics.yaml")
    return {str(k): list(v) for k, v in models.items()}


def pretrain_and_evaluate(ctx: Any, label: str, overrides: List[str], seed: int, checkpoints: str = "all") -> Path:
    """runs/<study>/<label>/seed<seed>/pretrain, pretrained (skipped when DONE) and evaluated."""
    from babybias.launch.compose import run_command
    from babybias.studies.arms import pretrain_arm
    from babybias.studies.premodel import evaluate_overrides

    name = f"{ctx.name}/{label}/seed{seed}"
    run_dir = Path(ctx.runs_root) / name / "pretrain"
    pretrain_arm([*ctx.pretrain, *overrides, f"name={name}", f"seed={seed}", *ctx.common])
    calls = evaluate_overrides(ctx, list(ctx.evaluate))
    for evaluate in calls:  # one call per stated CrowS-Pairs scoring
        run_command("evaluate", [f"run={run_dir}", f"checkpoints={checkpoints}", *evaluate, *ctx.common])
    if checkpoints == "all" and len(calls) > 1:
        write_dynamics(ctx, run_dir, calls)
    return run_dir


def write_dynamics(ctx: Any, run_dir: Path, calls: List[List[str]]) -> None:
    """The run's dynamics table (eval/dynamics.csv, what `babybias compare` correlates) over the variants of every
    evaluate call: each call writes the table of its own variants only, so the last (CrowS-Pairs alone in a further
    scoring) left out the study's own scoring and every other benchmark."""
    from babybias.analysis.dynamics import dynamics_table, select_checkpoints, write_table
    from babybias.runs import run_lock
    from babybias.studies.premodel import result_variants

    stems = list(dict.fromkeys(v.stem for call in result_variants(ctx, calls) for v in call.values()))
    every = select_checkpoints(str(run_dir), "all", ctx.runs_root)
    eval_root = every[0].eval_dir.parent
    with run_lock(eval_root, "babybias study (dynamics table)"):
        write_table(dynamics_table(every, stems), eval_root)


def finish_study(cfg: Any, ctx: Any, table: Any, title: str, by: Optional[List[str]] = None,
                 values: Optional[List[str]] = None) -> Dict[str, Any]:
    """Write runs/<name>/study/{results.csv, results.md, summary.csv, config.yaml, DONE}; returns the table and
    paths. summary.csv: each number (`values`, default the float columns) across seeds per arm (`by`, default
    the other columns but seed and run): mean, sd, 95% t interval (`babybias.studies.summary`)."""
    from babybias.analysis.report_html import markdown_table
    from babybias.runs import RunDir, atomic_write_text
    from babybias.studies.premodel import crows_note
    from babybias.studies.summary import write_seed_summary

    study = RunDir(Path(ctx.runs_root) / ctx.name / "study").create()
    study.clear_done()
    study.write_config(cfg)
    csv, md = study / "results.csv", study / "results.md"
    atomic_write_text(csv, table.to_csv(index=False))
    summary, section = write_seed_summary(study.path, table, by, values)
    atomic_write_text(md, f"# {title}\n\n{crows_note(ctx)}\n\n{markdown_table(table)}\n{section}")
    study.mark_done({"rows": len(table), "csv": str(csv), "markdown": str(md), "summary": str(summary)})
    print(f"{title}\n\n{markdown_table(table)}\n{section}\nstudy outputs: {study.path.resolve()}")
    return {"table": table, "csv": str(csv), "markdown": str(md), "summary": str(summary)}


def run(cfg: Any) -> Dict[str, Any]:
    import pandas as pd

    from babybias.launch.compose import run_command
    from babybias.studies.premodel import context_of

    ctx, preset = context_of(cfg)
    models = model_presets(preset)
    compare_common = [c for c in ctx.common if c.startswith(("data.", "paths."))]
    tables = []
    for seed in ctx.seeds:
        runs = {label: pretrain_and_evaluate(ctx, label, overrides, seed) for label, overrides in models.items()}
        (a, run_a), (b, run_b) = runs.items()
        out = Path(ctx.runs_root) / ctx.name / "compare" / f"seed{seed}" / f"{a}__vs__{b}"
        # compare skips a part it cannot do (and says so): an earlier study's correlations must not stand in
        (out / "correlations.csv").unlink(missing_ok=True)
        run_command("compare", [f"a={run_a}", f"b={run_b}", f"out={out}", *list(preset.get("compare", [])),
                                *compare_common])
        if not (out / "correlations.csv").is_file():
            raise BabybiasError(f"compare could not correlate the dynamics of {run_a} and {run_b} (see its output)",
                                fix="evaluate both runs at several checkpoints on the same benchmarks "
                                    "(presets.<size>.evaluate, train.checkpoint_steps)")
        tables.append(pd.read_csv(out / "correlations.csv").assign(seed=seed, a=a, b=b))
    table = pd.concat(tables, ignore_index=True)
    table = table[table["pearson_r"].notna()].reset_index(drop=True)  # counts (n_examples...) do not vary
    return finish_study(cfg, ctx, table, f"Bias dynamics: {' vs '.join(models)} (correlation over training)",
                        by=["benchmark", "category", "metric", "a", "b"], values=["pearson_r", "spearman_rho"])
