"""The contract between metric modules and the scoring engine (`babybias.scoring`).

Metrics never run a model. Each benchmark module

1. loads its data into typed example dataclasses (`load_<bench>(path)`),
2. describes what must be scored as plain `TokenScoreRequest`s or `MaskedTokenRequest`s
   (`requests_for(examples, ...)`), and
3. turns the engine's `TokenScores` (one per request, same order) into a `MetricResult`
   (`compute(examples, scores, ...)`), a pure function.

Engine side of the contract, for each `TokenScoreRequest(text, score_char_spans)`:

- tokenize `text` with offsets (special tokens added as the model expects);
- mask, **one token at a time**, every non-special token whose character span `[start, end)` lies inside
  one of `score_char_spans` (`span_start <= start and end <= span_end`); `None` means every non-special
  token (pseudo-log-likelihood, Salazar et al. 2020, Eq. 2);
- return `TokenScores(token_ids, offsets, logprobs)` listing the scored tokens in text order, where
  `logprobs[i]` is the fp32 natural-log probability of the original `token_ids[i]` at its masked position.

Because each token is masked on its own, the score of token i does not depend on which other tokens are
scored, so a metric may request every token and pick the ones it needs afterwards (CrowS-Pairs does).

For each `MaskedTokenRequest(texts, target_token_ids)` (texts already masked by the metric, as StereoSet's
official loader builds them):

- tokenize each `texts[i]` (special tokens added); the tokenizer's mask string (e.g. "[MASK]") becomes the
  mask id; the *first* mask token is the scored position, any later one stays masked in the input;
- return `TokenScores` with one entry per text, in order: `token_ids[i] = target_token_ids[i]`,
  `offsets[i]` the character span of the scored mask in `texts[i]`, `logprobs[i]` the fp32 natural-log
  probability of `target_token_ids[i]` at that mask. A text whose mask is lost (none, or truncated away)
  is an error.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class TokenScoreRequest:
    """Score the tokens of `text` that lie inside `score_char_spans` (None: all non-special tokens).

    Spans are half-open character ranges `(start, end)` into `text`.
    """

    text: str
    score_char_spans: tuple[tuple[int, int], ...] | None = None

    def __post_init__(self) -> None:
        if self.score_char_spans is None:
            return
        spans = tuple((int(s), int(e)) for s, e in self.score_char_spans)
        for start, end in spans:
            if not 0 <= start < end <= len(self.text):
                raise ValueError(f"character span {(start, end)} is empty or outside text of length {len(self.text)}")
        object.__setattr__(self, "score_char_spans", spans)


@dataclass(frozen=True)
class MaskedTokenRequest:
    """Log P(`target_token_ids[i]` | `texts[i]`) at the first mask token of each text, in one answer.

    The texts are written by the metric with the tokenizer's mask string in them (e.g. "[MASK]"); the target
    ids come from the same tokenizer. One request is one `TokenScores` with one entry per text.
    """

    texts: tuple[str, ...]
    target_token_ids: tuple[int, ...]

    def __post_init__(self) -> None:
        if isinstance(self.texts, str):
            raise TypeError("MaskedTokenRequest.texts is a sequence of texts, not one string: wrap it as (text,)")
        texts = tuple(str(t) for t in self.texts)
        targets = tuple(int(t) for t in self.target_token_ids)
        if len(texts) != len(targets):
            raise ValueError(f"MaskedTokenRequest: {len(texts)} texts but {len(targets)} target token ids")
        if any(t < 0 for t in targets):
            raise ValueError(f"MaskedTokenRequest: negative target token id in {targets}")
        object.__setattr__(self, "texts", texts)
        object.__setattr__(self, "target_token_ids", targets)


ScoreRequest = TokenScoreRequest | MaskedTokenRequest
"""Anything the engine's `score` accepts."""


@dataclass(frozen=True)
class TokenScores:
    """The engine's answer to one request: the scored tokens in text order.

    `offsets[i]` is token i's character span in the request text; `logprobs[i]` is log P(token_ids[i] |
    text with token i masked), natural log, computed in fp32.
    """

    token_ids: tuple[int, ...]
    offsets: tuple[tuple[int, int], ...]
    logprobs: tuple[float, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "token_ids", tuple(int(t) for t in self.token_ids))
        object.__setattr__(self, "offsets", tuple((int(s), int(e)) for s, e in self.offsets))
        object.__setattr__(self, "logprobs", tuple(float(x) for x in self.logprobs))
        if not len(self.token_ids) == len(self.offsets) == len(self.logprobs):
            raise ValueError(
                f"TokenScores lengths differ: {len(self.token_ids)} ids, {len(self.offsets)} offsets, "
                f"{len(self.logprobs)} logprobs"
            )

    def __len__(self) -> int:
        return len(self.token_ids)

    @property
    def total(self) -> float:
        """Sum of the log-probabilities (the PLL of the scored tokens)."""
        return math.fsum(self.logprobs)


def check_aligned(scores: Sequence[TokenScores], n_expected: int, benchmark: str) -> None:
    """Raise ValueError unless there is exactly one `TokenScores` per request."""
    if len(scores) != n_expected:
        raise ValueError(
            f"{benchmark}: got {len(scores)} TokenScores for {n_expected} requests; pass the engine's "
            "output for exactly the requests from requests_for(), in the same order"
        )


@dataclass
class MetricResult:
    """What every benchmark's `compute` returns.

    `summary` holds the headline numbers, `per_category` one dict of the same kind per category (bias type,
    domain, phenomenon...), `rows` one dict per example for a per-example file, `options` the settings
    that change the numbers (scoring mode, rounding...), `intervals` the 95% item-bootstrap confidence
    intervals of headline numbers (`babybias.uncertainty`): summary key -> `Interval.as_dict()`, and
    "<category>/<key>" for per-category numbers.
    """

    benchmark: str
    summary: dict[str, Any]
    per_category: dict[str, dict[str, Any]]
    rows: list[dict[str, Any]] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    intervals: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self, include_rows: bool = False) -> dict[str, Any]:
        """JSON-ready dict; rows are left out unless asked for (they belong in a per-example file)."""
        out = asdict(self)
        if not include_rows:
            out.pop("rows")
        return out


def percent(numerator: float, denominator: float) -> float:
    """100 * numerator / denominator, NaN when the denominator is 0 (an empty category)."""
    return 100.0 * numerator / denominator if denominator else float("nan")
