"""Intra-model Dropout debiasing (Webster et al. 2020; Meade et al. 2022): continued pretraining with more dropout.

`debias=dropout` is the config overlay conf/debias/dropout.yaml for `babybias pretrain`: hidden dropout 0.20,
attention dropout 0.15 (`debias.hidden_dropout`, `debias.attention_dropout`) and train.steps -> debias.steps.
The trainer builds the model from `model.*` (so the rates reach the config's hidden_dropout_prob and
attention_probs_dropout_prob: BERT's, or LTG-BERT's, where hidden dropout acts on the embeddings, feed-forward output
and MLM head and attention dropout on the relative embeddings, attention probabilities and attention output) and
then loads the `init_from` weights into it.
"""

from __future__ import annotations

import json
from pathlib import Path


def pretrain_overrides(init_from: str | None, steps: int | None = None, hidden_dropout: float | None = None,
                       attention_dropout: float | None = None) -> list[str]:
    """Overrides for `babybias pretrain` that continue `init_from` with the dropout debiasing recipe."""
    out = ["debias=dropout"]
    if init_from:
        out.append(f"init_from={init_from}")
    for key, value in (("steps", steps), ("hidden_dropout", hidden_dropout), ("attention_dropout", attention_dropout)):
        if value is not None:
            out.append(f"debias.{key}={value}")
    return out


def saved_dropout(model_dir: str | Path) -> tuple[float, float]:
    """(hidden, attention) dropout recorded in a saved model's config.json (to check what a run trained with)."""
    config = json.loads((Path(model_dir) / "config.json").read_text())
    return float(config["hidden_dropout_prob"]), float(config["attention_probs_dropout_prob"])
