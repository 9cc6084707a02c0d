"""`babybias study experiment=debias_transfer size=tiny|paper`: does a debiasing method help a BabyLM as it
helps BERT-base?

Per seed and model (preset `models`, label -> overrides, as in bias_dynamics): pretrain, evaluate the final
model (the baseline), then each method of the preset:

- post-model (`post_model`: inlp, sentence_debias, self_debias): `babybias evaluate debias=<method>`, which
  fits the method on that model when its artifact is missing and scores the debiased model;
- intra-model (`intra_model`: cda, dropout): `babybias pretrain debias=<method> init_from=<baseline>`
  (continued pretraining), then evaluate it.

The bias change of a method is (debiased - baseline) per headline metric. The study table has one row per
(seed, method, benchmark variant, metric) with both models' changes; the closing row per seed is Pearson r of
the two models' changes over all (method, metric) points. CrowS-Pairs is reported in both scorings the preset
states (`crows_pairs_scoring: [modified, shared]`): `crows_pairs-modified.*` is the bias-bench scoring (mean
log-probability of the modified tokens) the seed paper's debiasing runs used, the study's own and the one
counted in Pearson r; `crows_pairs.*` is Nangia et al.'s shared-token PLL, reported beside it.
Output: runs/<name>/study/results.csv|md.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Optional

from babybias.errors import BabybiasError, ConfigError


def overall_headlines(eval_dir: Path, method: Optional[str]) -> Dict[str, float]:
    """{"<variant>.<metric>": value} of the overall headline metrics in one checkpoint's eval folder, for the
    results of debiasing `method` (None: the undebiased baseline).

    `<variant>` is the result's stem without its debias part (`crows_pairs-modified`), read from the file, so
    a debiased result and its baseline share the key; files from before `base_variant` fall back to the stem.
    """
    from babybias.analysis.plots import headline_metrics

    out: Dict[str, float] = {}
    for path in sorted(eval_dir.glob("*.json")):
        result = json.loads(path.read_text())
        if not isinstance(result, dict) or "summary" not in result:
            continue
        if "base_variant" in result:
            applied = ((result.get("options") or {}).get("debias") or {}).get("method", "none")
            label, matches = result["base_variant"], applied == (method or "none")
        else:  # <benchmark>[-<method>...].json
            label, _, rest = path.stem.partition("-")
            matches = (method is None) == (rest == "") and (method is None or method in rest)
        if not matches:
            continue
        summary = result.get("summary", {})
        for metric in headline_metrics(label):
            if isinstance(summary.get(metric), (int, float)):
                out[f"{label}.{metric}"] = float(summary[metric])
    return out


def evaluate_method(ctx: Any, run_dir: Path, method: str, intra: bool, seed: int, label: str) -> Dict[str, float]:
    from babybias.launch.compose import run_command
    from babybias.studies.premodel import evaluate_overrides

    if intra:
        name = f"{ctx.name}/{label}/{method}/seed{seed}"
        run_command("pretrain", [*ctx.pretrain, f"debias={method}", f"init_from={run_dir}", f"name={name}",
                                 f"seed={seed}", *ctx.common])
        debiased = Path(ctx.runs_root) / name / "pretrain"
        for evaluate in evaluate_overrides(ctx, list(ctx.evaluate)):
            run_command("evaluate", [f"run={debiased}", "checkpoints=final", *evaluate, *ctx.common])
        return overall_headlines(debiased.parent / "eval" / "final", None)
    for evaluate in evaluate_overrides(ctx, list(ctx.evaluate)):
        try:
            run_command("evaluate", [f"run={run_dir}", "checkpoints=final", f"debias={method}", *evaluate, *ctx.common])
        except Exception as err:  # hydra's composition error when `evaluate` has no debias= group yet
            if "debias" in str(err) and "evaluate" not in str(type(err)):
                raise ConfigError(f"`babybias evaluate debias={method}` is not available: {err}".splitlines()[0],
                                  fix="use a babybias version whose evaluate command takes debias=") from err
            raise
    return overall_headlines(run_dir.parent / "eval" / "final", method)


def changes(ctx: Any, preset: Dict[str, Any], label: str, overrides: List[str], seed: int) -> Dict[str, Dict[str, float]]:
    """method -> {metric: debiased - baseline} for one model."""
    from babybias.studies.bias_dynamics import pretrain_and_evaluate

    run_dir = pretrain_and_evaluate(ctx, label, overrides, seed, checkpoints="final")
    baseline = overall_headlines(run_dir.parent / "eval" / "final", None)
    if not baseline:
        raise BabybiasError(f"no baseline results in {run_dir.parent / 'eval' / 'final'}", fix="check presets.<size>.evaluate")
    out = {}
    for intra, methods in ((False, preset.get("post_model", [])), (True, preset.get("intra_model", []))):
        for method in methods:
            debiased = evaluate_method(ctx, run_dir, method, intra, seed, label)
            out[method] = {k: debiased[k] - v for k, v in baseline.items() if k in debiased}
    return out


def run(cfg: Any) -> Dict[str, Any]:
    import pandas as pd

    from babybias.analysis.report_html import pearson
    from babybias.studies.bias_dynamics import finish_study, model_presets
    from babybias.studies.premodel import context_of, crows_stem

    ctx, preset = context_of(cfg)
    models = model_presets(preset)
    (a, _), (b, _) = models.items()
    also_reported = {crows_stem(s) for s in ctx.crows_scorings[1:]}  # shown, but CrowS counts once in Pearson r
    rows = []
    for seed in ctx.seeds:
        delta = {label: changes(ctx, preset, label, overrides, seed) for label, overrides in models.items()}
        points = []
        for method, per_metric in delta[a].items():
            for metric, change_a in per_metric.items():
                change_b = delta[b].get(method, {}).get(metric)
                if change_b is not None:
                    rows.append({"seed": seed, "method": method, "metric": metric, f"change_{a}": change_a,
                                 f"change_{b}": change_b})
                    if metric.split(".")[0] not in also_reported:
                        points.append((change_a, change_b))
        if points:
            xs, ys = zip(*points)
            rows.append({"seed": seed, "method": "ALL", "metric": f"pearson_r over {len(points)} points",
                         f"change_{a}": pearson(xs, ys), f"change_{b}": None})
    return finish_study(cfg, ctx, pd.DataFrame(rows), f"Debiasing transfer: bias change, {a} vs {b}")
