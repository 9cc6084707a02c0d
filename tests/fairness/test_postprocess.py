"""Hardt et al. (2016) equalized-odds LP: analytic solutions, brute force, fairlearn cross-check, input checks."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone

from babybias.errors import BabybiasError
from babybias.fairness.fairsisa import fit_threshold_optimizer, threshold_optimizer_proba
from babybias.fairness.metrics import fairness_report
from babybias.fairness.postprocess import EqualizedOddsPostprocessor, count_cells


def _group(name, tp, fn, fp, tn):
    """Examples of one group with the given confusion counts of the base predictor."""
    y = np.repeat([1, 1, 0, 0], [tp, fn, fp, tn])
    pred = np.repeat([1, 0, 1, 0], [tp, fn, fp, tn])
    return y, pred, np.full(len(y), name)


def _concat(*parts):
    return tuple(np.concatenate(arrays) for arrays in zip(*parts))


def test_analytic_perfect_group_is_degraded_to_the_other_groups_roc_point():
    # A: perfect (TPR 1, FPR 0). B: TPR .8, FPR .2; balanced classes. Derived (FPR, TPR) must lie in B's
    # triangle (0,0)-(.2,.8)-(1,1); loss = const - (P*TPR - N*FPR)/n is best at the vertex (.2, .8), where
    # P = N: 0.6P > 0 = value at (0,0) > value at (1,1). A reaches it only with p(1,A) = TPR = .8 and
    # p(0,A) = FPR = .2; B only with p = identity. Expected errors: A 10 + 10, B 10 + 10 of 200.
    y, pred, groups = _concat(_group("A", 50, 0, 0, 50), _group("B", 40, 10, 10, 40))
    model = EqualizedOddsPostprocessor().fit(pred, y, groups)
    expected = np.array([[0.2, 0.0], [0.8, 1.0]])  # rows: signal 0, 1; columns: A, B
    np.testing.assert_allclose(model.mixing_probs_.loc[[0, 1], ["A", "B"]].to_numpy(), expected, atol=1e-9)
    assert model.expected_loss_ == pytest.approx(0.2, abs=1e-12)
    assert model.lp_status_ == 0 and model.max_violation_ < 1e-9


def test_analytic_negatives_dominate_so_predict_all_negative():
    # Same ROC points, N = 5P: P*.8 - N*.2 = 40*.8 - 200*.2 < 0, so the best common point is (0, 0): p = 0.
    y, pred, groups = _concat(_group("A", 20, 0, 0, 100), _group("B", 16, 4, 20, 80))
    model = EqualizedOddsPostprocessor().fit(pred, y, groups)
    np.testing.assert_allclose(model.mixing_probs_.to_numpy(), 0.0, atol=1e-9)
    assert model.expected_loss_ == pytest.approx(40 / 240)


def test_single_group_is_the_bayes_rule_on_the_signal():
    y = np.array([1, 1, 0, 1, 0, 0, 0])
    signal = np.array(["hi", "hi", "hi", "mid", "mid", "lo", "lo"])
    model = EqualizedOddsPostprocessor().fit(signal, y, np.zeros(7))
    probs = model.mixing_probs_[0.0]
    assert probs["hi"] == pytest.approx(1.0) and probs["lo"] == pytest.approx(0.0)  # "mid" is a tie: any p
    assert model.expected_loss_ == pytest.approx(2 / 7)  # one error in "hi", one in the "mid" tie


def test_brute_force_grid_over_mixing_probabilities():
    y, pred, groups = _concat(_group("A", 30, 10, 5, 55), _group("B", 20, 20, 15, 45))
    model = EqualizedOddsPostprocessor().fit(pred, y, groups)
    # Grid over A's (p0, p1); B's (p0, p1) then follow exactly from the two equal-rate equations.
    grid = np.linspace(0, 1, 201)
    p0a, p1a = (g.ravel() for g in np.meshgrid(grid, grid))
    tpr, fpr = 0.75 * p1a + 0.25 * p0a, (5 * p1a + 55 * p0a) / 60
    rates_b = np.array([[0.5, 0.5], [0.25, 0.75]])  # [TPR; FPR] = rates_b @ [p1, p0]
    p1b, p0b = np.linalg.solve(rates_b, np.vstack([tpr, fpr]))
    feasible = (np.minimum(p1b, p0b) >= -1e-12) & (np.maximum(p1b, p0b) <= 1 + 1e-12)
    errors = (40 * (1 - tpr) + 60 * fpr) + (40 * (1 - tpr) + 60 * fpr)
    grid_losses = errors[feasible] / 200
    assert model.expected_loss_ <= grid_losses.min() + 1e-9
    assert grid_losses.min() - model.expected_loss_ < 5e-3  # grid step .005
    assert fairness_report(y, model.predict_proba(pred, groups), groups,
                           predictions="expected").equalized_odds_difference < 1e-9


def test_matches_fairlearn_threshold_optimizer_on_a_binary_signal():
    # A binary score's ROC hull is the same triangle as the LP's feasible region: the optima agree up to
    # ThresholdOptimizer's grid, and the exact LP can never be worse.
    y, pred, groups = _concat(_group("A", 30, 10, 5, 55), _group("B", 20, 20, 15, 45), _group("C", 25, 5, 30, 40))
    model = EqualizedOddsPostprocessor().fit(pred, y, groups)
    optimizer = fit_threshold_optimizer(pred[:, None], y, groups)
    proba = threshold_optimizer_proba(optimizer, pred[:, None], groups)
    fairlearn_loss = np.mean(np.where(y == 1, 1 - proba, proba))
    assert model.expected_loss_ <= fairlearn_loss + 1e-9
    assert fairlearn_loss - model.expected_loss_ < 2e-3


def test_multilevel_signal_satisfies_equalized_odds_in_expectation():
    rng = np.random.default_rng(1)
    groups = rng.choice(["a", "b", "c"], size=3000)
    y = (rng.random(3000) < np.where(groups == "a", 0.3, 0.6)).astype(int)
    signal = np.clip(np.round(2 * y + rng.normal(size=3000) + (groups == "c")), -2, 4).astype(int)
    model = EqualizedOddsPostprocessor().fit(signal, y, groups)
    report = fairness_report(y, model.predict_proba(signal, groups), groups, predictions="expected")
    assert report.equalized_odds_difference < 1e-6
    assert report.accuracy == pytest.approx(1 - model.expected_loss_, abs=1e-12)
    assert model.expected_loss_ < min(y.mean(), 1 - y.mean())  # better than any constant predictor


def test_predict_is_seeded_and_follows_predict_proba():
    y, pred, groups = _concat(_group("A", 50, 0, 0, 50), _group("B", 40, 10, 10, 40))
    model = EqualizedOddsPostprocessor().fit(pred, y, groups)
    big_pred, big_groups = np.tile(pred, 100), np.tile(groups, 100)
    draws = model.predict(big_pred, big_groups, random_state=7)
    assert set(np.unique(draws)) <= {0, 1}
    np.testing.assert_array_equal(draws, model.predict(big_pred, big_groups, random_state=7))
    in_a1 = (big_groups == "A") & (big_pred == 1)
    assert draws[in_a1].mean() == pytest.approx(0.8, abs=0.02)


def test_count_cells_counts_each_cell():
    counts = count_cells(np.array([0, 1, 1, 0]), np.array([1, 1, 0, 0]), np.array(["a", "a", "b", "b"]))
    np.testing.assert_array_equal(counts.positives, [[1, 0], [1, 0]])
    np.testing.assert_array_equal(counts.negatives, [[0, 1], [0, 1]])


def test_clone_and_unfitted_predict():
    model = clone(EqualizedOddsPostprocessor())
    with pytest.raises(BabybiasError, match="not fitted"):
        model.predict_proba([0, 1], ["a", "b"])


def test_group_without_positives_or_negatives_raises_with_fix():
    y, pred, groups = _concat(_group("A", 5, 5, 5, 5), _group("B", 0, 0, 3, 7))
    with pytest.raises(BabybiasError, match=r"\['B'\] have no positive labels") as err:
        EqualizedOddsPostprocessor().fit(pred, y, groups)
    assert err.value.fix
    y, pred, groups = _concat(_group("A", 5, 5, 5, 5), _group("B", 3, 2, 0, 0))
    with pytest.raises(BabybiasError, match="no negative labels"):
        EqualizedOddsPostprocessor().fit(pred, y, groups)


@pytest.mark.parametrize(
    ("y", "pred", "groups", "match"),
    [
        ([0, 1, 1, 0], [0, 1, 1], ["a", "a", "b", "b"], "different lengths"),
        ([0, 1, 2, 0], [0, 1, 1, 0], ["a", "a", "b", "b"], "only 0 and 1"),
        ([0, 1, 1, 0], [[0, 1], [1, 1], [0, 0], [1, 0]], ["a", "a", "b", "b"], "one-dimensional"),
        ([0, 1, 1, 0], [0, 1, 1, 0], [1, "a", "b", "b"], "cannot be compared"),
    ],
)
def test_bad_fit_input_raises(y, pred, groups, match):
    with pytest.raises(BabybiasError, match=match):
        EqualizedOddsPostprocessor().fit(np.array(pred), np.array(y), np.array(groups, dtype=object))


def test_unknown_group_and_unseen_signal_at_predict_time():
    y, pred, groups = _concat(_group("A", 5, 5, 5, 5), _group("B", 5, 0, 0, 5))  # signals 0 and 1 only
    model = EqualizedOddsPostprocessor().fit(pred, y, groups)
    with pytest.raises(BabybiasError, match=r"\['Z'\] were not in the fit data"):
        model.predict_proba([1, 0], ["A", "Z"])
    with pytest.raises(BabybiasError, match="never seen"):
        model.predict_proba([2, 0], ["A", "B"])
    proba = model.predict_proba([2, 0], ["A", "B"], fallback=[0.25, 0.25])
    assert proba[0] == 0.25 and proba[1] == pytest.approx(model.mixing_probs_.loc[0, "B"])


def test_continuous_scores_are_refused_unless_binned():
    rng = np.random.default_rng(0)
    scores = rng.random(600)
    y = (rng.random(600) < 0.5).astype(int)  # labels independent of the scores: nothing to learn
    groups = rng.choice(["a", "b"], size=600)
    with pytest.raises(BabybiasError, match="continuous scores .* would memorize"):
        EqualizedOddsPostprocessor().fit(scores, y, groups)
    model = EqualizedOddsPostprocessor(bins=4).fit(scores, y, groups)
    assert len(model.mixing_probs_.index) == 4 and len(model.bin_edges_) == 3
    assert model.bin_edges_ == pytest.approx(np.quantile(scores, [0.25, 0.5, 0.75]))
    # one level per distinct score would fit the labels exactly; four bins cannot (labels are coin flips)
    assert model.expected_loss_ > 0.35
    new = np.array([0.0, 0.99, model.bin_edges_[1]])
    proba = model.predict_proba(new, np.array(["a", "b", "a"]))
    assert proba[0] == pytest.approx(model.mixing_probs_.loc[0, "a"]) and proba[1] == model.mixing_probs_.loc[3, "b"]
    assert proba[2] == pytest.approx(model.mixing_probs_.loc[2, "a"])  # an edge belongs to the bin above it
    # integer-valued floats are discrete levels, not scores
    assert EqualizedOddsPostprocessor().fit((scores > 0.5).astype(float), y, groups).bin_edges_ is None
    with pytest.raises(BabybiasError, match="bins=1 must be at least 2"):
        EqualizedOddsPostprocessor(bins=1).fit(scores, y, groups)
