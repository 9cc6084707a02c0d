"""Fairness integration: post-processors refit on calibration data equalize odds on that data."""

from __future__ import annotations

import numpy as np

from babybias.configs.unlearn import FairnessConfig, FairSisaConfig
from babybias.fairness.fairsisa import synthetic_votes
from babybias.unlearn.evaluate import Scored, fairness_table, fit_postprocessors


def scored(seed: int) -> Scored:
    votes, y, groups = synthetic_votes(3000, 5, 3, random_state=seed)
    rng = np.random.default_rng(seed)
    proba = np.clip(votes * 0.6 + 0.2 + rng.uniform(-0.15, 0.15, votes.shape), 0, 1)
    return Scored(y=y, groups=groups.astype(str), proba=proba, single=proba[:, 2])


def test_expected_metrics_on_the_fit_data_satisfy_equalized_odds():
    cal = scored(0)
    assert np.array_equal(cal.votes, (cal.proba >= 0.5).astype(int))
    fitted = fit_postprocessors(cal, FairSisaConfig())
    rows = {r["method"]: r for r in fairness_table(cal, fitted, FairnessConfig(), seed=0)}
    for method in ("fairsisa_final", "fairsisa_joint", "single_hardt"):
        assert rows[method]["eo_diff"] < 1e-6, method
    assert rows["sisa_vote"]["eo_diff"] > 0.05  # the synthetic ensemble is unfair to begin with
    # joint's optimum is at least as good as final's on the fit data (final is in its feasible set)
    assert rows["fairsisa_joint"]["accuracy"] >= rows["fairsisa_final"]["accuracy"] - 1e-9
    assert {f"constituent_{s}" for s in range(5)} <= set(rows)


def test_sampled_predictions_are_seeded_and_cover_the_same_methods():
    cal, test = scored(0), scored(1)
    fitted = fit_postprocessors(cal, FairSisaConfig(methods=["final", "joint"], threshold_optimizer=True))
    sampled = FairnessConfig(predictions="sampled", constituents=False)
    a = fairness_table(test, fitted, sampled, seed=5)
    b = fairness_table(test, fitted, sampled, seed=5)
    expected = fairness_table(test, fitted, FairnessConfig(constituents=False), seed=5)
    assert a == b
    assert [r["method"] for r in a] == [r["method"] for r in expected]
    for ra, re in zip(a, expected):
        assert abs(ra["accuracy"] - re["accuracy"]) < 0.05  # one draw of 3000 is close to the expectation


def test_table_reports_signed_and_absolute_average_odds_as_aif360_names_them():
    from babybias.fairness.metrics import fairness_report
    from babybias.unlearn.evaluate import COLUMNS

    cal = scored(0)
    cal = Scored(y=cal.y, groups=np.where(cal.groups == "0", "privileged", "unprivileged"), proba=cal.proba,
                 single=cal.single)  # the labels of task.grouping=binary
    rows = {r["method"]: r for r in fairness_table(cal, {}, FairnessConfig(constituents=False), seed=0)}
    vote = rows["sisa_vote"]
    assert {"avg_odds_diff", "avg_abs_odds_diff"} <= set(COLUMNS) <= set(vote)
    report = fairness_report(cal.y, (cal.votes.sum(axis=1) * 2 >= 5).astype(int), cal.groups, privileged="privileged")
    assert vote["avg_odds_diff"] == report.average_odds_difference and vote["avg_odds_diff"] != 0
    assert vote["avg_abs_odds_diff"] == report.average_abs_odds_difference
    term = {r["method"]: r for r in fairness_table(scored(0), {}, FairnessConfig(constituents=False), seed=0)}
    assert np.isnan(term["sisa_vote"]["avg_odds_diff"]) and term["sisa_vote"]["avg_abs_odds_diff"] > 0
