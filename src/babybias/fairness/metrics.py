"""Group-fairness metrics of binary classifiers, through fairlearn.

One pure function, `fairness_report`, turns labels, predictions and group membership into a
`FairnessReport`: accuracy, balanced accuracy, per-group rates, and the three gaps we report

- equalized-odds difference (Hardt et al. 2016): max(TPR gap, FPR gap), fairlearn's "worst_case";
- demographic-parity difference: selection-rate gap;
- average-odds difference (Bellamy et al. 2018, AIF360): (|TPR gap| + |FPR gap|) / 2.

With two groups a gap is |rate_a - rate_b|; with more groups every gap is max - min over the groups
(the same "between_groups" convention as fairlearn's `MetricFrame.difference()`), so average-odds
difference becomes the mean of the two max-min gaps (NaN when either gap is undefined).

`predictions="expected"` evaluates a randomized predictor from P(y_hat = 1) per example. All the rates are
linear in the prediction, so the expected TPR of a group is the mean of P(y_hat = 1) over its positives,
exactly, with no sampling; this is how the tests check "equalized odds within 1e-6 in expectation".

A group with no positive (negative) examples has an undefined TPR (FPR); we report NaN for it and the gaps
ignore it (fairlearn would report 0.0 and count it, which makes the gap meaningless).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np
from fairlearn.metrics import (
    MetricFrame,
    count,
    demographic_parity_difference,
    equalized_odds_difference,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)

from babybias.errors import BabybiasError

RATE_NAMES = ("tpr", "fpr", "selection_rate", "accuracy")


@dataclass(frozen=True)
class FairnessReport:
    """Fairness and accuracy of one predictor on one labelled set (rates are fractions in [0, 1])."""

    n_examples: int
    expected: bool
    """True when computed from P(y_hat=1) (expected metrics of a randomized predictor)."""
    accuracy: float
    balanced_accuracy: float
    equalized_odds_difference: float
    demographic_parity_difference: float
    average_odds_difference: float
    tpr_gap: float
    fpr_gap: float
    by_group: dict = field(default_factory=dict)
    """group -> {"count", "positives", "negatives", "tpr", "fpr", "selection_rate", "accuracy"}."""

    def to_dict(self) -> dict:
        """JSON-ready dict: plain floats, group names as strings, NaN kept as float('nan')."""
        out = asdict(self)
        out["by_group"] = {str(g): {k: _plain(v) for k, v in row.items()} for g, row in self.by_group.items()}
        return {k: _plain(v) if k != "by_group" else v for k, v in out.items()}


def _plain(value):
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    return float(value)


def check_binary_labels(y_true, name: str = "y_true") -> np.ndarray:
    """Return `y_true` as an int array of 0/1, or raise a `BabybiasError` naming the offending values."""
    y = np.asarray(y_true)
    if y.ndim != 1:
        raise BabybiasError(f"{name} must be one-dimensional, got shape {y.shape}", fix="pass one label per example")
    if y.dtype == bool:
        return y.astype(np.int64)
    bad = (y != 0) & (y != 1) if y.dtype.kind in "iuf" else ~np.isin(y, (0, 1))  # the first is ~10x faster
    if bad.any():
        shown = np.unique(y[bad])[:5].tolist()
        raise BabybiasError(
            f"{name} must contain only 0 and 1, found {shown}",
            fix="encode the positive class as 1 and the negative class as 0",
        )
    return y.astype(np.int64)


def check_same_length(**arrays) -> int:
    """Raise a `BabybiasError` unless all arrays have the same first dimension; return it."""
    lengths = {name: len(a) for name, a in arrays.items()}
    if len(set(lengths.values())) != 1:
        listed = ", ".join(f"{k}={v}" for k, v in lengths.items())
        raise BabybiasError(f"inputs have different lengths ({listed})", fix="pass one entry per example in each")
    n = next(iter(lengths.values()))
    if n == 0:
        raise BabybiasError("inputs are empty", fix="pass at least one example")
    return n


def _expected_tpr(y, p):
    return float(np.mean(p[y == 1])) if (y == 1).any() else np.nan


def _expected_fpr(y, p):
    return float(np.mean(p[y == 0])) if (y == 0).any() else np.nan


def _expected_accuracy(y, p):
    return float(np.mean(np.where(y == 1, p, 1.0 - p)))


def _hard_accuracy(y, p):
    return float(np.mean(y == p))


def _gap(values: np.ndarray) -> float:
    """max - min over groups, ignoring NaN (undefined rates); NaN if fewer than two groups are defined."""
    defined = values[~np.isnan(values)]
    return float(defined.max() - defined.min()) if defined.size >= 2 else np.nan


def _predictions_and_metrics(y_pred, predictions: str):
    """Validated predictions and the per-group metric functions for hard or expected predictions."""
    if predictions == "hard":
        metrics = {"tpr": true_positive_rate, "fpr": false_positive_rate, "selection_rate": selection_rate,
                   "accuracy": _hard_accuracy}
        return check_binary_labels(y_pred, name="y_pred"), metrics
    if predictions == "expected":
        try:
            pred = np.asarray(y_pred, dtype=float)
        except (TypeError, ValueError) as err:
            raise BabybiasError(f"expected predictions must be numbers ({err})", fix="pass P(y_hat=1) per example") from err
        if pred.ndim != 1 or np.isnan(pred).any() or pred.min(initial=0.0) < 0 or pred.max(initial=0.0) > 1:
            raise BabybiasError("expected predictions must be a 1-D array of probabilities in [0, 1]",
                                fix="pass P(y_hat=1) per example, or use predictions='hard' for 0/1 labels")
        metrics = {"tpr": _expected_tpr, "fpr": _expected_fpr, "selection_rate": lambda y_, p_: float(np.mean(p_)),
                   "accuracy": _expected_accuracy}
        return pred, metrics
    raise BabybiasError(f"unknown predictions={predictions!r}", fix="use 'hard' or 'expected'")


def fairness_report(
    y_true,
    y_pred,
    groups,
    *,
    predictions: Literal["hard", "expected"] = "hard",
) -> FairnessReport:
    """Accuracy and group-fairness gaps of `y_pred` against `y_true` across `groups`.

    `predictions="hard"`: `y_pred` holds 0/1 predictions; rates come from fairlearn's `MetricFrame`, and the
    equalized-odds and demographic-parity differences from fairlearn's functions of the same names.
    `predictions="expected"`: `y_pred` holds P(y_hat = 1) in [0, 1] per example; every metric is the exact
    expectation over the predictor's randomness (all of them are linear in y_hat; balanced accuracy is the
    mean of the expected overall TPR and TNR).
    """
    y = check_binary_labels(y_true)
    groups = np.asarray(groups)
    pred, metrics = _predictions_and_metrics(y_pred, predictions)
    n = check_same_length(y_true=y, y_pred=pred, groups=groups)
    metrics = {**metrics, "count": count, "positives": lambda y_, p_: int(np.sum(y_ == 1))}
    frame = MetricFrame(metrics=metrics, y_true=y, y_pred=pred, sensitive_features=groups)
    table = frame.by_group
    positives = table["positives"].to_numpy(dtype=float)
    counts = table["count"].to_numpy(dtype=float)
    # fairlearn reports 0.0 for a rate with an empty denominator; we want "undefined".
    tpr = np.where(positives > 0, table["tpr"].to_numpy(dtype=float), np.nan)
    fpr = np.where(counts - positives > 0, table["fpr"].to_numpy(dtype=float), np.nan)
    tpr_gap, fpr_gap = _gap(tpr), _gap(fpr)
    dp_gap = _gap(table["selection_rate"].to_numpy(dtype=float))
    eo_gap = float(np.nanmax([tpr_gap, fpr_gap])) if not (np.isnan(tpr_gap) and np.isnan(fpr_gap)) else np.nan
    if predictions == "hard" and not (np.isnan(tpr).any() or np.isnan(fpr).any()):
        eo_gap = float(equalized_odds_difference(y, pred, sensitive_features=groups))
        dp_gap = float(demographic_parity_difference(y, pred, sensitive_features=groups))

    overall = frame.overall
    # mean of the overall TPR and TNR, over those that are defined (sklearn's balanced_accuracy_score for 0/1)
    overall_rates = [overall["tpr"] if y.any() else np.nan, 1.0 - overall["fpr"] if not y.all() else np.nan]
    balanced = float(np.nanmean(overall_rates))
    by_group = {}
    for i, g in enumerate(table.index):
        by_group[g] = {"count": int(counts[i]), "positives": int(positives[i]),
                       "negatives": int(counts[i] - positives[i]), "tpr": float(tpr[i]), "fpr": float(fpr[i]),
                       "selection_rate": float(table["selection_rate"].iloc[i]),
                       "accuracy": float(table["accuracy"].iloc[i])}
    return FairnessReport(
        n_examples=n,
        expected=predictions == "expected",
        accuracy=float(overall["accuracy"]),
        balanced_accuracy=balanced,
        equalized_odds_difference=eo_gap,
        demographic_parity_difference=dp_gap,
        average_odds_difference=(tpr_gap + fpr_gap) / 2.0,
        tpr_gap=tpr_gap,
        fpr_gap=fpr_gap,
        by_group=by_group,
    )
