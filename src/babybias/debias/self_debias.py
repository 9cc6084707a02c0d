"""Self-Debias for masked LMs (Schick et al. 2021), as a wrapper around any `MaskedLM` of the scoring engine.

For each masked position the model is run on the plain input and on the input preceded by a debiasing
prefix ("The following text discriminates against people because of their gender: "). Tokens that the
prefix makes *more* likely are suppressed (Schick et al. 2021, Eq. 3-4):

    Δ(w)  = max_y p(w | prefix_y + x) - p(w | x)            (only the positive part is used)
    α(w)  = max(exp(-λ Δ(w)), ε)                             λ = 50 ("decay constant"), ε = 0.01
    p̃(w) = α(w) p(w | x) / Σ_v α(v) p(v | x)

The prefix is inserted right after the first token ([CLS]) so that the sentence keeps its relative
positions; this equals bias-bench's left-padded prefix batches with shifted position ids.
"""

from __future__ import annotations

import math
from typing import Sequence

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


def prefixes_for(bias_type: str, prefixes: Sequence[str] | None = None) -> list[str]:
    """The debiasing prefixes to use: `prefixes` when given, else the paper's prefix for `bias_type`."""
    if prefixes:
        return list(prefixes)
    key = ALIASES.get(bias_type, bias_type)
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
    """

    def __init__(self, base, prefix_ids: Sequence[Sequence[int]], decay_constant: float = 50.0,
                 epsilon: float = 0.01):
        if not prefix_ids or any(len(p) == 0 for p in prefix_ids):
            raise ValueError("Self-Debias needs at least one non-empty prefix")
        super().__init__(base)
        self.prefix_ids = [torch.tensor(list(p), dtype=torch.long) for p in prefix_ids]
        self.decay_constant = decay_constant
        self.epsilon = epsilon
        self._max_positions = _max_positions(base)

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
