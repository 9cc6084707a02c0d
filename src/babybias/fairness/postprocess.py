"""Equalized-odds post-processing as an exact linear program (Hardt, Price & Srebro 2016, Sec. 4).

Hardt et al. derive a randomized predictor Y~ from a binary prediction Y^ and the group A: it outputs 1 with
probability p(y^, a) = P(Y~ = 1 | Y^ = y^, A = a), the four numbers per group minimizing the expected 0-1 loss
subject to equal true- and false-positive rates across groups. We generalize Y^ to any discrete *signal*
(a hashable level per example: a binary prediction, a vote count, an encoded vector of ensemble votes), so
one LP core serves every FairSISA method. With counts pos(v, a), neg(v, a) of fit examples per
(signal, group) cell, n examples, and P_a, N_a the positives and negatives of group a:

    expected 0-1 loss = sum_a P_a / n + sum_(v, a) p(v, a) * (neg(v, a) - pos(v, a)) / n
    TPR_a = sum_v p(v, a) pos(v, a) / P_a,    FPR_a = sum_v p(v, a) neg(v, a) / N_a
    minimize the loss  s.t.  TPR_a = TPR_a0 and FPR_a = FPR_a0 for every group a != a0,  0 <= p <= 1.

The LP is always feasible (a constant p gives TPR = FPR = p in every group), so a solver failure is a
numerical problem, not a user mistake. Only cells seen in the fit data are variables; the others have no
effect on the fit data and get NaN in `mixing_probs_`. Unlike fairlearn's `ThresholdOptimizer`, which
searches thresholds of a score on a grid (Hardt et al. Sec. 4.2), this solves the discrete-signal LP
exactly, so its optimum is the best equalized-odds predictor derivable from the signal.

**Continuous scores are refused.** Every distinct signal value is a level with its own mixing probability,
so a float score (almost every value distinct) makes one level per example: the LP then memorizes the fit
labels (in-sample loss ~0, equalized odds trivially met) and says nothing about new examples. A float signal
with a non-integer value is a `BabybiasError` unless `bins=k` is set: the scores are then cut at the
quantiles of the fit scores into at most k levels (the same edges at predict time). Thresholding the score
yourself (`score >= 0.5`) is the original Hardt setting.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.optimize import linprog
from sklearn.base import BaseEstimator

from babybias.errors import BabybiasError
from babybias.fairness.checks import check_binary_labels, check_finite, check_groups, check_same_length


@dataclass(frozen=True)
class CellCounts:
    """Positive and negative fit examples per (signal level, group) cell; arrays are (levels, groups)."""

    signals: np.ndarray
    groups: np.ndarray
    positives: np.ndarray
    negatives: np.ndarray


@dataclass(frozen=True)
class LPSolution:
    """The optimal mixing probabilities and what they achieve on the fit data."""

    mixing_probs: np.ndarray
    """(levels, groups) P(Y~=1 | signal, group); NaN for cells with no fit examples."""
    expected_loss: float
    """expected 0-1 loss on the fit data, a fraction of examples."""
    status: int
    message: str
    max_violation: float
    """largest |TPR_a - TPR_a0| or |FPR_a - FPR_a0| of the solution (solver tolerance, ~1e-9)."""


def _unique(values: np.ndarray, name: str):
    """Sorted unique values and the index of each value among them (np.unique with return_inverse)."""
    if values.dtype.kind in "iu" and values.size and 0 <= values.min() and values.max() < 2**20:
        # Small non-negative integer codes (votes, vote counts, patterns, group ids): O(n) by bincount
        # instead of np.unique's O(n log n) sort, which dominates fitting on millions of examples.
        present = np.bincount(values) > 0
        levels = np.flatnonzero(present)
        position = np.cumsum(present) - 1
        return levels.astype(values.dtype), position[values]
    try:
        return np.unique(values, return_inverse=True)
    except TypeError as err:  # mixed, unorderable types such as [1, "a"]
        raise BabybiasError(f"{name} mixes values that cannot be compared ({err})",
                            fix=f"give {name} a single type, e.g. all str or all int") from err


def as_signal_array(signals, name: str = "signals") -> np.ndarray:
    """`signals` as a 1-D array of discrete levels; a 2-D array is refused with a pointer to the encoders."""
    arr = np.asarray(signals)
    if arr.ndim != 1:
        raise BabybiasError(f"{name} must be one-dimensional (one discrete level per example), got shape {arr.shape}",
                            fix="encode each vote vector as one level with babybias.fairness.fairsisa.encode_patterns")
    if arr.dtype.kind == "f":
        check_finite(arr, name, fix="drop or impute the examples without a prediction")
    elif arr.dtype.kind == "O":
        check_groups(arr, name)
    return arr


def is_continuous(signals: np.ndarray) -> bool:
    """True for float signals with a non-integer value (scores, probabilities), which cannot be LP levels."""
    return signals.dtype.kind == "f" and bool(np.any(signals != np.round(signals)))


def count_cells(signals, y_true, groups) -> CellCounts:
    """Count positive and negative examples per (signal, group) cell (vectorized: unique + bincount)."""
    y = check_binary_labels(y_true)
    signals, groups = as_signal_array(signals), check_groups(groups)
    check_same_length(signals=signals, y_true=y, groups=groups)
    levels, level_idx = _unique(signals, "signals")
    names, group_idx = _unique(groups, "groups")
    cell = level_idx * len(names) + group_idx
    size = len(levels) * len(names)
    positives = np.bincount(cell, weights=y, minlength=size).reshape(len(levels), len(names))
    totals = np.bincount(cell, minlength=size).reshape(len(levels), len(names))
    positives = positives.astype(np.int64)
    return CellCounts(levels, names, positives, totals - positives)


def check_groups_have_both_labels(counts: CellCounts) -> None:
    """Equalized odds needs a TPR and an FPR in every group: raise if a group lacks positives or negatives."""
    for label, table in (("positive", counts.positives), ("negative", counts.negatives)):
        missing = counts.groups[table.sum(axis=0) == 0]
        if missing.size:
            raise BabybiasError(
                f"group(s) {missing.tolist()} have no {label} labels in the fit data, so their "
                f"{'TPR' if label == 'positive' else 'FPR'} is undefined and equalized odds cannot be imposed",
                fix="fit on a larger calibration set, or merge or drop those groups",
            )


def solve_equalized_odds_lp(positives: np.ndarray, negatives: np.ndarray) -> LPSolution:
    """Solve the Hardt et al. (2016) equalized-odds LP over (levels, groups) count tables with HiGHS.

    Every group must have at least one positive and one negative (see `check_groups_have_both_labels`).
    """
    positives, negatives = np.asarray(positives, float), np.asarray(negatives, float)
    n_levels, n_groups = positives.shape
    seen = (positives + negatives) > 0
    var_level, var_group = np.nonzero(seen)  # one LP variable per seen cell
    pos, neg = positives[seen], negatives[seen]
    n = positives.sum() + negatives.sum()
    cost = (neg - pos) / n
    a_eq = b_eq = None
    if n_groups > 1:
        a_eq = _equal_rate_rows(var_group, pos / positives.sum(axis=0)[var_group], n_groups)
        a_eq = sparse.vstack([a_eq, _equal_rate_rows(var_group, neg / negatives.sum(axis=0)[var_group], n_groups)])
        b_eq = np.zeros(a_eq.shape[0])
    result = linprog(cost, A_eq=a_eq, b_eq=b_eq, bounds=(0.0, 1.0), method="highs")
    if result.status != 0:
        raise RuntimeError(f"HiGHS failed on a feasible equalized-odds LP: {result.message}")
    x = np.clip(result.x, 0.0, 1.0)
    mixing = np.full((n_levels, n_groups), np.nan)
    mixing[var_level, var_group] = x
    violation = float(np.max(np.abs(a_eq @ x))) if a_eq is not None else 0.0
    return LPSolution(mixing, float(positives.sum() / n + cost @ x), int(result.status), str(result.message),
                      violation)


def _equal_rate_rows(var_group: np.ndarray, weight: np.ndarray, n_groups: int) -> sparse.csr_matrix:
    """Rows "rate of group a - rate of group 0 = 0" for a = 1..G-1, where rate_a = sum weight * p over a."""
    rows, cols, vals = [], [], []
    columns = np.arange(len(var_group))
    base = var_group == 0
    for a in range(1, n_groups):
        mine = var_group == a
        rows += [np.full(mine.sum(), a - 1), np.full(base.sum(), a - 1)]
        cols += [columns[mine], columns[base]]
        vals += [weight[mine], -weight[base]]
    return sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                             shape=(n_groups - 1, len(var_group)))


def _lookup(levels: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of each value in the sorted `levels` and whether it is there at all."""
    try:
        idx = np.searchsorted(levels, values)
    except TypeError:  # a type never seen at fit time (e.g. str vs int) is simply unknown
        return np.zeros(len(values), dtype=np.int64), np.zeros(len(values), dtype=bool)
    idx = np.minimum(idx, len(levels) - 1)
    return idx, levels[idx] == values


class EqualizedOddsPostprocessor(BaseEstimator):
    """Hardt et al. (2016) equalized-odds post-processing of a discrete signal, solved exactly by LP.

    `fit(y_pred, y_true, groups)` learns `mixing_probs_` (a DataFrame: signal level x group of
    P(Y~=1 | signal, group)); `predict_proba` looks them up and `predict(random_state=)` samples from them.

    `bins`: None (default) refuses continuous scores (see the module docstring); an int k >= 2 cuts them into
    at most k quantile bins of the fit scores. Discrete signals (ints, or floats with integer values) are
    used as they are either way.

    Attributes set by `fit`: `signals_`, `groups_` (sorted levels), `mixing_probs_`, `expected_loss_` (expected
    0-1 loss on the fit data), `lp_status_`, `lp_message_`, `max_violation_`, `n_examples_`, `cell_counts_`,
    `bin_edges_` (the cut points of binned scores, or None).
    """

    def __init__(self, bins: int | None = None):
        self.bins = bins

    def _fit_levels(self, y_pred) -> np.ndarray:
        """The fit signal as discrete levels; sets `bin_edges_` (None unless continuous scores are binned)."""
        signals = as_signal_array(y_pred, "y_pred")
        self.bin_edges_ = None
        if not is_continuous(signals):
            return signals
        if self.bins is None:
            raise BabybiasError(
                f"y_pred holds continuous scores ({np.unique(signals).size} distinct non-integer values): Hardt "
                "post-processing makes every distinct value a level and would memorize the fit labels",
                fix="threshold the scores first, e.g. (scores >= 0.5).astype(int), or set bins=10 to use "
                    "quantile bins of the fit scores")
        if int(self.bins) < 2:
            raise BabybiasError(f"bins={self.bins} must be at least 2", fix="e.g. bins=10, or bins=None")
        self.bin_edges_ = np.unique(np.quantile(signals, np.linspace(0.0, 1.0, int(self.bins) + 1)[1:-1]))
        return np.searchsorted(self.bin_edges_, signals, side="right")

    def _levels(self, y_pred) -> np.ndarray:
        """A signal at predict time, binned with the fit edges when the fit scores were binned."""
        signals = as_signal_array(y_pred, "y_pred")
        if self.bin_edges_ is None:
            return signals
        return np.searchsorted(self.bin_edges_, signals, side="right")

    def fit(self, y_pred, y_true, groups) -> "EqualizedOddsPostprocessor":
        """Solve the LP on the fit (calibration) data; `y_pred` is a discrete level per example (or a
        continuous score, binned, when `bins` is set)."""
        counts = count_cells(self._fit_levels(y_pred), y_true, groups)
        check_groups_have_both_labels(counts)
        solution = solve_equalized_odds_lp(counts.positives, counts.negatives)
        self.cell_counts_ = counts
        self.signals_, self.groups_ = counts.signals, counts.groups
        self.mixing_probs_ = pd.DataFrame(solution.mixing_probs, index=pd.Index(counts.signals, name="signal"),
                                          columns=pd.Index(counts.groups, name="group"))
        self.expected_loss_ = solution.expected_loss
        self.lp_status_, self.lp_message_ = solution.status, solution.message
        self.max_violation_ = solution.max_violation
        self.n_examples_ = int(counts.positives.sum() + counts.negatives.sum())
        return self

    def predict_proba(self, y_pred, groups, *, fallback=None) -> np.ndarray:
        """P(Y~ = 1) per example, shape (n,).

        A (signal, group) cell never seen at fit time takes its value from `fallback` (array of
        probabilities, one per example) or raises a `BabybiasError` when `fallback` is None. An unknown
        group always raises: its mixing probabilities cannot be guessed.
        """
        if not hasattr(self, "mixing_probs_"):
            raise BabybiasError("EqualizedOddsPostprocessor is not fitted", fix="call fit(y_pred, y_true, groups) first")
        signals, groups = self._levels(y_pred), check_groups(groups)
        check_same_length(y_pred=signals, groups=groups)
        group_idx, known = _lookup(self.groups_, groups)
        if not known.all():
            unknown = pd.unique(groups[~known])[:5].tolist()
            raise BabybiasError(f"group(s) {unknown} were not in the fit data (known: {self.groups_.tolist()})",
                                fix="fit the post-processor on calibration data that contains every group")
        level_idx, seen_level = _lookup(self.signals_, signals)
        proba = np.where(seen_level, self.mixing_probs_.to_numpy()[level_idx, group_idx], np.nan)
        unseen = np.isnan(proba)
        if unseen.any():
            if fallback is None:
                first = int(np.flatnonzero(unseen)[0])
                raise BabybiasError(
                    f"{int(unseen.sum())} example(s) have a signal never seen for their group at fit time "
                    f"(first: signal {signals[first]!r} in group {groups[first]!r})",
                    fix="fit on calibration data covering these signals, or pass fallback= probabilities")
            fallback = check_finite(fallback, "fallback", low=0.0, high=1.0, fix="pass probabilities P(Y~=1) in [0, 1]")
            check_same_length(y_pred=signals, fallback=fallback)
            proba[unseen] = fallback[unseen]
        return proba

    def predict(self, y_pred, groups, *, random_state=None, fallback=None) -> np.ndarray:
        """Sampled 0/1 predictions: Bernoulli(`predict_proba`) with a seeded `numpy.random.Generator`."""
        proba = self.predict_proba(y_pred, groups, fallback=fallback)
        return sample_bernoulli(proba, random_state)


def sample_bernoulli(proba: np.ndarray, random_state=None) -> np.ndarray:
    """0/1 draws with P(1) = `proba`; `random_state` is an int seed, a Generator, or None (fresh entropy)."""
    rng = np.random.default_rng(random_state)
    return (rng.random(np.shape(proba)) < proba).astype(np.int64)
