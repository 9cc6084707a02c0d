"""Model configs -> transformers models (a standard BertForMaskedLM, so AutoModelForMaskedLM loads it).

`babylm` is a small BERT-like encoder in the spirit of the BabyLM baselines (LTG-BERT small: 12 x 384,
6 heads, vocab 16,384), but with the standard BERT architecture; `bert_base` is 12/768/12; `tiny` is for
tests. The MLM objective lives here too, because it reaches into the model's encoder and head.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from babybias.configs.model import ModelConfig
from babybias.errors import BabybiasError

IGNORE_INDEX = -100

# The fields of a transformers BertConfig that must match for a checkpoint to fit a model config.
ARCH_FIELDS = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
               "max_position_embeddings")


def bert_config(model_cfg: ModelConfig, vocab_size: int, pad_token_id: int = 0):
    """The transformers BertConfig of a model config (vocab from the tokenizer unless model.vocab_size is set)."""
    from transformers import BertConfig

    vocab = model_cfg.vocab_size or vocab_size
    if model_cfg.vocab_size and model_cfg.vocab_size < vocab_size:
        raise BabybiasError(f"model.vocab_size={model_cfg.vocab_size} is smaller than the tokenizer's {vocab_size}",
                            fix="set model.vocab_size=null to use the tokenizer's size")
    return BertConfig(
        vocab_size=vocab, hidden_size=model_cfg.hidden_size, num_hidden_layers=model_cfg.num_layers,
        num_attention_heads=model_cfg.num_heads, intermediate_size=model_cfg.intermediate_size,
        max_position_embeddings=model_cfg.max_position_embeddings, type_vocab_size=2,
        hidden_dropout_prob=model_cfg.hidden_dropout, attention_probs_dropout_prob=model_cfg.attention_dropout,
        initializer_range=model_cfg.initializer_range, layer_norm_eps=model_cfg.layer_norm_eps,
        pad_token_id=pad_token_id, tie_word_embeddings=True,
    )


def build_model(model_cfg: ModelConfig, vocab_size: int, seed: int | None = None, pad_token_id: int = 0):
    """A freshly initialized BertForMaskedLM; `seed` (e.g. child_seed(seed, "model_init")) fixes the init."""
    from transformers import BertForMaskedLM

    config = bert_config(model_cfg, vocab_size, pad_token_id)
    if seed is None:
        return BertForMaskedLM(config)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return BertForMaskedLM(config)


def check_compatible(model_cfg: ModelConfig, vocab_size: int | None, checkpoint: str | Path) -> None:
    """Raise a one-line BabybiasError when the checkpoint's architecture differs from the model config
    (`vocab_size=None` skips the vocabulary check, for checks made before the tokenizer is loaded)."""
    import json

    path = Path(checkpoint) / "config.json"
    if not path.exists():
        raise BabybiasError(f"{checkpoint} has no config.json", fix="point to a checkpoint folder written by `babybias pretrain`")
    saved = json.loads(path.read_text())
    want = bert_config(model_cfg, vocab_size or saved.get("vocab_size", 1)).to_dict()
    fields = [k for k in ARCH_FIELDS if vocab_size is not None or k != "vocab_size"]
    diffs = [f"{k}={saved.get(k)} (config wants {want[k]})" for k in fields if saved.get(k) != want[k]]
    if diffs:
        raise BabybiasError(
            f"checkpoint {checkpoint} was trained with a different model config: {', '.join(diffs)}",
            fix="use the model=/model.* overrides it was trained with, or resume=false (or a new name=) to start over",
        )


def load_model(folder: str | Path):
    """The masked LM saved in `folder` (a checkpoint or the run's model/)."""
    from transformers import AutoModelForMaskedLM

    return AutoModelForMaskedLM.from_pretrained(str(folder))


class MaskedLMObjective(nn.Module):
    """Summed MLM cross-entropy (fp32) of a BertForMaskedLM; returns (loss_sum, n_predicted).

    With `masked_only` the LM head runs only on the positions that carry a label (the same loss as the full
    head up to float rounding, at ~15% of the head's cost). Returning the sum lets callers normalize by the
    number of predicted tokens in the whole optimizer batch, so micro-batching and DDP do not change results.
    Inputs are packed blocks without padding, so no attention mask is passed.
    """

    def __init__(self, model, masked_only: bool = True):
        super().__init__()
        self.model = model
        self.masked_only = masked_only
        self._encoder = None

    def compile_encoder(self) -> None:
        """torch.compile the encoder only: the masked gather has a data-dependent shape, the encoder has none."""
        # stored outside nn.Module registration so state_dict keys stay those of the plain model
        object.__setattr__(self, "_encoder", torch.compile(self.model.bert))

    def forward(self, input_ids: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        encoder = self._encoder if self._encoder is not None else self.model.bert
        hidden = encoder(input_ids=input_ids).last_hidden_state
        if self.masked_only:
            selected = labels != IGNORE_INDEX
            logits = self.model.cls(hidden[selected])
            targets = labels[selected]
        else:
            logits = self.model.cls(hidden).flatten(0, 1)
            targets = labels.flatten()
        loss_sum = nn.functional.cross_entropy(logits.float(), targets, ignore_index=IGNORE_INDEX, reduction="sum")
        return loss_sum, (targets != IGNORE_INDEX).sum()


def count_parameters(model, exclude_embeddings: bool = False) -> int:
    n = sum(p.numel() for p in model.parameters())
    if exclude_embeddings:
        n -= model.bert.embeddings.word_embeddings.weight.numel()
    return n
