"""Debiasing configs: the `debias=` group (used by pretrain, evaluate and debias) and the `debias` command.

One flat schema serves every method, so `debias.n_classifiers=40` and `debias.steps=500` are checked at
composition time; each option in conf/debias/ sets `method` and documents the fields it reads:

- intra-model (`babybias pretrain debias=cda|dropout [init_from=<run>]`): `steps`, `hidden_dropout`,
  `attention_dropout`. These options are `@package _global_` overlays that change the corpus, the model's
  dropout and `train.steps`, and nothing else.
- post-model (`babybias debias fit debias=inlp|sentence_debias|self_debias run=<run>`, then
  `babybias evaluate debias=...`): the fit sentences and each method's own fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional

from babybias.configs.common import DataConfig, ImplConfig, PathsConfig
from babybias.errors import ConfigError

INTRA_MODEL = ("cda", "dropout")
POST_MODEL = ("inlp", "sentence_debias", "self_debias")
METHODS = ("none", *INTRA_MODEL, *POST_MODEL)


@dataclass
class DebiasConfig:
    """A debiasing method and its settings (`debias=<method>`; `none` = no debiasing)."""

    method: str = "none"
    """none | cda | dropout (intra-model) | inlp | sentence_debias | self_debias (post-model)."""
    bias_type: str = "gender"
    """Which bias the method targets: gender (word pairs of the corpus lexicon) for INLP/SentenceDebias;
    for Self-Debias any key of `self_debias.DEBIASING_PREFIXES` (gender, race-color, religion, ...)."""

    # ---- intra-model: continued pretraining (cda, dropout)
    steps: int = 2000
    """Optimizer steps of (continued) pretraining; the overlay sets train.steps to it (Meade et al. 2022: 2K)."""
    hidden_dropout: float = 0.20
    """dropout: hidden dropout during continued pretraining (Webster et al. 2020)."""
    attention_dropout: float = 0.15
    """dropout: attention dropout during continued pretraining (Webster et al. 2020)."""

    # ---- post-model fit data: attribute-word sentences drawn from the model's pretraining corpus
    sentences_per_class: int = 2000
    """At most this many male, female and neutral sentences (INLP) or counterfactual pairs (SentenceDebias)."""
    max_sentence_words: int = 60
    """Skip longer corpus sentences (they would be truncated by the model anyway)."""
    dev_fraction: float = 0.3
    """INLP: share of the sentences held out to report each classifier's accuracy."""

    # ---- INLP (Ravfogel et al. 2020)
    n_classifiers: int = 80
    """INLP iterations; each removes the row space of one linear classifier."""
    classifier: str = "linear_svc"
    """linear_svc (bias-bench) | logistic_regression."""
    min_accuracy: float = 0.0
    """INLP: a classifier below this dev accuracy is not projected out (bias-bench: 0)."""

    # ---- SentenceDebias (Liang et al. 2020)
    n_components: int = 1
    """Principal components of the counterfactual differences that span the removed bias subspace."""

    # ---- Self-Debias (Schick et al. 2021)
    decay_constant: float = 50.0
    """λ: how sharply tokens made likelier by the debiasing prefix are suppressed."""
    epsilon: float = 0.01
    """Lower bound of each token's scaling factor."""
    prefixes: Optional[List[str]] = None
    """Debiasing prefixes; null = the paper's prefix for `bias_type`."""

    artifact: Optional[str] = None
    """A fitted artifact folder; null = runs/<run>/debias/<method>/<checkpoint>/ beside the model's run."""

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(f"debias.method={self.method!r} is not known", fix=f"use debias=<{'|'.join(METHODS)}>")
        if self.steps < 1:
            raise ConfigError(f"debias.steps={self.steps} must be >= 1", fix="e.g. debias.steps=2000")
        for key in ("hidden_dropout", "attention_dropout"):
            if not 0.0 <= getattr(self, key) < 1.0:
                raise ConfigError(f"debias.{key}={getattr(self, key)} must be in [0, 1)", fix=f"e.g. debias.{key}=0.1")
        if self.n_classifiers < 1 or self.n_components < 1 or self.sentences_per_class < 2:
            raise ConfigError("debias.n_classifiers, n_components must be >= 1 and sentences_per_class >= 2",
                              fix="e.g. debias.n_classifiers=80 debias.n_components=1 debias.sentences_per_class=2000")
        if self.classifier not in ("linear_svc", "logistic_regression"):
            raise ConfigError(f"debias.classifier={self.classifier!r} is not known",
                              fix="use debias.classifier=linear_svc|logistic_regression")
        if self.decay_constant <= 0 or not 0.0 < self.epsilon <= 1.0:
            raise ConfigError("Self-Debias needs debias.decay_constant > 0 and 0 < debias.epsilon <= 1",
                              fix="use the paper's debias.decay_constant=50 debias.epsilon=0.01")
        if not 0.0 < self.dev_fraction < 1.0:
            raise ConfigError(f"debias.dev_fraction={self.dev_fraction} must be in (0, 1)", fix="e.g. debias.dev_fraction=0.3")
        if self.max_sentence_words < 1:
            raise ConfigError(f"debias.max_sentence_words={self.max_sentence_words} must be >= 1",
                              fix="e.g. debias.max_sentence_words=60")
        if not 0.0 <= self.min_accuracy <= 1.0:
            raise ConfigError(f"debias.min_accuracy={self.min_accuracy} must be in [0, 1]", fix="e.g. debias.min_accuracy=0")

    @property
    def is_post_model(self) -> bool:
        return self.method in POST_MODEL


@dataclass
class DebiasCommandConfig:
    """`babybias debias fit debias=<inlp|sentence_debias|self_debias> run=<run|name> [checkpoint=<dir>] [name=...]`

    (Like `evaluate`: `model=` cannot be a plain field, Hydra reads it as a choice in the conf/model/ group.)
    """

    command: str = "debias"
    action: str = "fit"
    """fit: fit the method on the model and save the artifact (the only action)."""
    name: str = "default"
    """The pretrain run to fit on when `run=`/`checkpoint=` are not given (runs/<name>/pretrain)."""
    run: Optional[str] = None
    """A pretrain run directory or run name (its final model/); null = the pretrain run of `name`."""
    checkpoint: Optional[str] = None
    """One checkpoint directory (HF files) instead of the run's final model."""
    corpus_file: Optional[str] = None
    """One-sentence-a-line text for the fit sentences; null = the train split the model was pretrained on."""
    seed: Optional[int] = 0
    """Sentence sampling and classifier seeds; null = draw one and record it."""
    force: bool = False
    """Refit even when a finished artifact exists."""
    debias: DebiasConfig = field(default_factory=lambda: DebiasConfig(method="inlp"))
    impl: ImplConfig = field(default_factory=ImplConfig)
    data: DataConfig = field(default_factory=DataConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)

    def __post_init__(self) -> None:
        if self.checkpoint and self.run and self.checkpoint != self.run:
            raise ConfigError("both checkpoint= and run= are set", fix="pass one of run=... or checkpoint=...")
        if self.action != "fit":
            raise ConfigError(f"unknown action {self.action!r}", fix="use `babybias debias fit debias=<method> ...`")


def register(cs) -> None:
    cs.store(name="debias_schema", node=DebiasCommandConfig)
