"""Intrinsic-bias and language-modelling metrics: loaders, scoring requests and pure metric functions.

Each benchmark module (`crows_pairs`, `stereoset`, `seat`, `blimp`, `perplexity`) exposes
`load_<bench>(path)`, `requests_for(examples, ...)` and `compute(examples, scores, ...) -> MetricResult`;
`requests` holds the contract with the scoring engine. No module here runs a model. `compute` also fills
`MetricResult.intervals`, the 95% item-bootstrap CIs, through `babybias.metrics.intervals` (the pattern for a new
benchmark: per-item columns and a statistic of their sums).
"""

from babybias.metrics.requests import MaskedTokenRequest, MetricResult, TokenScoreRequest, TokenScores

__all__ = ["MaskedTokenRequest", "MetricResult", "TokenScoreRequest", "TokenScores"]
