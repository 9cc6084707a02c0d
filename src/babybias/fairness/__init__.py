"""Group fairness of classifiers: fairlearn metrics, the exact Hardt et al. (2016) equalized-odds LP, and
FairSISA post-processing of SISA ensembles. Pure numpy/scipy/fairlearn: nothing here imports torch."""

from babybias.fairness.fairsisa import (
    FairSISA,
    encode_patterns,
    fit_threshold_optimizer,
    majority_vote,
    prob_majority,
    threshold_optimizer_proba,
)
from babybias.fairness.metrics import FairnessReport, fairness_report
from babybias.fairness.postprocess import EqualizedOddsPostprocessor, solve_equalized_odds_lp

__all__ = [
    "EqualizedOddsPostprocessor",
    "FairSISA",
    "FairnessReport",
    "encode_patterns",
    "fairness_report",
    "fit_threshold_optimizer",
    "majority_vote",
    "prob_majority",
    "solve_equalized_odds_lp",
    "threshold_optimizer_proba",
]
