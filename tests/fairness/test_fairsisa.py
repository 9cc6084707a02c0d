"""FairSISA final / constituent / joint: equalized odds in expectation, loss ordering, exact vote tails."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from babybias.errors import BabybiasError
from babybias.fairness.fairsisa import (
    FairSISA,
    encode_patterns,
    fit_threshold_optimizer,
    majority_vote,
    prob_majority,
    synthetic_votes,
    threshold_optimizer_proba,
)
from babybias.fairness.metrics import fairness_report
from babybias.fairness.postprocess import EqualizedOddsPostprocessor


@pytest.fixture(scope="module")
def ensemble():
    """5 constituents, 3 groups with different base rates and accuracies, 6000 calibration examples."""
    return synthetic_votes(6000, 5, 3, random_state=0)


@pytest.fixture(scope="module")
def fitted(ensemble):
    votes, y, groups = ensemble
    configs = {"final": ("final", "pattern"), "constituent": ("constituent", "pattern"),
               "joint": ("joint", "pattern"), "joint_count": ("joint", "vote_count")}
    return {name: FairSISA(method, statistic).fit(votes, y, groups) for name, (method, statistic) in configs.items()}


def _expected_report(model, ensemble):
    votes, y, groups = ensemble
    return fairness_report(y, model.predict_proba(votes, groups), groups, predictions="expected")


def test_synthetic_ensemble_is_unfair_before_post_processing(ensemble):
    votes, y, groups = ensemble
    assert fairness_report(y, majority_vote(votes), groups).equalized_odds_difference > 0.1


@pytest.mark.parametrize("name", ["final", "joint", "joint_count"])
def test_final_and_joint_satisfy_equalized_odds_in_expectation(fitted, ensemble, name):
    report = _expected_report(fitted[name], ensemble)
    assert report.equalized_odds_difference < 1e-6
    assert report.accuracy == pytest.approx(1 - fitted[name].expected_loss_, abs=1e-12)


def test_joint_loss_is_at_most_vote_count_at_most_final(fitted):
    # final's predictor is feasible for both joint LPs (the majority is a function of the votes).
    assert fitted["joint"].expected_loss_ <= fitted["joint_count"].expected_loss_ + 1e-9
    assert fitted["joint_count"].expected_loss_ <= fitted["final"].expected_loss_ + 1e-9
    assert fitted["joint"].expected_loss_ < fitted["final"].expected_loss_ - 1e-3  # strictly better here


def test_constituent_post_processes_each_constituent_fairly(fitted, ensemble):
    votes, y, groups = ensemble
    model = fitted["constituent"]
    per_constituent = model.constituent_proba(votes, groups)
    assert per_constituent.shape == votes.shape
    for s in range(votes.shape[1]):
        report = fairness_report(y, per_constituent[:, s], groups, predictions="expected")
        assert report.equalized_odds_difference < 1e-6
    # The vote of fair constituents is reported, not guaranteed fair: only check it is a valid report.
    report = _expected_report(model, ensemble)
    assert 0 <= report.equalized_odds_difference <= 1
    assert report.accuracy == pytest.approx(1 - model.expected_loss_, abs=1e-12)


def test_final_equals_post_processing_the_majority_vote(fitted, ensemble):
    votes, y, groups = ensemble
    direct = EqualizedOddsPostprocessor().fit(majority_vote(votes), y, groups)
    np.testing.assert_allclose(fitted["final"].predict_proba(votes, groups),
                               direct.predict_proba(majority_vote(votes), groups), atol=1e-9)


def test_joint_never_worse_than_fairlearn_threshold_optimizer(fitted, ensemble):
    votes, y, groups = ensemble
    optimizer = fit_threshold_optimizer(votes, y, groups)
    proba = threshold_optimizer_proba(optimizer, votes, groups)
    fairlearn_loss = np.mean(np.where(y == 1, 1 - proba, proba))
    assert fitted["joint_count"].expected_loss_ <= fairlearn_loss + 1e-9
    assert fairness_report(y, proba, groups, predictions="expected").equalized_odds_difference < 1e-6


@pytest.mark.parametrize("ties", ["negative", "positive"])
@pytest.mark.parametrize("n_classifiers", [3, 4])
def test_prob_majority_matches_enumeration(n_classifiers, ties):
    q = np.random.default_rng(n_classifiers).random((5, n_classifiers))
    brute = np.zeros(5)
    for draw in itertools.product((0, 1), repeat=n_classifiers):
        draw = np.array(draw)
        brute += np.prod(np.where(draw == 1, q, 1 - q), axis=1) * majority_vote(draw[None, :], ties)[0]
    np.testing.assert_allclose(prob_majority(q, ties), brute, atol=1e-12)


def test_tie_rule_reference_default_is_argmax_of_summed_votes():
    votes = np.array([[1, 0, 1, 0], [1, 0, 0, 0], [1, 1, 1, 0], [0, 0, 0, 0]])
    # the SISA reference: argmax over classes of the summed one-hot votes; np.argmax returns the first maximum
    one_hot = np.stack([1 - votes, votes], axis=-1)
    reference = np.argmax(one_hot.sum(axis=1), axis=1)
    np.testing.assert_array_equal(majority_vote(votes), reference)
    np.testing.assert_array_equal(majority_vote(votes), [0, 0, 1, 0])  # the tie (row 0) goes to class 0
    np.testing.assert_array_equal(majority_vote(votes, ties="positive"), [1, 0, 1, 0])
    odd = np.array([[1, 0, 1], [1, 0, 0]])  # no ties with odd S: both rules agree
    np.testing.assert_array_equal(majority_vote(odd, "negative"), majority_vote(odd, "positive"))
    with pytest.raises(BabybiasError, match="tie rule"):
        majority_vote(votes, ties="coin")


@pytest.mark.parametrize("ties", ["negative", "positive"])
def test_final_with_either_tie_rule_post_processes_that_vote(ties):
    votes, y, groups = synthetic_votes(3000, 4, 2, random_state=1)  # even S: ties happen
    assert (2 * votes.sum(axis=1) == 4).mean() > 0.1
    model = FairSISA("final", ties=ties).fit(votes, y, groups)
    direct = EqualizedOddsPostprocessor().fit(majority_vote(votes, ties), y, groups)
    np.testing.assert_allclose(model.predict_proba(votes, groups),
                               direct.predict_proba(majority_vote(votes, ties), groups), atol=1e-9)
    other = "positive" if ties == "negative" else "negative"
    assert not np.allclose(model.predict_proba(votes, groups),
                           FairSISA("final", ties=other).fit(votes, y, groups).predict_proba(votes, groups))


def test_patterns_are_bit_codes():
    votes = np.array([[1, 0, 1, 0], [1, 0, 0, 0], [1, 1, 1, 0]])
    np.testing.assert_array_equal(encode_patterns(votes), [1 + 4, 1, 1 + 2 + 4])
    with pytest.raises(BabybiasError, match="vote_count"):
        encode_patterns(np.zeros((2, 63), dtype=int))


@pytest.mark.parametrize("name", ["final", "constituent", "joint"])
def test_predict_is_seeded_and_matches_expectation(fitted, ensemble, name):
    votes, y, groups = ensemble
    model = fitted[name]
    first = model.predict(votes, groups, random_state=3)
    np.testing.assert_array_equal(first, model.predict(votes, groups, random_state=3))
    many = np.mean([model.predict(votes, groups, random_state=seed) for seed in range(20)], axis=0)
    assert many.mean() == pytest.approx(model.predict_proba(votes, groups).mean(), abs=0.01)


def test_unseen_pattern_falls_back_to_vote_count_then_majority(ensemble):
    votes, y, groups = ensemble
    rare = encode_patterns(votes) == 0b10101
    model = FairSISA("joint").fit(votes[~rare], y[~rare], groups[~rare])
    query = np.array([[1, 0, 1, 0, 1]])
    assert 0b10101 not in model.postprocessors_[0].signals_
    expected = model.fallback_.predict_proba([3], groups[:1])
    np.testing.assert_allclose(model.predict_proba(query, groups[:1]), expected)
    # Drop every unanimous-positive example of group 0: neither its pattern nor its vote count is known there.
    unanimous = (votes.sum(axis=1) == 5) & (groups == 0)
    model = FairSISA("joint").fit(votes[~unanimous], y[~unanimous], groups[~unanimous])
    assert model.predict_proba(np.ones((1, 5), dtype=int), [0])[0] == 1.0  # the hard majority vote


@pytest.mark.parametrize(
    ("votes", "y", "kwargs", "match"),
    [
        ([[0, 1], [1, 2]], [0, 1], {}, "only 0 and 1"),
        ([0, 1], [0, 1], {}, "must be 2-D"),
        ([[0, 1], [1, 1]], [0, 1, 1], {}, "different lengths"),
        ([[0, 1], [1, 1]], [0, 1], {"method": "median"}, "unknown FairSISA method"),
        ([[0, 1], [1, 1]], [0, 1], {"statistic": "mean"}, "unknown FairSISA statistic"),
    ],
)
def test_bad_input_raises(votes, y, kwargs, match):
    with pytest.raises(BabybiasError, match=match):
        FairSISA(**kwargs).fit(np.array(votes), np.array(y), np.zeros(len(votes)))


@pytest.mark.parametrize("method", ["final", "constituent", "joint"])
def test_predict_before_fit_raises(method):
    with pytest.raises(BabybiasError, match="not fitted"):
        FairSISA(method).predict(np.zeros((2, 3), dtype=int), [0, 1], random_state=0)


def test_predict_with_wrong_number_of_constituents_raises(fitted, ensemble):
    votes, _, groups = ensemble
    with pytest.raises(BabybiasError, match="fitted with 5"):
        fitted["joint"].predict_proba(votes[:, :4], groups)


def test_plot_group_rates_draws_one_line_per_predictor(fitted, ensemble, tmp_path):
    from babybias.fairness.plots import plot_group_rates

    votes, y, groups = ensemble
    reports = {"majority": fairness_report(y, majority_vote(votes), groups),
               "joint": _expected_report(fitted["joint"], ensemble)}
    figure = plot_group_rates(reports)
    lines = figure.axes[0].get_lines()[1:]  # after the diagonal
    assert len(lines) == 2 and len(lines[1].get_xdata()) == 3
    figure.savefig(tmp_path / "rates.png")
    assert (tmp_path / "rates.png").stat().st_size > 0


def test_fairness_modules_do_not_import_torch():
    # Static check of our own imports (a subprocess import check costs ~3 s); fairlearn, scipy, sklearn and
    # matplotlib do not import torch.
    import ast
    from pathlib import Path

    import babybias.fairness

    for path in Path(babybias.fairness.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            names += [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not any(name.split(".")[0] == "torch" for name in names), path
