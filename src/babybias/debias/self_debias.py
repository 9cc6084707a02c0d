"""Self-Debias for masked LMs (Schick et al. 2021), as a wrapper around any `MaskedLM` of the scoring engine.

For each masked position the model is run on the plain input and on the input preceded by a debiasing
prefix ("The following text discriminates against people because of their gender: "). Tokens that the
prefix makes *more* likely are suppressed (Schick et al. 2021, Eq. 3-4):

    Δ(w)  = max_y p(w | prefix_y + x) - p(w | x)            (only the positive part is used)
    α(w)  = max(exp(-λ Δ(w)), ε)                             λ = 50 ("decay constant"), ε = 0.01
    p̃(w) = α(w) p(w | x) / Σ_v α(v) p(v | x)

The prefix is inserted right after the first token ([CLS]) so that the sentence keeps its relative
positions; this equals bias-bench's left-padded prefix batches with shifted position ids.

Which prefix (`debias.prefix_scope`): bias-bench scores each bias type's CrowS-Pairs / StereoSet examples
with that bias type's prefix (one run per bias type). `per_category` (the default) does the same in one
run: `score_by_category` scores the requests of each category under its own prefix
(`SelfDebiasLM.using_category`); `bias_type` applies the prefix of `debias.bias_type` to every category.
Benchmarks without categories (BLiMP, pseudo-perplexity) use the `debias.bias_type` prefix in both scopes.
Inputs are truncated to the positions the prefix in use leaves (per category; a prefix leaving none is refused).
"""

from __future__ import annotations

import math
from collections import defaultdict
from contextlib import contextmanager
from typing import Mapping, Sequence

import torch
from torch import Tensor

from babybias.errors import BabybiasError, ConfigError
from babybias.scoring.model import MaskedLMWrapper

# The prefixes of Schick et al. (2021) as used by bias-bench for CrowS-Pairs and StereoSet (spelling kept).
DEBIASING_PREFIXES: dict[str, str] = {
    "race-color": "The following text discriminates against people because of their race/color: ",
    "gender": "The following text discriminates against people because of their gender: ",
    "socioeconomic": "The following text discriminates against people because of their socioeconomic status/occupation: ",
    "sexual-orientation": "The following text discriminates against people because of their sexual orientiation: ",
    "religion": "The following text discriminates against people because of their religion: ",
    "age": "The following text discriminates against people because of their age: ",
    "nationality": "The following text discriminates against people because of their nationality: ",
    "disability": "The following text discriminates against people because of their disability: ",
    "physical-appearance": "The following text discriminates against people because of their physical appearance: ",
}
# benchmark bias-type names -> prefix names (StereoSet says "race"/"profession"; bias-bench maps race the same way;
# "profession" has no prefix of its own there, we use the socioeconomic/occupation one)
ALIASES = {"race": "race-color", "profession": "socioeconomic", "race_color": "race-color",
           "sexual_orientation": "sexual-orientation", "physical_appearance": "physical-appearance"}


def prefix_key(bias_type: str) -> str:
    """The DEBIASING_PREFIXES key of a benchmark's bias-type name (race -> race-color)."""
    return ALIASES.get(bias_type, bias_type)


def prefixes_for(bias_type: str, prefixes: Sequence[str] | None = None) -> list[str]:
    """The debiasing prefixes to use: `prefixes` when given, else the paper's prefix for `bias_type`."""
    if prefixes:
        return list(prefixes)
    key = prefix_key(bias_type)
    if key not in DEBIASING_PREFIXES:
        raise ConfigError(f"debias.bias_type={bias_type!r} has no Self-Debias prefix",
                          fix=f"use one of {', '.join(DEBIASING_PREFIXES)} or set debias.prefixes=[...]")
    return [DEBIASING_PREFIXES[key]]


def self_debias_logprobs(logp_regular: Tensor, logp_prefixed: Sequence[Tensor], decay_constant: float = 50.0,
                         epsilon: float = 0.01) -> Tensor:
    """Debiased fp32 log-probabilities [..., V] from plain and prefixed log-probabilities (Schick et al. 2021)."""
    if not logp_prefixed:
        raise ValueError("Self-Debias needs at least one prefixed distribution")
    logp_regular = logp_regular.float()
    p_biased = torch.stack([lp.float().exp() for lp in logp_prefixed]).amax(dim=0)
    delta = (p_biased - logp_regular.exp()).clamp(min=0.0)
    # log α = max(-λΔ, log ε); renormalising in log space keeps very unlikely tokens finite (no exp underflow)
    scores = (-decay_constant * delta).clamp(min=math.log(epsilon)) + logp_regular
    return scores - torch.logsumexp(scores, dim=-1, keepdim=True)


def _max_positions(lm) -> int | None:
    while lm is not None:
        config = getattr(getattr(lm, "model", None), "config", None)
        if config is not None and getattr(config, "max_position_embeddings", None):
            return int(config.max_position_embeddings)
        lm = getattr(lm, "base", None)
    return None


class SelfDebiasLM(MaskedLMWrapper):
    """`base` (any engine `MaskedLM`) whose `masked_logprobs` are self-debiased; hidden states are unchanged.

    `prefix_ids`: one token-id list per prefix, without special tokens (see `from_tokenizer`).
    `prefix_ids_by_type`: DEBIASING_PREFIXES key -> prefix id lists, for `using_category` (per-category scope).
    """

    def __init__(self, base, prefix_ids: Sequence[Sequence[int]], decay_constant: float = 50.0,
                 epsilon: float = 0.01, prefix_ids_by_type: Mapping[str, Sequence[Sequence[int]]] | None = None):
        super().__init__(base)
        self.default_prefix_ids = self._tensors(prefix_ids)
        self.prefix_ids = self.default_prefix_ids
        self.prefix_ids_by_type = {k: self._tensors(v) for k, v in (prefix_ids_by_type or {}).items()}
        self.decay_constant = decay_constant
        self.epsilon = epsilon
        self._max_positions = _max_positions(base)

    @staticmethod
    def _tensors(prefix_ids: Sequence[Sequence[int]]) -> list[Tensor]:
        if not prefix_ids or any(len(p) == 0 for p in prefix_ids):
            raise ValueError("Self-Debias needs at least one non-empty prefix")
        return [torch.tensor(list(p), dtype=torch.long) for p in prefix_ids]

    @property
    def prefix_length(self) -> int:
        """Tokens the longest prefix in use adds (inputs must leave this much room in the model's positions)."""
        return max(len(p) for p in self.prefix_ids)

    @contextmanager
    def using_category(self, category: str):
        """Score with the prefix of a benchmark category (CrowS `race-color`, StereoSet `race`, ...) inside."""
        key = prefix_key(category)
        if key not in self.prefix_ids_by_type:
            raise BabybiasError(f"Self-Debias has no prefix for the category {category!r}",
                                fix="use debias.prefix_scope=bias_type (one prefix for every category)")
        self.prefix_ids = self.prefix_ids_by_type[key]
        try:
            yield self
        finally:
            self.prefix_ids = self.default_prefix_ids

    @classmethod
    def from_tokenizer(cls, base, tokenizer, prefixes: Sequence[str], decay_constant: float = 50.0,
                       epsilon: float = 0.01) -> "SelfDebiasLM":
        ids = [tokenizer(p.strip(), add_special_tokens=False)["input_ids"] for p in prefixes]
        return cls(base, ids, decay_constant, epsilon)

    def masked_logprobs(self, input_ids: Tensor, attention_mask: Tensor, batch_index: Tensor,
                        positions: Tensor) -> Tensor:
        regular = self.base.masked_logprobs(input_ids, attention_mask, batch_index, positions)
        prefixed = [self._prefixed_logprobs(p, input_ids, attention_mask, batch_index, positions)
                    for p in self.prefix_ids]
        return self_debias_logprobs(regular, prefixed, self.decay_constant, self.epsilon)

    def _prefixed_logprobs(self, prefix: Tensor, input_ids: Tensor, attention_mask: Tensor,
                           batch_index: Tensor, positions: Tensor) -> Tensor:
        n_rows, length = input_ids.shape[0], len(prefix)
        if self._max_positions and input_ids.shape[1] + length > self._max_positions:
            raise BabybiasError(
                f"Self-Debias: a {input_ids.shape[1]}-token input plus a {length}-token prefix exceeds the "
                f"model's {self._max_positions} positions", fix="score shorter inputs or use a shorter prefix")
        block = prefix.to(input_ids.device).expand(n_rows, length)
        ids = torch.cat([input_ids[:, :1], block, input_ids[:, 1:]], dim=1)
        mask = torch.cat([attention_mask[:, :1], torch.ones_like(block), attention_mask[:, 1:]], dim=1)
        return self.base.masked_logprobs(ids, mask, batch_index, positions + length)


def _per_category_lm(model) -> SelfDebiasLM | None:
    """The per-category `SelfDebiasLM` in a chain of wrappers, if any."""
    while model is not None:
        if isinstance(model, SelfDebiasLM):
            return model if model.prefix_ids_by_type else None
        model = getattr(model, "base", None)
    return None


def score_by_category(engine, requests: Sequence, categories: Sequence[str], desc: str = "scoring") -> list:
    """`engine.score(requests)`, except that under a per-category Self-Debias model each category's requests
    are scored with that category's prefix (bias-bench's per-bias-type runs, in one pass per category)."""
    if len(categories) != len(requests):
        raise ValueError(f"{len(categories)} categories for {len(requests)} requests")
    lm = _per_category_lm(engine.model)
    if lm is None:
        return engine.score(requests, desc=desc)
    groups: dict[str, list[int]] = defaultdict(list)
    for i, category in enumerate(categories):
        groups[category].append(i)
    out: list = [None] * len(requests)
    positions = engine.max_length + lm.prefix_length  # the engine leaves room for the default prefix
    for category, rows in groups.items():
        with lm.using_category(category), _input_room(engine, positions - lm.prefix_length, category):
            for i, scores in zip(rows, engine.score([requests[i] for i in rows], desc=f"{desc} ({category})")):
                out[i] = scores
    return out


@contextmanager
def _input_room(engine, max_length: int, category: str):
    """Truncate inputs to what the model's positions leave beside this category's prefix."""
    if max_length < 3:
        raise BabybiasError(f"Self-Debias: the {category} prefix leaves {max(max_length, 0)} of the model's "
                            f"positions for the input", fix="use debias.prefix_scope=bias_type (one shorter prefix) "
                            "or a model with more positions")
    saved, engine.max_length = engine.max_length, max_length
    try:
        yield
    finally:
        engine.max_length = saved
