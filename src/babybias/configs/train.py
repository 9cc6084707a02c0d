"""Pretraining config (`train=` group): everything here changes results (speed-only knobs live in `impl`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import List, Optional

from babybias.errors import ConfigError


@dataclass
class TrainConfig:
    """Masked-LM pretraining on packed fixed-length blocks with AdamW and a warmup + decay schedule."""

    steps: int = 1000
    """Optimizer steps (derived from `epochs` when that is set)."""
    epochs: Optional[float] = None
    """Passes over the packed train blocks; when set, `steps` = ceil(epochs x train blocks / batch_size), computed
    once the corpus is packed and recorded in the run's config.yaml (null = use `steps`)."""
    batch_size: int = 32
    """Sequences per optimizer step, over all ranks (`impl.micro_batch_size` splits it)."""
    seq_len: int = 128
    """Block length in tokens: [CLS] + text + [SEP], sentences packed without padding."""
    lr: float = 5e-4
    """Peak learning rate."""
    warmup_steps: int = 100
    schedule: str = "linear"
    """linear | cosine | constant decay after warmup."""
    min_lr_ratio: float = 0.0
    """Final learning rate as a fraction of `lr` (linear and cosine)."""
    weight_decay: float = 0.01
    """AdamW weight decay; not applied to biases and LayerNorm weights."""
    adam_beta1: float = 0.9
    adam_beta2: float = 0.98
    adam_eps: float = 1e-6
    grad_clip: float = 1.0
    """Clip the global gradient norm to this value; 0 = no clipping."""
    mlm_probability: float = 0.15
    """Share of (non-special) tokens selected for prediction; of those 80% -> [MASK], 10% random, 10% kept."""
    checkpoint_steps: List[int] = field(default_factory=list)
    """Steps at which to keep a checkpoint (the learning-dynamics checkpoints); the final step always is."""
    checkpoint_every: Optional[int] = None
    """Also keep a checkpoint every N steps (null = only `checkpoint_steps` and the final step)."""
    log_every: int = 1
    """Write a metrics.jsonl line every N steps."""
    validation_blocks: int = 64
    """Validation-split blocks scored (fixed masks) at each checkpoint; 0 = no validation loss."""

    def __post_init__(self) -> None:
        if self.schedule not in ("linear", "cosine", "constant"):
            raise ConfigError(f"train.schedule={self.schedule!r} is not known", fix="use train.schedule=linear|cosine|constant")
        if self.steps < 1 or self.batch_size < 1:
            raise ConfigError("train.steps and train.batch_size must be >= 1", fix="set train.steps>=1 train.batch_size>=1")
        if self.seq_len < 8:
            raise ConfigError(f"train.seq_len={self.seq_len} is too short", fix="use train.seq_len>=8")
        if not 0.0 < self.mlm_probability < 1.0:
            raise ConfigError(f"train.mlm_probability={self.mlm_probability} must be in (0, 1)", fix="e.g. train.mlm_probability=0.15")
        if self.epochs is not None and self.epochs <= 0:
            raise ConfigError(f"train.epochs={self.epochs} must be > 0", fix="e.g. train.epochs=20, or train.epochs=null")
        if self.checkpoint_every is not None and self.checkpoint_every < 1:
            raise ConfigError("train.checkpoint_every must be >= 1 or null", fix="e.g. train.checkpoint_every=1000")

    def is_checkpoint_step(self, step: int) -> bool:
        every = self.checkpoint_every
        return step == self.steps or step in self.checkpoint_steps or bool(every and step % every == 0)

    def steps_for(self, n_blocks: int) -> int:
        """Optimizer steps of `epochs` passes over `n_blocks` train blocks (`steps` when epochs is null)."""
        if self.epochs is None:
            return self.steps
        return max(1, math.ceil(self.epochs * n_blocks / self.batch_size))
