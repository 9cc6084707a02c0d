"""Every fairness entry point refuses NaN scores, labels and groups with a precise message (issue 9, item 6).

Before these checks a NaN score made fairlearn's ThresholdOptimizer search thresholds forever (its fit never
returned) and, at predict time, come back as a probability; a missing group reached fairlearn or numpy and
failed there, or not at all.
"""

from __future__ import annotations

import numpy as np
import pytest

from babybias.errors import BabybiasError
from babybias.fairness.fairsisa import FairSISA, fit_threshold_optimizer, synthetic_votes, threshold_optimizer_proba
from babybias.fairness.metrics import fairness_report
from babybias.fairness.postprocess import EqualizedOddsPostprocessor

VOTES, Y, GROUPS = synthetic_votes(400, 3, 2, random_state=1)
PROBA = np.clip(VOTES * 0.8 + 0.1, 0, 1).astype(float)


def with_nan(values, index: int = 3):
    out = np.array(values, dtype=float)
    out.flat[index] = np.nan
    return out


def with_missing_group(groups, index: int = 5):
    out = np.array(groups, dtype=object)
    out[index] = None
    return out


def _fitted(method="joint"):
    return FairSISA(method=method).fit(VOTES, Y, GROUPS)


def _optimizer():
    return fit_threshold_optimizer(PROBA, Y, GROUPS, grid_size=50)


CASES = {
    "report: NaN label": (lambda: fairness_report(with_nan(Y), VOTES[:, 0], GROUPS), "y_true contains NaN"),
    "report: NaN hard prediction": (lambda: fairness_report(Y, with_nan(VOTES[:, 0]), GROUPS), "y_pred contains NaN"),
    "report: NaN expected prediction": (
        lambda: fairness_report(Y, with_nan(PROBA[:, 0]), GROUPS, predictions="expected"), "contains NaN"),
    "report: missing group": (lambda: fairness_report(Y, VOTES[:, 0], with_missing_group(GROUPS)),
                              "groups has missing labels"),
    "report: NaN group": (lambda: fairness_report(Y, VOTES[:, 0], with_nan(GROUPS)), "groups has missing labels"),
    "hardt fit: NaN signal": (lambda: EqualizedOddsPostprocessor().fit(with_nan(VOTES[:, 0]), Y, GROUPS),
                              "y_pred contains NaN"),
    "hardt fit: infinite signal": (
        lambda: EqualizedOddsPostprocessor().fit(np.where(np.arange(400) == 2, np.inf, VOTES[:, 0]), Y, GROUPS),
        "infinite values: 1 value"),
    "hardt fit: NaN label": (lambda: EqualizedOddsPostprocessor().fit(VOTES[:, 0], with_nan(Y), GROUPS), "NaN"),
    "hardt fit: missing group": (
        lambda: EqualizedOddsPostprocessor().fit(VOTES[:, 0], Y, with_missing_group(GROUPS)), "missing labels"),
    "hardt predict: missing group": (
        lambda: EqualizedOddsPostprocessor().fit(VOTES[:, 0], Y, GROUPS).predict_proba(
            VOTES[:, 0], with_missing_group(GROUPS)), "missing labels"),
    "hardt predict: NaN fallback": (
        lambda: EqualizedOddsPostprocessor().fit(VOTES[:50, 0], Y[:50], GROUPS[:50]).predict_proba(
            np.full(400, 7), GROUPS, fallback=with_nan(PROBA[:, 0])), "fallback contains NaN"),
    "fairsisa fit: NaN vote": (lambda: FairSISA().fit(with_nan(VOTES), Y, GROUPS), "vote matrix contains NaN"),
    "fairsisa fit: missing group": (lambda: FairSISA().fit(VOTES, Y, with_missing_group(GROUPS)), "missing labels"),
    "fairsisa final predict: missing group": (
        lambda: _fitted("final").predict_proba(VOTES, with_missing_group(GROUPS)), "missing labels"),
    "fairsisa constituent predict: NaN group": (
        lambda: _fitted("constituent").predict(VOTES, with_nan(GROUPS), random_state=0), "missing labels"),
    "threshold optimizer fit: NaN score": (lambda: fit_threshold_optimizer(with_nan(PROBA), Y, GROUPS, grid_size=50),
                                           r"P \(constituent scores\) contains NaN or infinite values: 1 value"),
    "threshold optimizer fit: missing group": (
        lambda: fit_threshold_optimizer(PROBA, Y, with_missing_group(GROUPS), grid_size=50), "missing labels"),
    "threshold optimizer predict: NaN score": (
        lambda: threshold_optimizer_proba(_optimizer(), with_nan(PROBA), GROUPS), "contains NaN"),
    "threshold optimizer predict: missing group": (
        lambda: threshold_optimizer_proba(_optimizer(), PROBA, with_missing_group(GROUPS)), "missing labels"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_every_fairness_entry_point_refuses_missing_values(case):
    call, match = CASES[case]
    with pytest.raises(BabybiasError, match=match):
        call()


def test_messages_say_where_the_first_bad_value_is():
    with pytest.raises(BabybiasError, match="2 value\\(s\\), first at index 3"):
        fairness_report(Y, with_nan(with_nan(PROBA[:, 0]), 9), GROUPS, predictions="expected")
