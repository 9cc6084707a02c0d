"""`babybias report`: tidy table from hand-written run folders, plots only where data exists, self-contained HTML."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from babybias.analysis.report import TIDY_COLUMNS, gather
from babybias.analysis.report_html import pearson
from babybias.errors import BabybiasError
from babybias.launch.compose import run_command

CKPTS = {"step-0000002": 2, "step-0000004": 4, "final": 8}


def write_pretrain(root: Path, name: str, model: str, crows: list[float], ratio: float | None = None) -> Path:
    run = root / name / "pretrain"
    run.mkdir(parents=True)
    corpus = {"mutation": "imbalanced" if ratio is not None else "original", "female_ratio": ratio or 0.5}
    (run / "config.yaml").write_text(yaml.safe_dump({"command": "pretrain", "name": name, "seed": 0,
                                                     "model": {"name": model}, "corpus": corpus,
                                                     "train": {"steps": 8}}))
    losses = [5.0 - 0.3 * s for s in range(1, 9)]
    lines = [{"step": s, "loss": loss} for s, loss in zip(range(1, 9), losses)]
    lines.insert(2, {"event": "checkpoint", "step": 2})
    (run / "metrics.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    (run / "DONE").write_text(json.dumps({"steps": 8, "final_loss": losses[-1]}))
    for (ckpt, step), score in zip(CKPTS.items(), crows):
        folder = run / ("model" if ckpt == "final" else f"checkpoints/{ckpt}")
        folder.mkdir(parents=True)
        (folder / "state.json").write_text(json.dumps({"step": step, "total_steps": 8}))
        result = {"summary": {"metric_score": score, "n_pairs": 10},
                  "per_category": {"gender": {"metric_score": score + 1}},
                  "intervals": {"metric_score": {"estimate": score, "low": score - 2.5, "high": score + 2.5},
                                "gender/metric_score": {"estimate": score + 1, "low": score - 9, "high": score + 11}}}
        out = root / name / "eval" / ckpt
        out.mkdir(parents=True)
        (out / "crows_pairs.json").write_text(json.dumps(result))
    return run


@pytest.fixture
def runs(tmp_path) -> Path:
    root = tmp_path / "runs"
    write_pretrain(root, "babylm", "babylm", [50.0, 55.0, 60.0])
    write_pretrain(root, "bert", "bert_base", [52.0, 58.0, 61.0])
    for ratio, score in ((0.1, 45.0), (0.5, 55.0), (0.9, 65.0)):
        write_pretrain(root, f"imb{ratio}", "tiny", [score, score, score], ratio=ratio)
    compare = root / "compare" / "babylm__vs__bert"
    compare.mkdir(parents=True)
    (compare / "config.yaml").write_text("command: compare\n")
    pd.DataFrame({"benchmark": "crows_pairs", "category": "overall", "metric": "metric_score",
                  "fraction": [0.25, 0.5, 1.0], "step_a": [2, 4, 8], "value_a": [50.0, 55.0, 60.0],
                  "value_b": [52.0, 58.0, 61.0]}).to_csv(compare / "aligned.csv", index=False)
    unlearn = root / "fs" / "unlearn"
    unlearn.mkdir(parents=True)
    (unlearn / "config.yaml").write_text("command: unlearn\nname: fs\nsisa: {shards: 3}\n")
    rows = [{"round": r, "eval_set": "test", "method": m, "accuracy": 0.8 - 0.01 * r - d, "balanced_accuracy": 0.7,
             "eo_diff": 0.2 - d, "dp_diff": 0.1, "avg_odds_diff": 0.1, "n": 100}
            for r in (0, 1) for m, d in (("sisa", 0.0), ("fairsisa_final", 0.05))]
    pd.DataFrame(rows).to_csv(unlearn / "fairness.csv", index=False)
    return root


def test_gather_builds_one_tidy_table(runs):
    g = gather(str(runs / "**"))
    assert list(g.metrics.columns) == TIDY_COLUMNS
    assert len(g.runs) == 7 and set(g.runs["command"]) == {"pretrain", "compare", "unlearn"}
    # 5 pretrain runs x 8 logged losses; eval: 5 runs x 3 checkpoints x (overall metric_score, n_pairs, gender)
    assert (g.metrics["source"] == "train").sum() == 5 * 8
    assert (g.metrics["source"] == "eval").sum() == 5 * 3 * 3
    # unlearn: 2 rounds x 2 methods x (accuracy, balanced_accuracy, eo_diff, dp_diff, avg_odds_diff)
    assert (g.metrics["source"] == "fairness").sum() == 2 * 2 * 5
    bert = g.metrics[(g.metrics["run"] == "bert/pretrain") & (g.metrics["category"] == "overall")
                     & (g.metrics["metric"] == "metric_score")].sort_values("step")
    assert bert["step"].tolist() == [2, 4, 8] and bert["fraction"].tolist() == [0.25, 0.5, 1.0]
    assert bert["value"].tolist() == [52.0, 58.0, 61.0]
    assert bert["ci_low"].tolist() == [49.5, 55.5, 58.5] and bert["ci_high"].tolist() == [54.5, 60.5, 63.5]
    gender = g.metrics[(g.metrics["run"] == "bert/pretrain") & (g.metrics["category"] == "gender")]
    assert gender.sort_values("step")["ci_high"].tolist() == [63.0, 69.0, 72.0]
    assert g.metrics[g.metrics["metric"] == "n_pairs"]["ci_low"].isna().all()  # no interval: NaN
    ratios = g.runs.set_index("run")["female_ratio"].dropna().to_dict()
    assert ratios == {"imb0.1/pretrain": 0.1, "imb0.5/pretrain": 0.5, "imb0.9/pretrain": 0.9}


def test_report_writes_tables_plots_and_self_contained_html(runs, tmp_path):
    out = run_command("report", [f"runs={runs}/**", f"out={tmp_path / 'report'}", f"paths.runs={runs}"])
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert pngs == ["accuracy_vs_eo.png", "bias_over_training.png", "bias_vs_female_ratio.png",
                    "learning_curves.png", "model_scatter.png"]
    page = (out / "report.html").read_text()
    assert page.count("src='data:image/png;base64,") == 5
    assert not re.search(r"src=['\"](?!data:)", page)  # nothing loaded from elsewhere
    md = (out / "report.md").read_text()
    assert all(f"]({name})" in md for name in pngs)
    main = pd.read_csv(out / "runs.csv").set_index("run")
    assert main.loc["bert/pretrain", "crows_pairs.metric_score"] == 61.0  # the final checkpoint's value
    assert main.loc["bert/pretrain", ["crows_pairs.metric_score ci_low", "crows_pairs.metric_score ci_high"]].tolist() == [
        58.5, 63.5]
    assert "| 61 [58.5, 63.5] |" in md  # the rendered table shows value [95% CI]
    assert main.loc["babylm/pretrain", "final_loss"] == pytest.approx(5.0 - 0.3 * 8)
    assert len(pd.read_parquet(out / "metrics.parquet")) == len(pd.read_csv(out / "metrics.csv"))


def test_report_draws_only_the_plots_with_data(runs, tmp_path):
    out = run_command("report", [f"runs={runs}/babylm/**", f"out={tmp_path / 'one'}", f"paths.runs={runs}"])
    assert sorted(p.name for p in out.glob("*.png")) == ["bias_over_training.png", "learning_curves.png"]
    with pytest.raises(BabybiasError, match="no runs"):
        run_command("report", [f"runs={tmp_path}/nothing/**", f"paths.runs={runs}"])


def test_pearson():
    x = np.arange(5.0)
    assert pearson(x, 2 * x + 1) == pytest.approx(1.0)
    assert pearson(x, -x) == pytest.approx(-1.0)
    assert np.isnan(pearson(x, np.ones(5)))


def _set_result(root: Path, run: str, ckpt: str, **fields) -> None:
    path = root / run / "eval" / ckpt / "crows_pairs.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **fields}))


def test_report_refuses_to_mix_precisions_or_crows_scorings_in_one_column(tmp_path):
    root = tmp_path / "runs"
    for name in ("a", "b"):
        write_pretrain(root, name, "tiny", [50.0, 55.0, 60.0])
        for ckpt in CKPTS:
            _set_result(root, name, ckpt, scoring={"precision": "fp32"}, options={"scoring": "shared"},
                        metric_options={"scoring": "shared", "round_decimals": 3})
    assert len(gather(f"{root}/**").metrics)  # one variant: fine

    _set_result(root, "b", "final", scoring={"precision": "bf16"})
    with pytest.raises(BabybiasError, match=r"column 'crows_pairs' would mix .*scoring precision: fp32 vs bf16") as err:
        run_command("report", [f"runs={root}/**", f"out={tmp_path / 'out'}"])
    assert "\n" not in str(err.value) and "babybias evaluate" in err.value.fix

    # an older file (no `scoring` block) ran at its impl precision: bf16 there is refused as well
    _set_result(root, "b", "final", scoring=None, engine={"precision": "bf16"})
    with pytest.raises(BabybiasError, match="scoring precision: fp32 vs bf16"):
        gather(f"{root}/**")

    _set_result(root, "b", "final", scoring={"precision": "fp32"}, options={"scoring": "modified"},
                metric_options={"scoring": "modified", "round_decimals": 3})
    with pytest.raises(BabybiasError, match="options.scoring: shared vs modified"):
        gather(f"{root}/**")


def test_a_dryrun_beside_a_run_is_not_reported_with_the_runs_evaluations(tmp_path):
    root = tmp_path / "runs"
    write_pretrain(root, "a", "tiny", [50.0, 55.0, 60.0])
    dryrun = root / "a" / "pretrain-dryrun"
    dryrun.mkdir()
    (dryrun / "config.yaml").write_text(yaml.safe_dump({"command": "pretrain", "name": "a", "seed": 0,
                                                        "model": {"name": "tiny"}, "train": {"steps": 1}}))
    (dryrun / "DONE").write_text(json.dumps({"steps": 1, "final_loss": 5.2}))
    gathered = gather(f"{root}/**")
    evals = gathered.metrics[gathered.metrics["source"] == "eval"]
    assert set(evals["run"]) == {"a/pretrain"} and len(evals)  # the dryrun's row has no CrowS-Pairs number


def test_the_runs_table_takes_every_number_from_the_last_evaluated_checkpoint(runs, tmp_path):
    """A benchmark evaluated only at an earlier checkpoint (e.g. while training went on) is not shown as the
    run's final number beside the final checkpoint's others; the table names the checkpoint."""
    folder = runs / "bert" / "eval" / "step-0000004"
    (folder / "stereoset.json").write_text(json.dumps({"summary": {"ss": 70.0, "lms": 80.0, "icat": 48.0}}))
    out = run_command("report", [f"runs={runs}/**", f"out={tmp_path / 'report'}", f"paths.runs={runs}"])
    main = pd.read_csv(out / "runs.csv").set_index("run")
    assert main.loc["bert/pretrain", "crows_pairs.metric_score"] == 61.0
    assert "stereoset.ss" not in main.columns  # step 4's SS is not the final model's (no run has a final SS)
    assert main.loc["bert/pretrain", "eval_checkpoint"] == "final"


def test_a_point_estimate_outside_its_percentile_interval_is_plotted_not_a_crash(runs, tmp_path):
    """Mean |effect size| (SEAT) and ICAT have a kink (abs, min): near no bias the full-sample estimate can lie
    outside its own percentile interval (an unbiased model: 0.094 [0.105, 0.31]). The female-ratio plot draws
    the interval as it is; matplotlib's error bars refused the negative length and `babybias report` crashed."""
    for ratio, (estimate, low, high) in ((0.1, (0.09, 0.10, 0.31)), (0.5, (0.2, 0.12, 0.35)), (0.9, (0.3, 0.2, 0.5))):
        folder = runs / f"imb{ratio}" / "eval" / "final"
        (folder / "seat.json").write_text(json.dumps({
            "summary": {"gender_mean_abs_effect_size": estimate},
            "intervals": {"gender_mean_abs_effect_size": {"estimate": estimate, "low": low, "high": high}}}))
    out = run_command("report", [f"runs={runs}/**", f"out={tmp_path / 'report'}", f"paths.runs={runs}"])
    assert (out / "bias_vs_female_ratio.png").stat().st_size > 1000
    main = pd.read_csv(out / "runs.csv").set_index("run")
    assert main.loc["imb0.1/pretrain", "seat.gender_mean_abs_effect_size ci_low"] == 0.10  # shown as computed


def _set_interval_level(root: Path, run: str, level: float) -> None:
    for ckpt in CKPTS:
        path = root / run / "eval" / ckpt / "crows_pairs.json"
        result = json.loads(path.read_text())
        result["intervals"] = {k: {**v, "level": level} for k, v in result["intervals"].items()}
        path.write_text(json.dumps({**result, "bootstrap": {"resamples": 1000, "level": level, "seed": 0}}))


def test_the_report_states_the_interval_level_its_results_were_computed_at(tmp_path):
    """`bootstrap.level` is a setting: 90% intervals were shown under a '95% CI' heading, and a column could mix
    90% and 99% intervals; the report names the level and refuses to mix levels."""
    root = tmp_path / "runs"
    for name in ("a", "b"):
        write_pretrain(root, name, "tiny", [50.0, 55.0, 60.0])
        _set_interval_level(root, name, 0.9)
    out = run_command("report", [f"runs={root}/**", f"out={tmp_path / 'out'}"])
    md = (out / "report.md").read_text()
    assert "value [90% item-bootstrap CI]" in md and "95%" not in md

    _set_interval_level(root, "b", 0.99)
    with pytest.raises(BabybiasError, match=r"intervals at different levels \(90% in .*, 99% in ") as err:
        gather(f"{root}/**")
    assert "bootstrap.level" in err.value.fix


def test_a_report_saves_its_config_for_rerun_and_is_never_gathered_as_a_run(runs, tmp_path):
    """The report folder had no config.yaml, so `babybias rerun <report>` refused it; with one, a later report over
    runs/** (where reports go by default) must not list the earlier report as a run."""
    import os
    import subprocess
    import sys

    first = run_command("report", [f"runs={runs}/**", f"paths.runs={runs}", "name=r1"])
    assert first == runs / "reports" / "r1" and "command: report" in (first / "config.yaml").read_text()
    second = run_command("report", [f"runs={runs}/**", f"paths.runs={runs}", "name=r2"])
    assert pd.read_csv(first / "runs.csv")["run"].tolist() == pd.read_csv(second / "runs.csv")["run"].tolist()
    assert not any("reports" in run for run in pd.read_csv(second / "runs.csv")["run"])
    out = subprocess.run([sys.executable, "-m", "babybias.cli", "rerun", str(first), "name=r3", "--cfg", "job"],
                         capture_output=True, text=True, env={**os.environ, "WANDB_MODE": "disabled"}, timeout=120)
    assert out.returncode == 0 and "name: r3" in out.stdout and f"runs: {runs}/**" in out.stdout, out.stderr[-2000:]
