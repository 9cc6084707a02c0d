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
        if self.min_frequency < 1:
            raise ConfigError(f"tokenizer.min_frequency={self.min_frequency} must be >= 1", fix="e.g. tokenizer.min_frequency=2")
        if self.model_max_length < 8:
            raise ConfigError(f"tokenizer.model_max_length={self.model_max_length} is too short",
                              fix="use tokenizer.model_max_length>=8 (e.g. 512)")


ARCHITECTURES = ("bert", "ltg_bert")


@dataclass
class ModelConfig:
    """An encoder with a masked-LM head, saved as a transformers model (AutoModelForMaskedLM loads it).

    `architecture=bert` is transformers' BertForMaskedLM; `architecture=ltg_bert` is LTG-BERT (Samuel et al.
    2023; babybias.ltg_bert), the seed paper's BabyLM. The sizes below mean the same for both.
    """

    name: str = "babylm"
    """babylm | bert_base | ltg_bert | ltg_bert_small | tiny (a label; the fields below define the model)."""
    architecture: str = "bert"
    """bert | ltg_bert"""
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
    """BERT's init std (LTG-BERT's init is fixed by the paper: truncated normal, std sqrt(2 / (5 H)))."""
    layer_norm_eps: float = 1e-12
    position_bucket_size: int = 32
    """LTG-BERT: relative-position buckets per direction (exact up to half of it, log-spaced beyond)."""

    def __post_init__(self) -> None:
        if self.architecture not in ARCHITECTURES:
            raise ConfigError(f"model.architecture={self.architecture!r} is not known",
                              fix=f"use model.architecture={'|'.join(ARCHITECTURES)} (or model=ltg_bert)")
        if self.position_bucket_size < 2:
            raise ConfigError(f"model.position_bucket_size={self.position_bucket_size} is too small",
                              fix="use model.position_bucket_size>=2 (LTG-BERT: 32)")
        if self.hidden_size % self.num_heads:
            raise ConfigError(
                f"model.hidden_size={self.hidden_size} is not divisible by model.num_heads={self.num_heads}",
                fix="choose model.num_heads dividing model.hidden_size",
            )
        for key in ("hidden_size", "num_layers", "num_heads", "intermediate_size", "max_position_embeddings"):
            if getattr(self, key) < 1:
                raise ConfigError(f"model.{key}={getattr(self, key)} must be positive", fix=f"set model.{key}>=1")
        for key in ("hidden_dropout", "attention_dropout"):
            if not 0.0 <= getattr(self, key) < 1.0:
                raise ConfigError(f"model.{key}={getattr(self, key)} must be in [0, 1)", fix=f"e.g. model.{key}=0.1")
        for key in ("initializer_range", "layer_norm_eps"):
            if not getattr(self, key) > 0:
                raise ConfigError(f"model.{key}={getattr(self, key)} must be > 0", fix=f"e.g. model.{key}=0.02")
        if self.vocab_size is not None and self.vocab_size < 16:
            raise ConfigError(f"model.vocab_size={self.vocab_size} is too small",
                              fix="use model.vocab_size=null (the tokenizer's size)")
