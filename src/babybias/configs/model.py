"""Tokenizer and model configs (`tokenizer=`, `model=` groups): everything here changes results."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from babybias.errors import ConfigError


@dataclass
class TokenizerConfig:
    """A WordPiece tokenizer trained on the corpus train split (BERT special tokens)."""

    kind: str = "wordpiece"
    """Only `wordpiece` for now; the name is part of the cache key."""
    vocab_size: int = 16384
    """Target vocabulary size including special tokens; a small corpus may yield fewer."""
    lowercase: bool = False
    """true = uncased (lower-case and strip accents, as bert-base-uncased); false = cased."""
    min_frequency: int = 2
    """A merge must occur at least this often in the corpus."""
    model_max_length: int = 512
    """Written into the saved tokenizer; keep it <= model.max_position_embeddings."""
    path: Optional[str] = None
    """Use this saved tokenizer (a folder with tokenizer.json, e.g. runs/<name>/pretrain/tokenizer) instead of training
    one (training is deterministic, so this is for reusing a tokenizer across corpora or from older runs)."""

    def __post_init__(self) -> None:
        if self.kind != "wordpiece":
            raise ConfigError(f"tokenizer.kind={self.kind!r} is not known", fix="use tokenizer.kind=wordpiece")
        if self.vocab_size < 16:
            raise ConfigError(f"tokenizer.vocab_size={self.vocab_size} is too small", fix="use tokenizer.vocab_size>=16")


@dataclass
class ModelConfig:
    """A BERT encoder with a masked-LM head (transformers' BertForMaskedLM, so AutoModelForMaskedLM loads it)."""

    name: str = "babylm"
    """babylm | bert_base | tiny (a label; the sizes below define the model)."""
    hidden_size: int = 384
    num_layers: int = 12
    num_heads: int = 6
    intermediate_size: int = 1536
    max_position_embeddings: int = 512
    hidden_dropout: float = 0.1
    attention_dropout: float = 0.1
    vocab_size: Optional[int] = None
    """null = the tokenizer's vocabulary size (the usual choice)."""
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12

    def __post_init__(self) -> None:
        if self.hidden_size % self.num_heads:
            raise ConfigError(
                f"model.hidden_size={self.hidden_size} is not divisible by model.num_heads={self.num_heads}",
                fix="choose model.num_heads dividing model.hidden_size",
            )
        for key in ("hidden_size", "num_layers", "num_heads", "intermediate_size", "max_position_embeddings"):
            if getattr(self, key) < 1:
                raise ConfigError(f"model.{key}={getattr(self, key)} must be positive", fix=f"set model.{key}>=1")
