"""Group-fairness metrics of binary classifiers, through fairlearn.

One pure function, `fairness_report`, turns labels, predictions and group membership into a
`FairnessReport`: accuracy, balanced accuracy, per-group rates, and the gaps we report

- equalized-odds difference (Hardt et al. 2016): max(TPR gap, FPR gap), fairlearn's "worst_case";
- demographic-parity difference: selection-rate gap;
- average *absolute* odds difference (AIF360's `average_abs_odds_difference`, Bellamy et al. 2018):
  (|TPR gap| + |FPR gap|) / 2;
- average odds difference, *signed* (AIF360's `average_odds_difference`):
  ((TPR_unpriv - TPR_priv) + (FPR_unpriv - FPR_priv)) / 2, which needs to know the privileged group(s)
  (`privileged=`); as in AIF360 the other groups are pooled into one unprivileged group. Without
  `privileged` it is NaN (the sign would be arbitrary).

With two groups a gap is |rate_a - rate_b|; with more groups every gap is max - min over the groups
(the same "between_groups" convention as fairlearn's `MetricFrame.difference()`), so the average absolute
odds difference becomes the mean of the two max-min gaps (AIF360 compares privileged with pooled unprivileged
instead; the two agree for two groups).

**Undefined gaps, one rule for hard and expected predictions.** A group with no positive (negative) examples
has an undefined TPR (FPR); we report NaN for it and the gaps ignore it (fairlearn would report 0.0 and count
it, which makes the gap meaningless). A gap needs at least two groups whose rate is defined, otherwise it is
NaN; in particular every gap is NaN with a single group (fairlearn's functions give 0.0 there, which would
read as "perfectly fair"). The equalized-odds difference is the larger of the defined TPR/FPR gaps (NaN when
neither is defined), the average absolute odds difference NaN unless both are.

`predictions="expected"` evaluates a randomized predictor from P(y_hat = 1) per example. All the rates are
linear in the prediction, so the expected TPR of a group is the mean of P(y_hat = 1) over its positives,
exactly, with no sampling; this is how the tests check "equalized odds within 1e-6 in expectation".

Inputs are checked first (`babybias.fairness.checks`): labels and hard predictions 0/1, expected predictions
finite and in [0, 1], and every example with a group; a NaN anywhere is a `BabybiasError` naming it.
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
from babybias.fairness.checks import check_binary_labels, check_finite, check_groups, check_same_length

__all__ = ["FairnessReport", "check_binary_labels", "check_groups", "check_same_length", "fairness_report"]

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
    """Signed, AIF360's definition: mean of (unprivileged - privileged) TPR and FPR differences; NaN without
    `privileged`."""
    average_abs_odds_difference: float
    """(|TPR gap| + |FPR gap|) / 2 (AIF360's `average_abs_odds_difference`; max-min gaps beyond two groups)."""
    tpr_gap: float
    fpr_gap: float
    by_group: dict = field(default_factory=dict)
    """group -> {"count", "positives", "negatives", "tpr", "fpr", "selection_rate", "accuracy"}."""
    privileged: list | None = None
    """The groups pooled as privileged for the signed average odds difference (None: not given)."""

    def to_dict(self) -> dict:
        """JSON-ready dict: plain floats, group names as strings, NaN kept as float('nan')."""
        out = asdict(self)
        out["by_group"] = {str(g): {k: _plain(v) for k, v in row.items()} for g, row in self.by_group.items()}
        out["privileged"] = None if self.privileged is None else [str(g) for g in self.privileged]
        return {k: _plain(v) if k not in ("by_group", "privileged") else v for k, v in out.items()}


def _plain(value):
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    return float(value)


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
        pred = check_finite(y_pred, "y_pred (expected predictions)", low=0.0, high=1.0,
                            fix="pass P(y_hat=1) per example, or use predictions='hard' for 0/1 labels")
        if pred.ndim != 1:
            raise BabybiasError(f"expected predictions must be one-dimensional, got shape {pred.shape}",
                                fix="pass P(y_hat=1) per example")
        metrics = {"tpr": _expected_tpr, "fpr": _expected_fpr, "selection_rate": lambda y_, p_: float(np.mean(p_)),
                   "accuracy": _expected_accuracy}
        return pred, metrics
    raise BabybiasError(f"unknown predictions={predictions!r}", fix="use 'hard' or 'expected'")


def _privileged_mask(groups: np.ndarray, privileged) -> tuple[np.ndarray, list] | None:
    """(mask of examples in a privileged group, the privileged labels), or None without `privileged`."""
    if privileged is None:
        return None
    chosen = list(privileged) if isinstance(privileged, (list, tuple, set, frozenset, np.ndarray)) else [privileged]
    present = set(groups.tolist())
    unknown = [g for g in chosen if g not in present]
    if unknown or not chosen:
        raise BabybiasError(f"privileged={chosen} names groups that are not in the data ({unknown or 'none given'})",
                            fix=f"choose among the groups {sorted(present, key=str)[:10]}")
    wanted = set(chosen)
    mask = np.array([g in wanted for g in groups.tolist()], dtype=bool)
    if mask.all():
        raise BabybiasError(f"privileged={chosen} covers every group, so no group is unprivileged",
                            fix="name only the privileged group(s)")
    return mask, chosen


def _signed_average_odds(y: np.ndarray, pred: np.ndarray, privileged: np.ndarray | None) -> float:
    """AIF360's average_odds_difference: ((TPR_u - TPR_p) + (FPR_u - FPR_p)) / 2, unprivileged groups pooled."""
    if privileged is None:
        return np.nan
    rates = {}
    for side, members in (("p", privileged), ("u", ~privileged)):
        for rate, label in (("tpr", 1), ("fpr", 0)):
            chosen = pred[members & (y == label)]
            rates[rate, side] = float(np.mean(chosen)) if chosen.size else np.nan
    return ((rates["tpr", "u"] - rates["tpr", "p"]) + (rates["fpr", "u"] - rates["fpr", "p"])) / 2.0


def fairness_report(
    y_true,
    y_pred,
    groups,
    *,
    predictions: Literal["hard", "expected"] = "hard",
    privileged=None,
) -> FairnessReport:
    """Accuracy and group-fairness gaps of `y_pred` against `y_true` across `groups`.

    `predictions="hard"`: `y_pred` holds 0/1 predictions; rates come from fairlearn's `MetricFrame`, and the
    equalized-odds and demographic-parity differences from fairlearn's functions of the same names (with
    two or more groups whose rates are all defined; see the module docstring for the other cases).
    `predictions="expected"`: `y_pred` holds P(y_hat = 1) in [0, 1] per example; every metric is the exact
    expectation over the predictor's randomness (all of them are linear in y_hat; balanced accuracy is the
    mean of the expected overall TPR and TNR). `privileged`: a group label or a list of them, for the signed
    average odds difference.
    """
    y = check_binary_labels(y_true)
    groups = check_groups(groups)
    pred, metrics = _predictions_and_metrics(y_pred, predictions)
    n = check_same_length(y_true=y, y_pred=pred, groups=groups)
    privileged_info = _privileged_mask(groups, privileged)
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
    if predictions == "hard" and len(table) >= 2 and not (np.isnan(tpr).any() or np.isnan(fpr).any()):
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
        average_odds_difference=_signed_average_odds(y, pred, None if privileged_info is None else privileged_info[0]),
        average_abs_odds_difference=(tpr_gap + fpr_gap) / 2.0,
        tpr_gap=tpr_gap,
        fpr_gap=fpr_gap,
        by_group=by_group,
        privileged=None if privileged_info is None else privileged_info[1],
    )
