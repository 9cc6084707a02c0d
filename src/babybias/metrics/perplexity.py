"""Pseudo-perplexity of a masked LM over a set of texts (Salazar et al. 2020, Eqs. 2-3).

`PLL(W) = sum_t log P(w_t | W with w_t masked)` and, over a corpus with N scored tokens in all,
`PPPL = exp(-(1/N) * sum_W PLL(W))`. Natural logs throughout; the engine masks each token on its own.
Intervals: 95% percentile bootstrap CIs over the texts (a resample recomputes both sums).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from babybias.metrics.intervals import sums_intervals
from babybias.metrics.requests import MetricResult, TokenScoreRequest, TokenScores, check_aligned
from babybias.uncertainty import Resampling

DEFINITION_VERSION = 1
"""Bump when a change here changes the numbers: stored results of an older version are recomputed."""


def requests_for(texts: Sequence[str]) -> list[TokenScoreRequest]:
    """One request per text, every token scored."""
    return [TokenScoreRequest(t) for t in texts]


def pseudo_log_likelihood(scores: TokenScores) -> float:
    """PLL of one text: the sum of its tokens' masked log-probabilities (Salazar et al. 2020, Eq. 2)."""
    return scores.total


def pseudo_perplexity(scores: Sequence[TokenScores]) -> float:
    """Corpus PPPL = exp(-(sum of PLLs) / (number of scored tokens)) (Salazar et al. 2020, Eq. 3)."""
    n_tokens = sum(len(s) for s in scores)
    if n_tokens == 0:
        raise ValueError("pseudo-perplexity needs at least one scored token")
    return math.exp(-math.fsum(pseudo_log_likelihood(s) for s in scores) / n_tokens)


def compute(texts: Sequence[str], scores: Sequence[TokenScores],
            resampling: Resampling | None = Resampling()) -> MetricResult:
    """PPPL of the text set, with per-text PLL and token counts as rows (`resampling`: the CIs; None: none)."""
    check_aligned(scores, len(texts), "perplexity")
    rows = [{"index": i, "pll": pseudo_log_likelihood(s), "n_tokens": len(s)} for i, s in enumerate(scores)]
    n_tokens = sum(r["n_tokens"] for r in rows)
    summary = {"pppl": pseudo_perplexity(scores), "n_texts": len(rows), "n_tokens": n_tokens,
               "mean_pll_per_token": math.fsum(r["pll"] for r in rows) / n_tokens}
    columns = np.array([[r["pll"], r["n_tokens"]] for r in rows], dtype=np.float64).reshape(-1, 2)
    statistics = {"pppl": lambda s: np.exp(-s[:, 0] / s[:, 1]), "mean_pll_per_token": lambda s: s[:, 0] / s[:, 1]}
    return MetricResult("perplexity", summary, {}, rows, {}, sums_intervals(columns, statistics, resampling=resampling))
