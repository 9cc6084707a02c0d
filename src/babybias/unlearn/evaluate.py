"""Fairness of the single model, the SISA ensemble, its constituents and the post-processed ensembles.

All metrics come from `babybias.fairness.metrics.fairness_report`; post-processors from
`babybias.fairness` (Hardt et al. LP, FairSISA final / constituent / joint, fairlearn's ThresholdOptimizer),
refit on the calibration split each time this is called (i.e. after every round). Randomized predictors
are scored by their exact expected metrics (`fairness.predictions=expected`) or one seeded draw (`sampled`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from babybias.configs.unlearn import FairnessConfig, FairSisaConfig
from babybias.fairness.fairsisa import FairSISA, fit_threshold_optimizer, threshold_optimizer_proba
from babybias.fairness.metrics import fairness_report
from babybias.fairness.postprocess import EqualizedOddsPostprocessor, sample_bernoulli
from babybias.runs import child_seed
from babybias.unlearn.sisa import majority_vote, mean_probability

COLUMNS = ["method", "accuracy", "balanced_accuracy", "eo_diff", "dp_diff", "avg_odds_diff", "avg_abs_odds_diff", "n"]
PRIVILEGED_GROUP = "privileged"
"""The group label of `task.grouping=binary`: the signed average odds difference (AIF360) compares the other
groups with it; with other groupings it is NaN (no privileged group is named)."""


@dataclass
class Scored:
    """Predictions of every model on one labelled set: `proba` (n, S) constituents, `single` (n,) or None."""

    y: np.ndarray
    groups: np.ndarray
    proba: np.ndarray
    single: np.ndarray | None

    @property
    def votes(self) -> np.ndarray:
        return (self.proba >= 0.5).astype(np.int64)


def _row(method: str, y, pred, groups, expected: bool) -> dict:
    privileged = PRIVILEGED_GROUP if PRIVILEGED_GROUP in set(np.asarray(groups).tolist()) else None
    rep = fairness_report(y, pred, groups, predictions="expected" if expected else "hard", privileged=privileged)
    return {"method": method, "accuracy": rep.accuracy, "balanced_accuracy": rep.balanced_accuracy,
            "eo_diff": rep.equalized_odds_difference, "dp_diff": rep.demographic_parity_difference,
            "avg_odds_diff": rep.average_odds_difference, "avg_abs_odds_diff": rep.average_abs_odds_difference,
            "n": rep.n_examples}


def fit_postprocessors(cal: Scored, cfg: FairSisaConfig, ties: str = "negative") -> dict:
    """Every post-processor, fitted on the calibration predictions (`ties`: the vote's tie rule, sisa.vote_ties)."""
    fitted = {f"fairsisa_{m}": FairSISA(method=m, statistic=cfg.statistic, ties=ties).fit(cal.votes, cal.y, cal.groups)
              for m in cfg.methods}
    if cfg.threshold_optimizer:
        fitted["threshold_optimizer"] = fit_threshold_optimizer(cal.proba, cal.y, cal.groups, grid_size=cfg.grid_size)
    if cfg.single_model and cal.single is not None:
        hard = (cal.single >= 0.5).astype(np.int64)
        fitted["single_hardt"] = EqualizedOddsPostprocessor().fit(hard, cal.y, cal.groups)
    return fitted


def _randomized_proba(name: str, model, data: Scored) -> np.ndarray:
    if name == "threshold_optimizer":
        return threshold_optimizer_proba(model, data.proba, data.groups)
    if name == "single_hardt":
        hard = (data.single >= 0.5).astype(np.int64)
        return model.predict_proba(hard, data.groups, fallback=hard.astype(float))
    return model.predict_proba(data.votes, data.groups)


def _sampled(name: str, model, data: Scored, seed: int) -> np.ndarray:
    if name.startswith("fairsisa_"):
        return model.predict(data.votes, data.groups, random_state=seed)  # constituent samples per constituent
    return sample_bernoulli(_randomized_proba(name, model, data), seed)


def fairness_table(data: Scored, fitted: dict, fcfg: FairnessConfig, seed: int, ties: str = "negative") -> list[dict]:
    """One row per method (and per constituent when `fcfg.constituents`); `ties`: the vote's tie rule."""
    y, g = data.y, data.groups
    rows = []
    if data.single is not None:
        rows.append(_row("single", y, (data.single >= 0.5).astype(np.int64), g, False))
    rows.append(_row("sisa_vote", y, majority_vote(data.votes, ties), g, False))
    rows.append(_row("sisa_mean_proba", y, (mean_probability(data.proba) >= 0.5).astype(np.int64), g, False))
    for name, model in fitted.items():
        if fcfg.predictions == "expected":
            rows.append(_row(name, y, _randomized_proba(name, model, data), g, True))
        else:
            rows.append(_row(name, y, _sampled(name, model, data, child_seed(seed, f"predict/{name}")), g, False))
    if fcfg.constituents:
        for s in range(data.proba.shape[1]):
            rows.append(_row(f"constituent_{s}", y, data.votes[:, s], g, False))
    return rows


def scored_split(task, split: str, ens, serving: dict, n_shards: int) -> Scored | None:
    """Predictions of the serving models (`serving`: shard name -> checkpoint key) on one split of `task`."""
    part = task.split(split)
    part = part[part["group"].isin(task.groups)]
    if part.empty:
        return None
    ids = part["id"].to_numpy(np.int64)
    keys = [serving[str(s)] for s in range(n_shards)]
    single = ens.single_proba(serving["single"], ids) if "single" in serving else None
    return Scored(y=part["label"].to_numpy(np.int64), groups=part["group"].to_numpy(object),
                  proba=ens.proba(keys, ids), single=single)


def evaluate_round(task, ens, serving: dict, n_shards: int, round_: int, fcfg: FairnessConfig,
                   fscfg: FairSisaConfig, seed: int, ties: str = "negative") -> list[dict]:
    """Refit the post-processors on `task`'s calibration split (what is left of it after deletions); one
    fairness row per method and evaluation set."""
    cal = scored_split(task, "calibration", ens, serving, n_shards)
    fitted = fit_postprocessors(cal, fscfg, ties)
    rows = []
    for eval_set in fcfg.eval_sets:
        data = scored_split(task, eval_set, ens, serving, n_shards)
        if data is None:
            continue
        for row in fairness_table(data, fitted, fcfg, seed=seed + round_, ties=ties):
            rows.append({"round": round_, "eval_set": eval_set, **row})
    return rows
