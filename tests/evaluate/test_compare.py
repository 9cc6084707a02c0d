"""`babybias compare`: alignment by fraction of training (b interpolated onto a) and scipy correlations."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from babybias.analysis.correlation import align, correlate
from babybias.commands import compare as compare_command
from babybias.errors import BabybiasError
from babybias.launch.compose import compose_command
from babybias.uncertainty import sign_test

FRAC_A = [0.0, 0.25, 0.5, 0.75, 1.0]
SS_A = [50.0, 55.0, 53.0, 60.0, 62.0]
FRAC_B = [0.1, 0.3, 0.5, 0.7, 0.9, 1.0]  # starts later than a: a's fraction 0.0 is dropped, not extrapolated
SS_B = [48.0, 52.0, 57.0, 55.0, 61.0, 66.0]


def _write_run(runs, name, fractions, values, total_steps, extra=()):
    (runs / name / "pretrain" / "checkpoints").mkdir(parents=True)
    rows = [[name, f"step-{round(f * total_steps):07d}", round(f * total_steps), round(f * total_steps) * 1000, f,
             "stereoset", "overall", "ss", v] for f, v in zip(fractions, values)]
    rows += [[name, f"step-{round(f * total_steps):07d}", round(f * total_steps), 0, f, *e]
             for f in fractions for e in extra]
    folder = runs / name / "eval"
    folder.mkdir(parents=True)
    pd.DataFrame(rows, columns=["run", "checkpoint", "step", "tokens_seen", "fraction", "benchmark", "category",
                                "metric", "value"]).to_csv(folder / "dynamics.csv", index=False)


def test_compare_gives_scipy_correlations_on_interpolated_trajectories(tmp_path):
    runs = tmp_path / "runs"
    _write_run(runs, "babylm", FRAC_A, SS_A, 1000, extra=[("blimp", "overall", "accuracy", 70.0)])
    _write_run(runs, "bert", FRAC_B, SS_B, 10000, extra=[("blimp", "overall", "accuracy", 80.0)])
    _write_run(runs, "lonely", FRAC_B, SS_B, 10)
    out = compare_command.run(compose_command("compare", ["a=babylm", "b=bert", f"paths.runs={runs}"]))

    inside = np.array(FRAC_A[1:])
    b_on_a = np.interp(inside, FRAC_B, SS_B)
    assert b_on_a[0] == pytest.approx(48.0 + (0.25 - 0.1) / 0.2 * (52.0 - 48.0))  # between b's 0.1 and 0.3
    table = out["correlations"].set_index(["benchmark", "category", "metric"])
    ss = table.loc[("stereoset", "overall", "ss")]
    pearson, spearman = stats.pearsonr(SS_A[1:], b_on_a), stats.spearmanr(SS_A[1:], b_on_a)
    assert ss["n_points"] == 4
    assert ss["pearson_r"] == pytest.approx(pearson.statistic) and ss["spearman_rho"] == pytest.approx(spearman.statistic)
    assert math.isnan(ss["pearson_p"]) and math.isnan(ss["spearman_p"])  # n = 4 < 5: p-values withheld
    asked = compare_command.run(compose_command("compare", ["a=babylm", "b=bert", f"paths.runs={runs}",
                                                            f"out={tmp_path / 'asked'}", "small_n_p_values=true"]))
    ss_asked = asked["correlations"].set_index(["benchmark", "category", "metric"]).loc[("stereoset", "overall", "ss")]
    assert ss_asked["pearson_p"] == pytest.approx(pearson.pvalue) and ss_asked["spearman_p"] == pytest.approx(spearman.pvalue)
    assert "withheld (nan) where n < 5" in (tmp_path / "asked" / "correlations.md").read_text()
    blimp = table.loc[("blimp", "overall", "accuracy")]  # constant series: no correlation, not a crash
    assert math.isnan(blimp["pearson_r"]) and math.isnan(blimp["spearman_rho"])

    folder = runs / "compare" / "babylm__vs__bert"
    assert pd.read_csv(folder / "correlations.csv").shape[0] == 2
    assert "| stereoset | overall | ss | 4 |" in (folder / "correlations.md").read_text()
    aligned = pd.read_csv(folder / "aligned.csv")
    np.testing.assert_allclose(aligned[aligned["metric"] == "ss"]["value_b"], b_on_a)
    assert (folder / "plots" / "stereoset__ss.png").stat().st_size > 1000


def test_compare_needs_dynamics_tables(tmp_path):
    runs = tmp_path / "runs"
    _write_run(runs, "a", FRAC_A, SS_A, 10)
    (runs / "b" / "pretrain" / "checkpoints").mkdir(parents=True)
    with pytest.raises(BabybiasError, match="checkpoints=all"):
        compare_command.run(compose_command("compare", ["a=a", "b=b", f"paths.runs={runs}"]))


def test_align_keeps_only_shared_metrics_and_correlate_small_cases():
    a = pd.DataFrame({"benchmark": ["x"] * 3 + ["y"] * 3, "category": "overall", "metric": "m",
                      "fraction": [0.0, 0.5, 1.0] * 2, "step": [0, 5, 10] * 2, "value": [1.0, 2.0, 3.0] * 2})
    b = a[a["benchmark"] == "x"].assign(value=[3.0, 1.0, 2.0])
    aligned = align(a, b)
    assert set(aligned["benchmark"]) == {"x"} and aligned["value_b"].tolist() == [3.0, 1.0, 2.0]
    assert correlate([1, 2, 3], [2, 4, 6])["pearson_r"] == pytest.approx(1.0)
    assert math.isnan(correlate([1, 2], [1, 1])["spearman_rho"])


# ---------------------------------------------------------------- paired tests on the same items
def _write_final(runs, name, files: dict[str, list[dict]], options: dict | None = None):
    """runs/<name>/pretrain/model (a checkpoint) and runs/<name>/eval/final/<stem>.json + .examples.jsonl."""
    model = runs / name / "pretrain" / "model"
    model.mkdir(parents=True)
    (model / "config.json").write_text("{}")
    (model / "state.json").write_text(json.dumps({"step": 10, "total_steps": 10}))
    folder = runs / name / "eval" / "final"
    folder.mkdir(parents=True)
    for stem, rows in files.items():
        (folder / f"{stem}.examples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        (folder / f"{stem}.json").write_text(json.dumps({"options": (options or {}).get(stem, {})}))


def _crows_rows(more: np.ndarray, skipped=()) -> list[dict]:
    return [{"pair_id": i, "bias_type": ("gender", "race")[i % 2], "direction": "stereo",
             "outcome": "skipped" if i in skipped else ("more" if m else "less")} for i, m in enumerate(more)]


def test_compare_prints_the_paired_test_with_mcnemar_for_crows_pairs(tmp_path, capsys):
    rng = np.random.default_rng(0)
    more_a = rng.random(400) < 0.6
    more_b = more_a.copy()
    flip = rng.choice(400, size=60, replace=False)
    more_b[flip] = ~more_b[flip]
    a_only, b_only = int(np.sum(more_a & ~more_b)), int(np.sum(~more_a & more_b))
    stereo = [{"example_id": i, "target": f"t{i % 7}", "bias_type": ("gender", "race")[i % 2],
               "stereotype": float(rng.random()), "anti-stereotype": float(rng.random()),
               "unrelated": float(rng.random())} for i in range(150)]
    stereo_b = [{**r, "stereotype": r["stereotype"] * 0.9} for r in stereo]
    blimp_a = [{"uid": f"p{i % 3}", "field": "syntax", "pair_id": str(i // 3), "correct": bool(rng.random() < 0.8)}
               for i in range(300)]
    blimp_b = [{**r, "correct": not r["correct"] if i % 10 == 0 else r["correct"]} for i, r in enumerate(blimp_a)]
    pppl = [{"index": i, "pll": -float(i + 3), "n_tokens": 4} for i in range(5)]
    runs = tmp_path / "runs"
    _write_final(runs, "a", {"crows_pairs": _crows_rows(more_a, skipped={5}), "stereoset": stereo,
                             "blimp-limit100": blimp_a, "pppl": pppl, "seat": [{"test": "x"}]})
    _write_final(runs, "b", {"crows_pairs": _crows_rows(more_b, skipped={7}), "stereoset": stereo_b,
                             "blimp-limit100": blimp_b, "pppl": pppl, "seat": [{"test": "x"}]})
    out = compare_command.run(compose_command("compare", ["a=a", "b=b", f"paths.runs={runs}"]))
    printed = capsys.readouterr().out
    assert "paired tests on the same items" in printed and "McNemar" in printed
    # the two-sided bootstrap p-value is 2 x a share of 1,000 resamples: 0 means p < 0.002, not < 0.001
    assert "p_bootstrap = 0 means p < 2/1000" in printed
    assert "seat: no paired test" in printed and "pppl: not paired" in printed  # each scored its own text

    table = out["paired"].set_index(["variant", "category", "metric"])
    crows = table.loc[("crows_pairs", "overall", "metric_score")]
    common = np.ones(400, bool)
    common[[5, 7]] = False  # a pair skipped by either model is left out of both
    assert crows["n_items"] == 398
    assert crows["value_a"] == pytest.approx(100 * more_a[common].mean())
    assert crows["difference"] == pytest.approx(100 * (more_a[common].mean() - more_b[common].mean()))
    assert crows["ci_low"] < crows["difference"] < crows["ci_high"]
    a_only_common = int(np.sum((more_a & ~more_b)[common]))
    b_only_common = int(np.sum((~more_a & more_b)[common]))
    assert abs(a_only_common - a_only) <= 2 and abs(b_only_common - b_only) <= 2
    assert (crows["a_only"], crows["b_only"]) == (a_only_common, b_only_common)
    assert crows["p_exact"] == pytest.approx(stats.binomtest(a_only_common, a_only_common + b_only_common).pvalue)
    assert ("crows_pairs", "race", "metric_score") in table.index

    from babybias.metrics.stereoset import stereoset_scores
    ss = table.loc[("stereoset", "overall", "ss")]
    assert ss["value_a"] == pytest.approx(stereoset_scores(stereo)["ss"])
    assert ss["value_b"] == pytest.approx(stereoset_scores(stereo_b)["ss"])
    assert ss["difference"] > 0 and ss["p_bootstrap"] < 0.05  # b's stereotype scores were shrunk: SS drops
    micro = table.loc[("blimp-limit100", "overall", "accuracy_micro")]
    correct_a, correct_b = (np.array([r["correct"] for r in rows]) for rows in (blimp_a, blimp_b))
    assert micro["difference"] == pytest.approx(100 * (correct_a.mean() - correct_b.mean()))
    assert micro["p_exact"] == pytest.approx(sign_test(int(np.sum(correct_a & ~correct_b)),
                                                       int(np.sum(~correct_a & correct_b))))
    folder = runs / "compare" / "a__vs__b"
    assert pd.read_csv(folder / "paired.csv").shape == out["paired"].shape
    assert (folder / "plots" / "paired__differences.png").stat().st_size > 1000
    assert not (folder / "correlations.csv").exists()  # no dynamics tables: that part is skipped, not an error


def test_paired_pppl_needs_the_same_text_file(tmp_path):
    pppl_a = [{"index": i, "pll": -float(i + 3), "n_tokens": 4} for i in range(50)]
    pppl_b = [{**r, "pll": r["pll"] - 0.5} for r in pppl_a]
    runs = tmp_path / "runs"
    same = {"pppl": {"path": "shared.txt"}}
    _write_final(runs, "a", {"pppl": pppl_a}, same)
    _write_final(runs, "b", {"pppl": pppl_b}, same)
    out = compare_command.run(compose_command("compare", ["a=a", "b=b", f"paths.runs={runs}", "plots=false"]))
    row = out["paired"].iloc[0]
    expected = math.exp(-sum(r["pll"] for r in pppl_a) / 200) - math.exp(-sum(r["pll"] for r in pppl_b) / 200)
    assert row["metric"] == "pppl" and row["difference"] == pytest.approx(expected)
    assert row["ci_high"] < 0 and pd.isna(row["p_exact"])  # a is better on every text; no exact test for PPPL


def test_results_that_are_not_the_same_quantity_are_not_paired(tmp_path, capsys):
    """Same file stem, different number: another metric definition or another non-naming option (the BabyLM
    temperature sweep) is named and left out of the paired test, never differenced."""
    more = np.arange(60) % 3 == 0
    runs = tmp_path / "runs"
    _write_final(runs, "a", {"crows_pairs": _crows_rows(more), "stereoset": []})
    _write_final(runs, "b", {"crows_pairs": _crows_rows(~more), "stereoset": []})
    folder_b = runs / "b" / "eval" / "final"
    (folder_b / "crows_pairs.json").write_text(json.dumps({"options": {}, "code_version": {"definition": 2}}))
    with pytest.raises(BabybiasError, match="crows_pairs: not paired .*metric definition: None vs 2"):
        compare_command.run(compose_command("compare", ["a=a", "b=b", f"paths.runs={runs}", "plots=false"]))
    (folder_b / "crows_pairs.json").write_text(json.dumps({"options": {}}))
    out = compare_command.run(compose_command("compare", ["a=a", "b=b", f"paths.runs={runs}", "plots=false"]))
    assert set(out["paired"]["variant"]) == {"crows_pairs"}  # the same quantity again: paired


def test_report_refuses_two_metric_definitions_in_one_column(tmp_path):
    from babybias.analysis.report import gather

    root = tmp_path / "runs"
    for name, definition in (("a", 1), ("b", 2)):
        folder = root / name / "eval" / "final"
        folder.mkdir(parents=True)
        (root / name / "pretrain").mkdir()
        (root / name / "pretrain" / "config.yaml").write_text("command: pretrain\n")
        (folder / "crows_pairs.json").write_text(json.dumps({"summary": {"metric_score": 50.0}, "options": {},
                                                             "code_version": {"definition": definition}}))
    with pytest.raises(BabybiasError, match="metric definition: 1 vs 2"):
        gather(f"{root}/**")


def test_paired_plot_draws_a_difference_outside_its_percentile_interval(tmp_path):
    """ICAT and mean |effect size| are not smooth (min, abs): a paired difference can fall outside its
    percentile interval. The forest plot draws the interval as computed instead of failing on a negative
    error-bar length."""
    from babybias.analysis.plots import plot_paired

    table = pd.DataFrame([{"variant": "stereoset", "category": "overall", "metric": "icat", "difference": 1.5,
                           "ci_low": -0.4, "ci_high": 1.2},
                          {"variant": "stereoset", "category": "overall", "metric": "ss", "difference": 0.3,
                           "ci_low": -0.5, "ci_high": 1.0}])
    assert plot_paired(table, tmp_path, "a", "b").stat().st_size > 1000
