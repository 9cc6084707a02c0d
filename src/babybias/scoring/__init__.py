"""The scoring engine: the only place that runs a model for evaluation.

- `ScoringEngine(model, tokenizer, batch_size).score(requests)` -> `TokenScores` per `TokenScoreRequest`
  or `MaskedTokenRequest` (masked-token log-probabilities, fp32); `.score_temperatures(requests, temps)` (the
  same at several softmax temperatures from one forward pass); `.pll(texts)`;
  `.embed(texts, pooling="mean"|"cls")`.
- `ScoringEngine.from_checkpoint(path, impl)` loads a checkpoint directory (HF files).
- `MaskedLM` is the model interface; `HFMaskedLM` wraps a transformers masked LM; `HiddenTransformLM`
  and `MaskedLMWrapper` are how debiasing methods change a model without touching the engine.
"""

from babybias.scoring.engine import POOLINGS, Encoded, ScoringEngine
from babybias.scoring.model import (
    HFMaskedLM,
    HiddenTransform,
    HiddenTransformLM,
    MaskedLM,
    MaskedLMWrapper,
    load_masked_lm,
    resolve_device,
)

__all__ = ["POOLINGS", "Encoded", "ScoringEngine", "HFMaskedLM", "HiddenTransform", "HiddenTransformLM",
           "MaskedLM", "MaskedLMWrapper", "load_masked_lm", "resolve_device"]
