"""`babybias study experiment=debias_transfer size=tiny|paper`: does a debiasing method help a BabyLM as it
helps BERT-base?

Per seed and model (preset `models`, label -> overrides, as in bias_dynamics): pretrain, evaluate the final
model (the baseline), then each method of the preset for each bias type of the preset (`bias_types`:
gender, race, religion, as the seed paper and bias-bench ran them; gender when absent):

- post-model (`post_model`: inlp, sentence_debias, self_debias): `babybias evaluate debias=<method>
  debias.bias_type=<type>`, which fits the method for that bias type when its artifact is missing and scores
  the debiased model;
- intra-model (`intra_model`: cda, dropout, cds, orthogonal_ewc): `babybias pretrain debias=<method>
  init_from=<baseline>` (continued pretraining for cda and dropout, the seed paper's fine-tuning recipes for cds
  and orthogonal_ewc; CDA of the bias type, the others, which have no bias type, once for all types), then
  evaluate it.

The bias change of a method is (debiased - baseline) per metric of the bias type, as bias-bench reports
them: the CrowS-Pairs category (gender, race-color, religion), the StereoSet domain (gender, race, religion)
and the SEAT tests of the type (mean |effect size|); benchmarks without bias categories (BLiMP,
pseudo-perplexity, ...) give their overall headline numbers. The study table has one row per (seed, bias
type, method, benchmark variant, metric) with both models' changes; the closing row per seed is Pearson r of
the two models' changes over all (bias type, method, metric) points. CrowS-Pairs is reported in both scorings
the preset states (`crows_pairs_scoring: [modified, shared]`): `crows_pairs-modified.*` is the bias-bench
scoring (mean log-probability of the modified tokens) the seed paper's debiasing runs used, the study's own
and the one counted in Pearson r; `crows_pairs.*` is Nangia et al.'s shared-token PLL, reported beside it.
Output: runs/<name>/study/results.csv|md.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Dict, List, Optional, Set

from babybias.errors import BabybiasError, ConfigError

# bias type -> its CrowS-Pairs category and StereoSet domain (the names the data files use)
CROWS_CATEGORY = {"gender": "gender", "race": "race-color", "religion": "religion"}
STEREOSET_DOMAIN = {"gender": "gender", "race": "race", "religion": "religion"}


def _applies(result: dict, stem: str, debias: Optional[Any]) -> Optional[str]:
    """The result's variant without its debias part when it holds the model debiased by `debias` (a
    DebiasConfig; None: the plain model), else None. Files from before `base_variant` fall back to the stem."""
    from babybias.runs import to_jsonable

    applied = (result.get("options") or {}).get("debias")
    if "base_variant" in result:
        wanted = to_jsonable(debias) if debias is not None else None
        return result["base_variant"] if (applied or None) == wanted else None
    label, _, rest = stem.partition("-")  # <benchmark>[-<method>...].json, gender only
    plain = debias is None and rest == ""
    return label if plain or (debias is not None and debias.bias_type == "gender" and debias.method in rest) else None


def bias_type_metrics(eval_dir: Path, debias: Optional[Any], bias_type: str,
                      variants: Optional[Set[str]] = None) -> Dict[str, float]:
    """{"<variant>.<metric>": value} of `bias_type` in one checkpoint's eval folder, for the model debiased by
    `debias` (the exact DebiasConfig applied; None: the undebiased model); see the module doc. The key drops
    the debias part of the variant, so a debiased result and its baseline share it. `variants`: the only variants
    (base stems) to read, those the study evaluates (None: every one in the folder)."""
    from babybias.analysis.plots import headline_metrics

    out: Dict[str, float] = {}
    for path in sorted(eval_dir.glob("*.json")):
        result = json.loads(path.read_text())
        if not isinstance(result, dict) or "summary" not in result:
            continue
        label = _applies(result, path.stem, debias)
        if label is None or (variants is not None and label not in variants):
            continue
        benchmark, per_category, summary = label.split("-")[0], result.get("per_category") or {}, result["summary"]
        if benchmark == "crows_pairs":  # the bias type's category only, never the overall number
            values = {"metric_score": per_category.get(CROWS_CATEGORY[bias_type], {}).get("metric_score")}
        elif benchmark == "stereoset":
            values = {m: per_category.get(STEREOSET_DOMAIN[bias_type], {}).get(m) for m in ("lms", "ss", "icat")}
        elif benchmark == "seat":
            values = {"mean_abs_effect_size": summary.get(f"{bias_type}_mean_abs_effect_size")}
        else:
            values = {m: summary.get(m) for m in headline_metrics(benchmark)}
        out.update({f"{label}.{m}": float(v) for m, v in values.items()
                    if isinstance(v, (int, float)) and not (isinstance(v, float) and math.isnan(v))})
    return out


def evaluate_final(ctx: Any, run_dir: Path, *extra: str) -> Path:
    """`babybias evaluate` of the run's final checkpoint, once per stated CrowS-Pairs scoring (skipped when
    done); returns the folder its results are in (runs/<name>/eval/<checkpoint>, named by its step)."""
    from babybias.launch.compose import run_command
    from babybias.studies.premodel import evaluate_overrides

    for evaluate in evaluate_overrides(ctx, list(ctx.evaluate)):
        run_command("evaluate", [f"run={run_dir}", "checkpoints=final", *extra, *evaluate, *ctx.common])
    return final_eval_dir(ctx, run_dir)


def final_eval_dir(ctx: Any, run_dir: Path) -> Path:
    from babybias.analysis.dynamics import select_checkpoints

    return select_checkpoints(str(run_dir), "final", ctx.runs_root)[0].eval_dir


def study_variants(ctx: Any) -> List[Set[str]]:
    """The result variants (base stems) of each `babybias evaluate` call the study makes of a model: the preset's
    benchmarks with its own CrowS-Pairs scoring first, then each further scoring."""
    from babybias.studies.premodel import evaluate_overrides, result_variants

    calls = result_variants(ctx, evaluate_overrides(ctx, list(ctx.evaluate)))
    return [{v.base_stem for v in call.values()} for call in calls]


def evaluate_method(ctx: Any, run_dir: Path, method: str, intra: bool, seed: int, label: str,
                    bias_type: str = "gender", variants: Optional[Set[str]] = None) -> Dict[str, float]:
    """The bias-type metrics of the model debiased by `method` for `bias_type` (evaluated when missing), of the
    result `variants` only (None: all)."""
    from babybias.configs.debias import DebiasConfig
    from babybias.launch.compose import compose_command
    from babybias.studies.arms import pretrain_arm

    typed = [f"debias.bias_type={bias_type}"] if DebiasConfig(method=method).reads_bias_type else []
    if intra:
        debias = DebiasConfig(method=method, bias_type=bias_type if typed else "gender")
        name = f"{ctx.name}/{label}/{debias.tag}/seed{seed}"
        pretrain_arm([*ctx.pretrain, f"debias={method}", *typed, f"init_from={run_dir}", f"name={name}",
                      f"seed={seed}", *ctx.common])
        return bias_type_metrics(evaluate_final(ctx, Path(ctx.runs_root) / name / "pretrain"), None, bias_type,
                                 variants)
    applied = compose_command("evaluate", [f"debias={method}", *typed, *ctx.evaluate, *ctx.common]).debias
    return bias_type_metrics(evaluate_final(ctx, run_dir, f"debias={method}", *typed), applied, bias_type, variants)


def bias_types_of(preset: Dict[str, Any]) -> List[str]:
    from babybias.configs.debias import BIAS_TYPES

    types = list(preset.get("bias_types") or ["gender"])
    unknown = [t for t in types if t not in BIAS_TYPES]
    if unknown:
        raise ConfigError(f"presets.<size>.bias_types has unknown bias types {unknown}",
                          fix=f"use a list of {', '.join(BIAS_TYPES)}")
    return types


def changes(ctx: Any, preset: Dict[str, Any], label: str, overrides: List[str],
            seed: int) -> Dict[tuple, Dict[str, float]]:
    """(bias type, method) -> {metric: debiased - baseline} for one model."""
    from babybias.studies.bias_dynamics import pretrain_and_evaluate

    run_dir = pretrain_and_evaluate(ctx, label, overrides, seed, checkpoints="final")
    eval_dir = final_eval_dir(ctx, run_dir)
    variants = set().union(*study_variants(ctx))
    out = {}
    for bias_type in bias_types_of(preset):
        baseline = bias_type_metrics(eval_dir, None, bias_type, variants)
        if not baseline:
            raise BabybiasError(f"no {bias_type} results in {eval_dir}",
                                fix="check presets.<size>.evaluate (SEAT needs seat.tests=all for race/religion)")
        for intra, methods in ((False, preset.get("post_model", [])), (True, preset.get("intra_model", []))):
            for method in methods:
                debiased = evaluate_method(ctx, run_dir, method, intra, seed, label, bias_type, variants)
                out[(bias_type, method)] = {k: debiased[k] - v for k, v in baseline.items() if k in debiased}
    return out


def run(cfg: Any) -> Dict[str, Any]:
    import pandas as pd

    from babybias.analysis.report_html import pearson
    from babybias.studies.bias_dynamics import finish_study, model_presets
    from babybias.studies.premodel import context_of

    ctx, preset = context_of(cfg)
    models = model_presets(preset)
    (a, _), (b, _) = models.items()
    also_reported = set().union(*study_variants(ctx)[1:])  # further CrowS scorings: shown, not counted in Pearson r
    rows = []
    for seed in ctx.seeds:
        delta = {label: changes(ctx, preset, label, overrides, seed) for label, overrides in models.items()}
        points = []
        for (bias_type, method), per_metric in delta[a].items():
            for metric, change_a in per_metric.items():
                change_b = delta[b].get((bias_type, method), {}).get(metric)
                if change_b is not None:
                    rows.append({"seed": seed, "bias_type": bias_type, "method": method, "metric": metric,
                                 f"change_{a}": change_a, f"change_{b}": change_b})
                    if metric.split(".")[0] not in also_reported:
                        points.append((change_a, change_b))
        if points:
            xs, ys = zip(*points)
            rows.append({"seed": seed, "bias_type": "ALL", "method": "ALL",
                         "metric": f"pearson_r over {len(points)} points", f"change_{a}": pearson(xs, ys),
                         f"change_{b}": None})
    return finish_study(cfg, ctx, pd.DataFrame(rows), f"Debiasing transfer: bias change, {a} vs {b}")
