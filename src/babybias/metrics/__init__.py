"""Intrinsic-bias and language-modelling metrics: loaders, scoring requests and pure metric functions.

Each benchmark module (`crows_pairs`, `stereoset`, `seat`, `blimp`, `perplexity`) exposes
`load_<bench>(path)`, `requests_for(examples, ...)` and `compute(examples, scores, ...) -> MetricResult`;
`requests` holds the contract with the scoring engine. No module here runs a model.
"""

from babybias.metrics.requests import MaskedTokenRequest, MetricResult, TokenScoreRequest, TokenScores

__all__ = ["MaskedTokenRequest", "MetricResult", "TokenScoreRequest", "TokenScores"]
