"""FairSISA: equalized-odds post-processing of a SISA ensemble (Kadhe et al. 2023, "FairSISA").

A SISA ensemble (Bourtoule et al. 2021) of S constituents gives each example a vector of S hard votes,
the rows of a 0/1 matrix `P` (n x S). Three ways to make the ensemble satisfy equalized odds, all solved by
the exact Hardt et al. (2016) LP of `babybias.fairness.postprocess` on calibration data:

- `final`: post-process the aggregated majority vote. Tie rule (even S), `ties=`: "negative" (default) is the
  SISA reference's (cleverhans-lab/machine-unlearning `aggregation.py`: argmax of the summed one-hot votes, so
  a tie goes to class 0, i.e. the vote is 1 only when more than S/2 constituents vote 1); "positive" sends a
  tie to class 1 (at least S/2 votes). We use only hard votes, so no probability is needed to break ties.
- `constituent`: post-process each constituent separately (each on the same calibration data), then take
  the majority vote of the S randomized outputs. Those are independent given the votes, so
  P(majority = 1) is a Poisson-binomial tail, computed exactly; `predict` samples each constituent and
  votes. The vote of equalized-odds constituents need not satisfy equalized odds itself.
- `joint`: one LP whose signal is the whole vote vector (`statistic="pattern"`, up to 2^S levels): the
  optimal equalized-odds predictor derivable from the ensemble's outputs. `statistic="vote_count"` uses
  the number of positive votes instead (S + 1 levels), for large S. A pattern never seen for its group in
  the calibration data falls back to the vote-count LP (fitted alongside), and a vote count never seen
  either falls back to the hard majority vote.

Unseen cells in general: a signal never seen for its group in the calibration data cannot have a fitted
mixing probability. `final` then uses the hard majority vote, `constituent` the constituent's own vote, and
`joint` the chain above. This keeps predictions defined but carries no equalized-odds guarantee (which in any
case holds exactly only on the fit distribution). An unknown group always raises a `BabybiasError`.

Since the majority vote is a function of the pattern (and of the vote count), `final`'s predictor is in the
feasible set of both `joint` LPs, so on the fit data loss(joint, pattern) <= loss(joint, vote_count)
<= loss(final).

`fit_threshold_optimizer` is the library baseline: fairlearn's `ThresholdOptimizer` (equalized odds) on the
ensemble's mean vote. Its inputs are checked before fairlearn sees them: its threshold search never
terminates on a NaN score, and at predict time it would turn a NaN score into a probability.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from fairlearn.postprocessing import ThresholdOptimizer
from sklearn.base import BaseEstimator

from babybias.errors import BabybiasError
from babybias.fairness.checks import check_binary_labels, check_finite, check_groups, check_same_length
from babybias.fairness.postprocess import EqualizedOddsPostprocessor, sample_bernoulli

METHODS = ("final", "constituent", "joint")
TIE_RULES = ("negative", "positive")
"""Where a tied majority vote (even S) goes: class 0 (the SISA reference's argmax) or class 1."""
STATISTICS = ("pattern", "vote_count")
MAX_PATTERN_BITS = 62  # patterns are packed into an int64


def check_vote_matrix(P, n_classifiers: int | None = None) -> np.ndarray:
    """`P` as an (n, S) int array of 0/1 votes, or a `BabybiasError` saying what is wrong."""
    votes = np.asarray(P)
    if votes.ndim != 2 or votes.shape[1] == 0:
        raise BabybiasError(f"vote matrix must be 2-D (examples x constituents), got shape {votes.shape}",
                            fix="stack the constituents' hard predictions as columns: np.column_stack(preds)")
    votes = check_binary_labels(votes.ravel(), name="vote matrix").reshape(votes.shape)
    if n_classifiers is not None and votes.shape[1] != n_classifiers:
        raise BabybiasError(f"vote matrix has {votes.shape[1]} constituents, the model was fitted with {n_classifiers}",
                            fix="pass the votes of the same ensemble that was used in fit")
    return votes


def check_tie_rule(ties: str) -> str:
    if ties not in TIE_RULES:
        raise BabybiasError(f"unknown tie rule ties={ties!r}", fix=f"use one of {TIE_RULES} (sisa.vote_ties=...)")
    return ties


def winning_count(n_classifiers: int, ties: str = "negative") -> int:
    """The smallest number of positive votes out of `n_classifiers` that makes the majority vote 1."""
    return n_classifiers // 2 + 1 if check_tie_rule(ties) == "negative" else (n_classifiers + 1) // 2


def majority_vote(P, ties: str = "negative") -> np.ndarray:
    """Majority vote per row of a 0/1 vote matrix. A tie (even S) goes to class 0 with `ties="negative"` (the
    SISA reference: argmax of summed one-hot votes, first class wins), to class 1 with `ties="positive"`."""
    votes = np.asarray(P)
    return (votes.sum(axis=1) >= winning_count(votes.shape[1], ties)).astype(np.int64)


def encode_patterns(P) -> np.ndarray:
    """Each row of a 0/1 vote matrix as one int64 level: sum_s P[:, s] * 2**s (S <= 62)."""
    votes = np.asarray(P, dtype=np.int64)
    if votes.shape[1] > MAX_PATTERN_BITS:
        raise BabybiasError(f"{votes.shape[1]} constituents are too many for vote patterns (max {MAX_PATTERN_BITS})",
                            fix="use FairSISA(method='joint', statistic='vote_count')")
    return votes @ (np.int64(1) << np.arange(votes.shape[1], dtype=np.int64))


def prob_majority(q, ties: str = "negative") -> np.ndarray:
    """P(majority vote = 1) when constituent s votes 1 independently with probability q[:, s].

    Poisson-binomial distribution of the vote count by dynamic programming (O(n S^2)), with the tie rule of
    `majority_vote(..., ties)`: P(count >= winning_count(S, ties)).
    """
    q = np.asarray(q, dtype=float)
    n, n_classifiers = q.shape
    dist = np.zeros((n, n_classifiers + 1))
    dist[:, 0] = 1.0
    for s in range(n_classifiers):
        shifted = dist[:, :-1] * q[:, s : s + 1]
        dist *= 1.0 - q[:, s : s + 1]
        dist[:, 1:] += shifted
    return np.clip(dist[:, winning_count(n_classifiers, ties):].sum(axis=1), 0.0, 1.0)


class FairSISA(BaseEstimator):
    """Equalized-odds post-processing of a SISA ensemble's votes: `method` in final / constituent / joint.

    `statistic` (joint only): "pattern" (the whole vote vector) or "vote_count" (number of positive votes).
    `ties`: where a tied majority vote goes (see `majority_vote`); used by final, by constituent's vote, and
    by joint's last fallback. Attributes set by `fit`: `n_classifiers_`, `groups_`, `postprocessors_` (fitted
    `EqualizedOddsPostprocessor`s: one for final and joint, S for constituent), `fallback_` (joint pattern
    only: the vote-count post-processor), `expected_loss_` (expected 0-1 loss on the fit data).
    """

    def __init__(self, method: Literal["final", "constituent", "joint"] = "joint",
                 statistic: Literal["pattern", "vote_count"] = "pattern",
                 ties: Literal["negative", "positive"] = "negative"):
        self.method = method
        self.statistic = statistic
        self.ties = ties

    def _signal(self, votes: np.ndarray) -> np.ndarray:
        if self.method == "final":
            return majority_vote(votes, self.ties)
        if self.statistic == "vote_count":
            return votes.sum(axis=1)
        return encode_patterns(votes)

    def fit(self, P, y_true, groups) -> "FairSISA":
        """Fit on calibration votes `P` (n x S, 0/1), labels (0/1) and group membership."""
        if self.method not in METHODS:
            raise BabybiasError(f"unknown FairSISA method={self.method!r}", fix=f"use one of {METHODS}")
        if self.statistic not in STATISTICS:
            raise BabybiasError(f"unknown FairSISA statistic={self.statistic!r}", fix=f"use one of {STATISTICS}")
        check_tie_rule(self.ties)
        votes = check_vote_matrix(P)
        y = check_binary_labels(y_true)
        groups = check_groups(groups)
        check_same_length(P=votes, y_true=y, groups=groups)
        self.n_classifiers_ = votes.shape[1]
        self.fallback_ = None
        if self.method == "constituent":
            self.postprocessors_ = [EqualizedOddsPostprocessor().fit(votes[:, s], y, groups)
                                    for s in range(self.n_classifiers_)]
        else:
            self.postprocessors_ = [EqualizedOddsPostprocessor().fit(self._signal(votes), y, groups)]
            if self.method == "joint" and self.statistic == "pattern":
                self.fallback_ = EqualizedOddsPostprocessor().fit(votes.sum(axis=1), y, groups)
        self.groups_ = self.postprocessors_[0].groups_
        if self.method == "constituent":
            proba = self.predict_proba(votes, groups)
            self.expected_loss_ = float(np.mean(np.where(y == 1, 1.0 - proba, proba)))
        else:  # every fit cell is an LP variable, so the LP objective is the loss on the fit data
            self.expected_loss_ = self.postprocessors_[0].expected_loss_
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "postprocessors_"):
            raise BabybiasError("FairSISA is not fitted", fix="call fit(P, y_true, groups) first")

    def constituent_proba(self, P, groups) -> np.ndarray:
        """(n, S) P(constituent s's post-processed vote = 1); method='constituent' only."""
        if self.method != "constituent":
            raise BabybiasError("constituent_proba needs method='constituent'", fix="use predict_proba")
        self._check_fitted()
        votes = check_vote_matrix(P, self.n_classifiers_)
        groups = check_groups(groups)
        return np.column_stack([pp.predict_proba(votes[:, s], groups, fallback=votes[:, s])
                                for s, pp in enumerate(self.postprocessors_)])

    def predict_proba(self, P, groups) -> np.ndarray:
        """P(final prediction = 1) per example, shape (n,), exact (no sampling)."""
        self._check_fitted()
        votes = check_vote_matrix(P, self.n_classifiers_)
        groups = check_groups(groups)
        check_same_length(P=votes, groups=groups)
        if self.method == "constituent":
            return prob_majority(self.constituent_proba(votes, groups), self.ties)
        fallback = majority_vote(votes, self.ties).astype(float)
        if self.fallback_ is not None:  # joint over patterns: unseen pattern -> vote count -> majority
            fallback = self.fallback_.predict_proba(votes.sum(axis=1), groups, fallback=fallback)
        return self.postprocessors_[0].predict_proba(self._signal(votes), groups, fallback=fallback)

    def predict(self, P, groups, *, random_state=None) -> np.ndarray:
        """Sampled 0/1 predictions; `constituent` samples each constituent, then takes the majority vote."""
        if self.method == "constituent":
            return majority_vote(sample_bernoulli(self.constituent_proba(P, groups), random_state), self.ties)
        return sample_bernoulli(self.predict_proba(P, groups), random_state)


def synthetic_votes(n_examples: int, n_classifiers: int, n_groups: int, random_state=None):
    """A synthetic ensemble with group-dependent base rates and accuracy: returns (votes, y_true, groups).

    Labels y ~ Bernoulli(base rate of the group, 0.3 .. 0.6). A shared latent score
    z = separation_g * (2y - 1) + N(0, 1), with separation falling from 1.5 to 0.5 across groups, so the
    constituents are correlated and less accurate on later groups; constituent s votes
    1[z + N(0, 0.8) + shift_s > 0] with shifts in [-0.3, 0.3] (some lenient, some strict).
    """
    rng = np.random.default_rng(random_state)
    groups = rng.integers(n_groups, size=n_examples)
    base_rate = np.linspace(0.3, 0.6, n_groups)[groups]
    separation = np.linspace(1.5, 0.5, n_groups)[groups]
    y = (rng.random(n_examples) < base_rate).astype(np.int64)
    latent = separation * (2 * y - 1) + rng.standard_normal(n_examples)
    shift = np.linspace(-0.3, 0.3, n_classifiers)
    noise = 0.8 * rng.standard_normal((n_examples, n_classifiers))
    votes = (latent[:, None] + noise + shift > 0).astype(np.int64)
    return votes, y, groups


class ScoreColumn(BaseEstimator):
    """A prefit 'estimator' whose `predict(X)` returns the first column of X: lets fairlearn's
    `ThresholdOptimizer` threshold a precomputed score (here the ensemble's mean vote)."""

    def fit(self, X, y=None):
        return self

    def predict(self, X):
        return np.asarray(X, dtype=float)[:, 0]

    def __sklearn_is_fitted__(self):
        return True


def ensemble_score(P) -> np.ndarray:
    """Mean over constituents per example: the vote fraction of 0/1 votes, or the mean probability.

    Raises a `BabybiasError` on a NaN or infinite entry (naming how many and where) or a non-2-D `P`.
    """
    try:
        scores = np.asarray(P, dtype=float)
    except (TypeError, ValueError) as err:
        raise BabybiasError(f"P must hold numbers ({err})", fix="pass the constituents' probabilities or votes") from err
    if scores.ndim != 2 or scores.shape[1] == 0:
        raise BabybiasError(f"P must be 2-D (examples x constituents), got shape {scores.shape}",
                            fix="stack the constituents' probabilities or votes as columns")
    check_finite(scores.ravel(), "P (constituent scores)", fix="drop or impute the examples whose score is missing")
    return scores.mean(axis=1)


def fit_threshold_optimizer(P, y_true, groups, *, grid_size: int = 1000) -> ThresholdOptimizer:
    """fairlearn's equalized-odds `ThresholdOptimizer` on the ensemble's mean score (the library baseline).

    `P` holds votes or probabilities (n x S). Predict with `threshold_optimizer_proba` (exact) or the
    optimizer's own `predict(ensemble_score(P)[:, None], sensitive_features=groups, random_state=...)`.
    """
    y = check_binary_labels(y_true)
    scores = ensemble_score(P)[:, None]
    groups = check_groups(groups)
    check_same_length(P=scores, y_true=y, groups=groups)
    optimizer = ThresholdOptimizer(estimator=ScoreColumn(), constraints="equalized_odds", prefit=True,
                                   predict_method="predict", grid_size=grid_size)
    return optimizer.fit(scores, y, sensitive_features=groups)


def threshold_optimizer_proba(optimizer: ThresholdOptimizer, P, groups) -> np.ndarray:
    """P(Y~ = 1) per example under a fitted `ThresholdOptimizer` (uses fairlearn's private `_pmf_predict`)."""
    scores, groups = ensemble_score(P)[:, None], check_groups(groups)
    check_same_length(P=scores, groups=groups)
    pmf = optimizer._pmf_predict(scores, sensitive_features=groups)
    return np.asarray(pmf)[:, 1]
