"""fairness_report: hand-computed gaps, agreement with fairlearn, exact expected metrics, input checks."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from fairlearn.metrics import MetricFrame, demographic_parity_difference, equalized_odds_difference, true_positive_rate
from sklearn.metrics import balanced_accuracy_score

from babybias.errors import BabybiasError
from babybias.fairness.metrics import fairness_report

# group a: TPR 1/2, FPR 0, selection 1/4; group b: TPR 1, FPR 0, selection 1/2
Y = np.array([1, 1, 0, 0, 1, 1, 0, 0])
PRED = np.array([1, 0, 0, 0, 1, 1, 0, 0])
GROUPS = np.array(list("aaaabbbb"))


def test_hand_computed_gaps_two_groups():
    report = fairness_report(Y, PRED, GROUPS)
    assert report.balanced_accuracy == pytest.approx(balanced_accuracy_score(Y, PRED))
    assert report.tpr_gap == pytest.approx(0.5)
    assert report.fpr_gap == pytest.approx(0.0)
    assert report.equalized_odds_difference == pytest.approx(0.5)  # max(0.5, 0)
    assert report.average_abs_odds_difference == pytest.approx(0.25)  # (|0.5| + |0|) / 2
    assert np.isnan(report.average_odds_difference)  # the signed one needs a privileged group
    assert report.demographic_parity_difference == pytest.approx(0.25)
    assert report.accuracy == pytest.approx(7 / 8)
    assert report.balanced_accuracy == pytest.approx((3 / 4 + 1) / 2)
    assert report.by_group["a"] == {"count": 4, "positives": 2, "negatives": 2, "tpr": 0.5, "fpr": 0.0,
                                    "selection_rate": 0.25, "accuracy": 0.75}


def test_three_groups_use_max_minus_min():
    y = np.array([1, 1, 0, 0] * 3)
    pred = np.array([1, 1, 0, 0,   1, 0, 1, 0,   0, 0, 1, 1])  # TPR 1, .5, 0; FPR 0, .5, 1
    groups = np.repeat(["x", "y", "z"], 4)
    report = fairness_report(y, pred, groups)
    assert report.tpr_gap == pytest.approx(1.0) and report.fpr_gap == pytest.approx(1.0)
    assert report.average_abs_odds_difference == pytest.approx(1.0)
    pred[8:] = [1, 0, 0, 0]  # group z: TPR .5, FPR 0 -> TPR gap .5, FPR gap .5
    report = fairness_report(y, pred, groups)
    assert report.tpr_gap == pytest.approx(0.5) and report.fpr_gap == pytest.approx(0.5)
    assert report.equalized_odds_difference == pytest.approx(0.5)


def test_agrees_with_fairlearn_on_random_data():
    rng = np.random.default_rng(0)
    y, pred = rng.integers(2, size=300), rng.integers(2, size=300)
    groups = rng.choice(["a", "b", "c"], size=300)
    report = fairness_report(y, pred, groups)
    assert report.equalized_odds_difference == pytest.approx(equalized_odds_difference(y, pred, sensitive_features=groups))
    assert report.demographic_parity_difference == pytest.approx(
        demographic_parity_difference(y, pred, sensitive_features=groups))
    tpr = MetricFrame(metrics=true_positive_rate, y_true=y, y_pred=pred, sensitive_features=groups).by_group
    assert [report.by_group[g]["tpr"] for g in "abc"] == pytest.approx(tpr.loc[list("abc")].tolist())


def test_expected_metrics_equal_average_over_all_realizations():
    y = np.array([1, 0, 1, 0, 1, 0])
    groups = np.array(list("aaabbb"))
    proba = np.array([0.9, 0.3, 0.5, 0.2, 0.6, 0.7])
    expected = fairness_report(y, proba, groups, predictions="expected")
    tpr_a = acc = 0.0
    for draw in itertools.product((0, 1), repeat=6):
        draw = np.array(draw)
        weight = np.prod(np.where(draw == 1, proba, 1 - proba))
        tpr_a += weight * draw[(groups == "a") & (y == 1)].mean()
        acc += weight * np.mean(draw == y)
    assert expected.by_group["a"]["tpr"] == pytest.approx(tpr_a, abs=1e-12)
    assert expected.accuracy == pytest.approx(acc, abs=1e-12)
    assert expected.by_group["b"]["fpr"] == pytest.approx((0.2 + 0.7) / 2)


def test_expected_on_hard_predictions_equals_hard_report():
    hard = fairness_report(Y, PRED, GROUPS).to_dict()
    expected = fairness_report(Y, PRED.astype(float), GROUPS, predictions="expected").to_dict()
    assert expected.pop("expected") and not hard.pop("expected")
    assert expected == hard


def test_group_without_positives_has_undefined_tpr_ignored_by_gap():
    y = np.array([1, 0, 1, 0, 0, 0])
    pred = np.array([1, 0, 0, 0, 1, 0])
    groups = np.array(list("aabbcc"))
    report = fairness_report(y, pred, groups)
    assert np.isnan(report.by_group["c"]["tpr"])
    assert report.tpr_gap == pytest.approx(1.0)  # a: 1, b: 0; c undefined
    assert report.fpr_gap == pytest.approx(0.5)  # a: 0, b: 0, c: 0.5
    json.dumps(report.to_dict())  # NaN still serializes


@pytest.mark.parametrize(
    ("y", "pred", "groups", "kwargs", "match"),
    [
        ([0, 1, 2], [0, 1, 1], "aab", {}, "only 0 and 1"),
        ([0, 1, 1], [0, 1], "aab", {}, "different lengths"),
        ([0, 1, 1], [0, 1, 0.5], "aab", {}, "y_pred must contain only 0 and 1"),
        ([0, 1, 1], [0, 1, 1.5], "aab", {"predictions": "expected"}, r"must lie in \[0.0, 1.0\]"),
        ([0, 1, 1], [0, 1, 1], "aab", {"predictions": "soft"}, "unknown predictions"),
        ([0, 1, 1], ["x", "y", "z"], "aab", {"predictions": "expected"}, "must be numbers"),
    ],
)
def test_bad_input_raises_babybias_error(y, pred, groups, kwargs, match):
    with pytest.raises(BabybiasError, match=match):
        fairness_report(np.array(y), np.array(pred), np.array(list(groups)), **kwargs)


def test_signed_average_odds_difference_is_aif360s_and_the_absolute_one_keeps_its_name():
    report = fairness_report(Y, PRED, GROUPS, privileged="b")  # a: TPR .5, FPR 0; b: TPR 1, FPR 0
    assert report.average_odds_difference == pytest.approx(((0.5 - 1.0) + (0.0 - 0.0)) / 2)  # unprivileged - privileged
    assert report.average_abs_odds_difference == pytest.approx((0.5 + 0.0) / 2)
    assert fairness_report(Y, PRED, GROUPS, privileged="a").average_odds_difference == pytest.approx(0.25)
    assert report.privileged == ["b"] and report.to_dict()["privileged"] == ["b"]
    # three groups: the unprivileged ones are pooled (as AIF360 does), in expectation too
    y = np.array([1, 1, 0, 0] * 3)
    proba = np.array([0.9, 0.7, 0.2, 0.0,   0.4, 0.6, 0.5, 0.1,   0.3, 0.1, 0.3, 0.3])
    groups = np.repeat(["p", "u1", "u2"], 4)
    three = fairness_report(y, proba, groups, predictions="expected", privileged=["p"])
    tpr_u, fpr_u = np.mean([0.4, 0.6, 0.3, 0.1]), np.mean([0.5, 0.1, 0.3, 0.3])
    assert three.average_odds_difference == pytest.approx(((tpr_u - 0.8) + (fpr_u - 0.1)) / 2)
    with pytest.raises(BabybiasError, match="not in the data"):
        fairness_report(Y, PRED, GROUPS, privileged="z")
    with pytest.raises(BabybiasError, match="covers every group"):
        fairness_report(Y, PRED, GROUPS, privileged=["a", "b"])


@pytest.mark.parametrize("predictions", ["hard", "expected"])
def test_a_single_group_has_no_between_group_gap_for_hard_and_expected_predictions(predictions):
    """One rule: with fewer than two groups every gap is NaN (fairlearn's 0.0 would read as perfectly fair)."""
    pred = PRED if predictions == "hard" else PRED.astype(float)
    report = fairness_report(Y, pred, np.zeros(len(Y), dtype=int), predictions=predictions)
    for gap in ("equalized_odds_difference", "demographic_parity_difference", "average_abs_odds_difference",
                "tpr_gap", "fpr_gap"):
        assert np.isnan(getattr(report, gap)), gap
    assert report.accuracy == pytest.approx(7 / 8)  # the rest is reported as usual
