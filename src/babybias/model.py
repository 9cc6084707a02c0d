"""Model configs -> transformers masked LMs, and the small interface the rest of babybias uses on them.

`model.architecture` picks the transformers class: `bert` (BertForMaskedLM: `babylm`, a BERT 12 x 384 in the
spirit of the BabyLM baselines, `bert_base` 12/768/12, `tiny` for tests) or `ltg_bert` (LTG-BERT, Samuel et
al. 2023, the seed paper's BabyLM: `ltg_bert` base and `ltg_bert_small`; babybias.ltg_bert). Both save as
self-contained HF folders that `AutoModelForMaskedLM` loads (`load_model` registers LTG-BERT first).

Code outside this module reaches a model only through `encoder_of` (ids -> last hidden states), `mlm_head`
(hidden states -> logits), `count_parameters` and `training_flops_per_token`, never through `.bert` or `.cls`.
The MLM objective lives here too, because it runs the encoder and the head separately.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from babybias.configs.model import ModelConfig
from babybias.errors import BabybiasError

IGNORE_INDEX = -100

# The fields of a saved config.json that must match for a checkpoint to fit a model config.
ARCH_FIELDS = ("model_type", "vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
               "intermediate_size", "max_position_embeddings", "position_bucket_size")


def _vocab(model_cfg: ModelConfig, vocab_size: int) -> int:
    if model_cfg.vocab_size and model_cfg.vocab_size < vocab_size:
        raise BabybiasError(f"model.vocab_size={model_cfg.vocab_size} is smaller than the tokenizer's {vocab_size}",
                            fix="set model.vocab_size=null to use the tokenizer's size")
    return model_cfg.vocab_size or vocab_size


def bert_config(model_cfg: ModelConfig, vocab_size: int, pad_token_id: int = 0):
    """The transformers BertConfig of a model config (vocab from the tokenizer unless model.vocab_size is set)."""
    from transformers import BertConfig

    return BertConfig(
        vocab_size=_vocab(model_cfg, vocab_size), hidden_size=model_cfg.hidden_size,
        num_hidden_layers=model_cfg.num_layers, num_attention_heads=model_cfg.num_heads, intermediate_size=model_cfg.intermediate_size,
        max_position_embeddings=model_cfg.max_position_embeddings, type_vocab_size=2,
        hidden_dropout_prob=model_cfg.hidden_dropout, attention_probs_dropout_prob=model_cfg.attention_dropout,
        initializer_range=model_cfg.initializer_range, layer_norm_eps=model_cfg.layer_norm_eps,
        pad_token_id=pad_token_id, tie_word_embeddings=True,
    )


def ltg_bert_config(model_cfg: ModelConfig, vocab_size: int, pad_token_id: int = 0):
    """The LtgBertConfig of a model config (`architecture=ltg_bert`); dropouts map as in LtgBertConfig's doc."""
    from babybias.ltg_bert.configuration_ltg_bert import LtgBertConfig

    return LtgBertConfig(
        vocab_size=_vocab(model_cfg, vocab_size), hidden_size=model_cfg.hidden_size,
        num_hidden_layers=model_cfg.num_layers, num_attention_heads=model_cfg.num_heads,
        intermediate_size=model_cfg.intermediate_size, max_position_embeddings=model_cfg.max_position_embeddings,
        position_bucket_size=model_cfg.position_bucket_size, layer_norm_eps=model_cfg.layer_norm_eps,
        hidden_dropout_prob=model_cfg.hidden_dropout, attention_probs_dropout_prob=model_cfg.attention_dropout,
        pad_token_id=pad_token_id, tie_word_embeddings=True,
    )


def hf_config(model_cfg: ModelConfig, vocab_size: int, pad_token_id: int = 0):
    """The transformers config of a model config, by `model.architecture`."""
    builder = ltg_bert_config if model_cfg.architecture == "ltg_bert" else bert_config
    return builder(model_cfg, vocab_size, pad_token_id)


def _masked_lm_class(architecture: str):
    if architecture == "ltg_bert":
        from babybias.ltg_bert.modeling_ltg_bert import LtgBertForMaskedLM

        return LtgBertForMaskedLM
    from transformers import BertForMaskedLM

    return BertForMaskedLM


def build_model(model_cfg: ModelConfig, vocab_size: int, seed: int | None = None, pad_token_id: int = 0):
    """A freshly initialized masked LM; `seed` (e.g. child_seed(seed, "model_init")) fixes the init."""
    cls = _masked_lm_class(model_cfg.architecture)
    config = hf_config(model_cfg, vocab_size, pad_token_id)
    if seed is None:
        return cls(config)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return cls(config)


def check_compatible(model_cfg: ModelConfig, vocab_size: int | None, checkpoint: str | Path) -> None:
    """Raise a one-line BabybiasError when the checkpoint's architecture differs from the model config
    (`vocab_size=None` skips the vocabulary check, for checks made before the tokenizer is loaded)."""
    import json

    path = Path(checkpoint) / "config.json"
    if not path.exists():
        raise BabybiasError(f"{checkpoint} has no config.json", fix="point to a checkpoint folder written by `babybias pretrain`")
    saved = json.loads(path.read_text())
    want = hf_config(model_cfg, vocab_size or saved.get("vocab_size", 1)).to_dict()
    fields = [k for k in ARCH_FIELDS if k in want and (vocab_size is not None or k != "vocab_size")]
    diffs = [f"{k}={saved.get(k)} (config wants {want[k]})" for k in fields if saved.get(k) != want[k]]
    if diffs:
        raise BabybiasError(
            f"checkpoint {checkpoint} was trained with a different model config: {', '.join(diffs)}",
            fix="use the model=/model.* overrides it was trained with, or resume=false (or a new name=) to start over",
        )


def load_model(folder: str | Path, **kwargs):
    """The masked LM saved in `folder` (a checkpoint or the run's model/), whatever its architecture."""
    from transformers import AutoModelForMaskedLM

    from babybias.ltg_bert import register_auto_classes

    register_auto_classes()
    return AutoModelForMaskedLM.from_pretrained(str(folder), **kwargs)


def encoder_of(model) -> nn.Module:
    """The encoder of a transformers masked LM: `encoder_of(m)(input_ids=...).last_hidden_state` is [B, T, H]."""
    return model.base_model


def mlm_head(model) -> nn.Module:
    """The MLM head of a transformers masked LM: hidden states [..., H] -> logits [..., V] (BERT: `cls`; LTG-BERT
    and RoBERTa-style models: `lm_head`)."""
    for name in ("cls", "lm_head"):
        head = getattr(model, name, None)
        if isinstance(head, nn.Module):
            return head
    raise BabybiasError(f"{type(model).__name__} has no `cls` or `lm_head` MLM head",
                        fix="use a BERT- or LTG-BERT-style *ForMaskedLM model")


class MaskedLMObjective(nn.Module):
    """Summed MLM cross-entropy (fp32) of a masked LM (any `model.architecture`); returns (loss_sum, n_predicted).

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
        object.__setattr__(self, "_encoder", torch.compile(encoder_of(self.model)))

    def forward(self, input_ids: torch.Tensor, labels: torch.Tensor,
                positions: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """`positions`: the flat indices of the labelled tokens (`masked_positions(labels)`, computed where the
        batch is built), so the masked-only head gathers without a device-to-host synchronisation."""
        encoder = self._encoder if self._encoder is not None else encoder_of(self.model)
        head = mlm_head(self.model)
        hidden = encoder(input_ids=input_ids).last_hidden_state
        if self.masked_only and positions is not None:  # the same rows, in the same order, as the boolean mask
            logits = head(hidden.flatten(0, 1).index_select(0, positions))
            targets = labels.flatten().index_select(0, positions)
        elif self.masked_only:
            selected = labels != IGNORE_INDEX
            logits = head(hidden[selected])
            targets = labels[selected]
        else:
            logits = head(hidden).flatten(0, 1)
            targets = labels.flatten()
        loss_sum = nn.functional.cross_entropy(logits.float(), targets, ignore_index=IGNORE_INDEX, reduction="sum")
        return loss_sum, (targets != IGNORE_INDEX).sum()


def masked_positions(labels: torch.Tensor) -> torch.Tensor:
    """Flat indices of the labelled positions of a [batch, seq] label tensor, in row-major order."""
    return (labels.flatten() != IGNORE_INDEX).nonzero().flatten()


def count_parameters(model, exclude_embeddings: bool = False) -> int:
    """Parameters of the model, each tied matrix once; `exclude_embeddings` leaves out the word embeddings."""
    n = sum(p.numel() for p in model.parameters())
    if exclude_embeddings:
        n -= model.get_input_embeddings().weight.numel()
    return n


def training_flops_per_token(model, model_cfg: ModelConfig, seq_len: int) -> float:
    """Model FLOPs of one training token (forward + backward), for MFU: 6N + 12 L H T (`precision.flops_per_token`;
    N = parameters without the word embeddings) plus `relative_attention_flops_per_token` for LTG-BERT."""
    from babybias.train.precision import flops_per_token

    n_params = count_parameters(model, exclude_embeddings=True)
    base = flops_per_token(n_params, model_cfg.num_layers, model_cfg.hidden_size, seq_len)
    return base + relative_attention_flops_per_token(model_cfg, seq_len)


def relative_attention_flops_per_token(model_cfg: ModelConfig, seq_len: int) -> float:
    """LTG-BERT's disentangled-attention FLOPs per training token beyond 6N + 12 L H T (0 for BERT).

    Per layer, 3x for forward + backward: q.k_r and k.q_r against the R = 2P - 1 relative buckets (2 x 2 R H per
    token) and the projection of the relative table through the q/k weights (2 R H 2H per sequence, / T per
    token): 3 L (4 R H + 4 R H^2 / T). The bucket form is what an efficient implementation computes (and what this
    one does); counting the two terms per (i, j) pair instead would give 12 L H T in place of the first term.
    """
    if model_cfg.architecture != "ltg_bert":
        return 0.0
    buckets, hidden = 2 * model_cfg.position_bucket_size - 1, model_cfg.hidden_size
    return 3 * model_cfg.num_layers * (4 * buckets * hidden + 4 * buckets * hidden * hidden / seq_len)
