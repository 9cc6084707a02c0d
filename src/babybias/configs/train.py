"""Pretraining config (`train=` group): everything here changes results (speed-only knobs live in `impl`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import List, Optional

from babybias.errors import ConfigError

_GE, _GT, _LE, _LT = (lambda v, b: v >= b), (lambda v, b: v > b), (lambda v, b: v <= b), (lambda v, b: v < b)
_ANY = (float("inf"), _LE)
# field, (lower bound, test), (upper bound, test), a valid example. NaN fails every test.
_RANGES = [
    ("lr", (0.0, _GT), _ANY, "5e-4"),
    ("warmup_steps", (0, _GE), _ANY, 100),
    ("min_lr_ratio", (0.0, _GE), (1.0, _LE), 0.0),
    ("weight_decay", (0.0, _GE), _ANY, 0.01),
    ("adam_beta1", (0.0, _GE), (1.0, _LT), 0.9),
    ("adam_beta2", (0.0, _GE), (1.0, _LT), 0.98),
    ("adam_eps", (0.0, _GT), _ANY, "1e-6"),
    ("grad_clip", (0.0, _GE), _ANY, "1.0 (0 = no clipping)"),
    ("log_every", (1, _GE), _ANY, 10),
    ("validation_blocks", (0, _GE), _ANY, "64 (0 = none)"),
]


def _describe(low: tuple, high: tuple) -> str:
    words = {_GE: ">=", _GT: ">", _LE: "<=", _LT: "<"}
    lower = f"{words[low[1]]} {low[0]}"
    return lower if high is _ANY else f"{lower} and {words[high[1]]} {high[0]}"


def checkpoint_fractions(steps: int, *fractions: float) -> list[int]:
    """Checkpoint steps at these fractions of `steps` (rounded, at least 1, no duplicates): the default
    `train.checkpoint_steps`, so that `train.steps=N` alone keeps checkpoints inside 1..N."""
    return sorted({max(1, round(float(f) * int(steps))) for f in fractions if 0 < float(f) <= 1})


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
    """Steps at which to keep a checkpoint (the learning-dynamics checkpoints), each in 1..steps; the final step
    always is. conf/train/ sets them as fractions of `steps` (`${babybias_fractions:...}`)."""
    checkpoint_every: Optional[int] = None
    """Also keep a checkpoint every N steps (null = only `checkpoint_steps` and the final step)."""
    log_every: int = 1
    """Write a metrics.jsonl line every N steps."""
    validation_blocks: int = 64
    """Validation-split blocks scored (fixed masks) at each checkpoint; 0 = no validation loss."""

    def __post_init__(self) -> None:
        for key, low, high, fix in _RANGES:
            value = getattr(self, key)
            if not (low[1](value, low[0]) and high[1](value, high[0])):
                raise ConfigError(f"train.{key}={value} must be {_describe(low, high)}", fix=f"use e.g. train.{key}={fix}")
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
        # with train.epochs the number of steps is known once the corpus is packed: checked again then
        self.check_checkpoint_steps(self.steps if self.epochs is None else None)

    def check_checkpoint_steps(self, steps: int | None) -> None:
        """Every checkpoint step must lie in 1..steps (None: only >= 1), or it would silently never be saved."""
        top = steps if steps is not None else float("inf")
        outside = [s for s in self.checkpoint_steps if not 1 <= s <= top]
        if outside:
            inside = [s for s in self.checkpoint_steps if 1 <= s <= top]
            where = "below step 1" if steps is None else f"outside 1..train.steps={steps}" + (
                f" (from train.epochs={self.epochs})" if self.epochs else "")
            raise ConfigError(f"train.checkpoint_steps has {outside}, {where} (they would never be saved)",
                              fix=f"use train.checkpoint_steps=[{','.join(map(str, inside))}] or fewer/other steps")

    def is_checkpoint_step(self, step: int) -> bool:
        every = self.checkpoint_every
        return step == self.steps or step in self.checkpoint_steps or bool(every and step % every == 0)

    def steps_for(self, n_blocks: int) -> int:
        """Optimizer steps of `epochs` passes over `n_blocks` train blocks (`steps` when epochs is null)."""
        if self.epochs is None:
            return self.steps
        return max(1, math.ceil(self.epochs * n_blocks / self.batch_size))
