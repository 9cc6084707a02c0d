"""`babybias compare`: alignment by fraction of training (b interpolated onto a) and scipy correlations."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from babybias.analysis.correlation import align, correlate
from babybias.commands import compare as compare_command
from babybias.errors import BabybiasError
from babybias.launch.compose import compose_command

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
    assert ss["pearson_r"] == pytest.approx(pearson.statistic) and ss["pearson_p"] == pytest.approx(pearson.pvalue)
    assert ss["spearman_rho"] == pytest.approx(spearman.statistic)
    assert ss["spearman_p"] == pytest.approx(spearman.pvalue)
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
