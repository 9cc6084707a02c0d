"""The model side of the scoring engine: a small `MaskedLM` interface, its HF implementation, and wrappers.

The engine only ever calls `masked_logprobs(...)` (token scoring) and `hidden_states(...)` (embeddings), so
a post-hoc debiasing method plugs in by composition, for any encoder:

- **a projection of the last hidden states** (INLP, SentenceDebias): `HiddenTransformLM(base, transform)`
  where `transform(hidden: Tensor[..., H]) -> Tensor[..., H]`; it is applied before the MLM head when
  scoring tokens and before pooling when embedding sentences;
- **a change of the output distribution** (Self-Debias, Schick et al. 2021): subclass `MaskedLMWrapper`
  and override `masked_logprobs` (call `self.base.masked_logprobs` on the plain and on the prefixed inputs
  and rescale). It must return fp32 log-probabilities over the whole vocabulary.

Every method runs under the caller's `torch.inference_mode()`; none of them changes the model.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Callable, Protocol, runtime_checkable

import torch
from torch import Tensor

from babybias.errors import BabybiasError
from babybias.scoring.numerics import PRECISIONS, autocast_for

HiddenTransform = Callable[[Tensor], Tensor]
"""Maps hidden states `[..., H]` to hidden states `[..., H]` (e.g. a nullspace projection)."""


@runtime_checkable
class MaskedLM(Protocol):
    """What the scoring engine needs from a masked language model."""

    device: torch.device

    def hidden_states(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        """Last-layer hidden states `[B, T, H]` (model precision)."""

    def lm_head(self, hidden: Tensor) -> Tensor:
        """MLM logits `[..., V]` from hidden states `[..., H]`."""

    def masked_logprobs(self, input_ids: Tensor, attention_mask: Tensor, batch_index: Tensor,
                        positions: Tensor) -> Tensor:
        """fp32 log-softmax `[n, V]` at the `n` positions `(batch_index[k], positions[k])` only."""


def resolve_device(device: str) -> torch.device:
    """`auto` -> cuda when available, else cpu; anything else is passed to `torch.device`."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


class HFMaskedLM:
    """A transformers `*ForMaskedLM` behind the `MaskedLM` interface.

    `precision` is the *scoring* precision: fp32 (default; autocast explicitly off, whatever the caller's
    state) | bf16 | fp16 (autocast of the encoder and head, an explicit result-changing choice; see
    `babybias.scoring.numerics`). Log-softmax is always taken in fp32. `head_only_at_masked=False` runs the
    head on every position and selects afterwards (same numbers, more compute; kept for checks and for
    `impl.masked_lm_head_only=false`).
    """

    def __init__(self, model: torch.nn.Module, device: str | torch.device = "cpu", precision: str = "fp32",
                 head_only_at_masked: bool = True):
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be fp32, bf16 or fp16, got {precision!r}")
        self.device = resolve_device(device) if isinstance(device, str) else device
        self.model = model.to(self.device).eval()
        self.precision = precision
        self.head_only_at_masked = head_only_at_masked
        self.encoder = model.base_model
        self.head = _find_head(model)

    def with_precision(self, precision: str) -> "HFMaskedLM":
        """The same model (shared, not copied) scored at another precision."""
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be fp32, bf16 or fp16, got {precision!r}")
        other = copy.copy(self)
        other.precision = precision
        return other

    def _autocast(self):
        return autocast_for(self.device, self.precision)

    def hidden_states(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        if attention_mask is not None and bool(attention_mask.all()):
            attention_mask = None  # no padding (the usual case after sorting by length): SDPA's faster unmasked path
        with self._autocast():
            return self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    def lm_head(self, hidden: Tensor) -> Tensor:
        with self._autocast():
            return self.head(hidden)

    def masked_logprobs(self, input_ids: Tensor, attention_mask: Tensor, batch_index: Tensor,
                        positions: Tensor) -> Tensor:
        hidden = self.hidden_states(input_ids, attention_mask)
        if self.head_only_at_masked:
            logits = self.lm_head(hidden[batch_index, positions])
        else:
            logits = self.lm_head(hidden)[batch_index, positions]
        return torch.log_softmax(logits.float(), dim=-1)


def _find_head(model: torch.nn.Module) -> torch.nn.Module:
    """The MLM head module of a transformers masked LM (BERT: `cls`, RoBERTa-like: `lm_head`)."""
    for name in ("cls", "lm_head"):
        head = getattr(model, name, None)
        if isinstance(head, torch.nn.Module):
            return head
    raise BabybiasError(f"{type(model).__name__} has no `cls` or `lm_head` MLM head",
                        fix="score a BERT- or RoBERTa-style *ForMaskedLM model")


class MaskedLMWrapper:
    """Base for wrappers: delegates everything to `base`; override what the method changes."""

    def __init__(self, base: MaskedLM):
        self.base = base
        self.device = base.device

    def hidden_states(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        return self.base.hidden_states(input_ids, attention_mask)

    def lm_head(self, hidden: Tensor) -> Tensor:
        return self.base.lm_head(hidden)

    def masked_logprobs(self, input_ids: Tensor, attention_mask: Tensor, batch_index: Tensor,
                        positions: Tensor) -> Tensor:
        hidden = self.hidden_states(input_ids, attention_mask)
        return torch.log_softmax(self.lm_head(hidden[batch_index, positions]).float(), dim=-1)


class HiddenTransformLM(MaskedLMWrapper):
    """`base` with `transform` applied to its last hidden states (before the MLM head and before pooling)."""

    def __init__(self, base: MaskedLM, transform: HiddenTransform):
        super().__init__(base)
        self.transform = transform

    def hidden_states(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        return self.transform(self.base.hidden_states(input_ids, attention_mask))


def load_masked_lm(path: str | Path, device: str = "auto", precision: str = "fp32",
                   head_only_at_masked: bool = True):
    """(HFMaskedLM, tokenizer) from a checkpoint directory holding HF model and tokenizer files."""
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    from babybias.ltg_bert import register_auto_classes

    register_auto_classes()  # model_type ltg_bert
    path = Path(path)
    if not (path / "config.json").is_file():
        raise BabybiasError(f"{path} is not a model checkpoint (no config.json)",
                            fix="pass a checkpoint directory (runs/<name>/pretrain/checkpoints/step-...) or a run")
    from safetensors import SafetensorError

    from babybias.errors import IntegrityError
    from babybias.integrity import verify_folder

    verify_folder(path, "checkpoint")  # sha256 of every file, where the folder records them
    try:
        model = AutoModelForMaskedLM.from_pretrained(path, dtype=torch.float32)
        tokenizer = AutoTokenizer.from_pretrained(path)
    except (SafetensorError, OSError, ValueError, RuntimeError, EOFError) as err:  # truncated or garbled files
        reason = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
        raise IntegrityError(f"checkpoint {path} does not load ({type(err).__name__}: {reason})",
                             fix="evaluate another checkpoint, or rerun the pretraining that wrote it") from None
    if not getattr(tokenizer, "is_fast", False):
        raise BabybiasError(f"{path}: the tokenizer is not a fast tokenizer", fix="save a tokenizer.json with it")
    return HFMaskedLM(model, device, precision, head_only_at_masked), tokenizer
