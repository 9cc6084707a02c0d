"""Membership-inference audit of a deletion round: do the deleted examples still look like training members?

Evidence beyond lineage: attack the ensemble's scores for (a) the examples deleted in the round and (b)
held-out examples no model ever trained on (the test split), once with the models serving before the round
and once with those serving after it. Each attack gives every example a membership score; its AUC (members
vs non-members) is 0.5 when the models cannot tell the deleted examples from never-seen ones, and near 1
when they memorized them. Two attacks, both without shadow models:

- `loss` (Yeom et al. 2018, loss-threshold): score = -cross-entropy of the ensemble's mean P(toxic) for the
  example's true label; members of the training set have lower loss.
- `lira_offline` (Carlini et al. 2022, "Membership Inference Attacks From First Principles", offline LiRA
  with a fixed variance): phi(p) = log(p / (1 - p)) of each constituent's confidence in the true label. The
  constituent of the example's own shard is the target; the constituents of the other shards never trained
  on it (SISA's shards are disjoint), so they serve as the OUT reference models that LiRA would otherwise
  train as shadows. Score = (phi_target - mean phi_out) / sigma_out, sigma_out pooled over all audited
  examples (the fixed-variance variant; a monotone transform of the one-sided Gaussian likelihood ratio).
  A held-out example gets a seeded random shard as its target. Needs at least 2 shards (NaN otherwise).

Members are compared only with non-members of the same cell (group x label): the training split is skewed
(`task.skew`) and the held-out split is balanced, so an unmatched comparison would report the skew as
membership. The AUC is the mean, over members, of the share of same-cell non-members scored lower (ties
half): the Mann-Whitney AUC within each cell, weighted by members. Interval: percentile bootstrap over
examples, resampled within member x cell strata (`babybias.uncertainty.bootstrap`), seeded.
"""

from __future__ import annotations

import math

import numpy as np

from babybias.uncertainty import bootstrap

ATTACKS = ("loss", "lira_offline")
EPS = 1e-7
COLUMNS = ["round", "attack", "phase", "auc", "ci_low", "ci_high", "n_members", "n_nonmembers"]


def true_label_confidence(proba: np.ndarray, y: np.ndarray) -> np.ndarray:
    """P(true label) from P(toxic), clipped to [EPS, 1 - EPS]; `proba` (n,) or (n, S)."""
    proba = np.asarray(proba, dtype=np.float64)
    y = np.asarray(y).reshape((-1,) + (1,) * (proba.ndim - 1))
    return np.clip(np.where(y == 1, proba, 1.0 - proba), EPS, 1.0 - EPS)


def loss_scores(proba: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Loss-threshold membership score (Yeom et al. 2018): log P(true label) under the ensemble's mean P(toxic)."""
    return np.log(true_label_confidence(np.asarray(proba, dtype=np.float64).mean(axis=1), y))


def lira_offline_scores(proba: np.ndarray, y: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Offline LiRA with fixed variance, the other shards' constituents as OUT models (see the module docstring)."""
    proba = np.asarray(proba, dtype=np.float64)
    n, n_shards = proba.shape
    if n_shards < 2:
        return np.full(n, np.nan)
    conf = true_label_confidence(proba, y)
    phi = np.log(conf) - np.log1p(-conf)
    rows = np.arange(n)
    out = np.ones_like(phi, dtype=bool)
    out[rows, np.asarray(target, dtype=np.int64)] = False
    phi_out = phi[out].reshape(n, n_shards - 1)
    mean_out = phi_out.mean(axis=1)
    if n_shards > 2:  # pooled within-example variance of the OUT models
        sigma = math.sqrt(float(((phi_out - mean_out[:, None]) ** 2).sum() / (n * (n_shards - 2))))
    else:  # one OUT model per example: its spread across examples
        sigma = float(np.std(phi_out[:, 0], ddof=1)) if n > 1 else 1.0
    return (phi[rows, target] - mean_out) / max(sigma, 1e-12)


def auc(scores: np.ndarray, members: np.ndarray, cells: np.ndarray | None = None) -> float:
    """AUC of `scores` separating members (True) from non-members: the mean over members of the share of
    non-members (of the member's cell, when `cells` is given) scored lower, ties counted half. Without cells
    this is the Mann-Whitney U / (n1 n0). Members whose cell has no non-member are left out; NaN if none is left."""
    scores, members = np.asarray(scores, dtype=np.float64), np.asarray(members, dtype=bool)
    if not np.all(np.isfinite(scores)):
        return math.nan
    cells = np.zeros(len(scores), dtype=np.int64) if cells is None else np.asarray(cells)
    total, counted = 0.0, 0
    for cell in np.unique(cells[members]):
        positives = scores[members & (cells == cell)]
        negatives = np.sort(scores[~members & (cells == cell)])
        if negatives.size == 0:
            continue
        below = np.searchsorted(negatives, positives, "left")
        tied = np.searchsorted(negatives, positives, "right") - below
        total += float(((below + 0.5 * tied) / negatives.size).sum())
        counted += positives.size
    return total / counted if counted else math.nan


def attack_rows(round_: int, phase: str, proba: np.ndarray, y: np.ndarray, members: np.ndarray,
                target: np.ndarray, seed: int, cells: np.ndarray | None = None, n_resamples: int = 1000) -> list[dict]:
    """One row per attack: AUC of members vs non-members (within `cells`) with its bootstrap CI, for `phase`
    (before | after)."""
    members = np.asarray(members, dtype=bool)
    cells = np.zeros(len(members), dtype=np.int64) if cells is None else np.asarray(cells)
    strata = np.asarray([f"{m}/{c}" for m, c in zip(members, cells)])
    scores = {"loss": loss_scores(proba, y), "lira_offline": lira_offline_scores(proba, y, target)}
    rows = []
    for attack in ATTACKS:
        s = scores[attack]
        row = {"round": round_, "attack": attack, "phase": phase, "auc": math.nan, "ci_low": math.nan,
               "ci_high": math.nan, "n_members": int(members.sum()), "n_nonmembers": int((~members).sum())}
        if np.isfinite(auc(s, members, cells)):
            interval = bootstrap(lambda idx, s=s: auc(s[idx], members[idx], cells[idx]), len(s), n_resamples=n_resamples,
                                 seed=seed, strata=strata)
            row.update(auc=interval.estimate, ci_low=interval.low, ci_high=interval.high)
        rows.append(row)
    return rows
