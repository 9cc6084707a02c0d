"""Debiasing configs: the `debias=` group (used by pretrain, evaluate and debias) and the `debias` command.

One flat schema serves every method, so `debias.n_classifiers=40` and `debias.steps=500` are checked at
composition time; each option in conf/debias/ sets `method` and documents the fields it reads:

- intra-model (`babybias pretrain debias=cda|dropout [init_from=<run>]`): `steps`, `hidden_dropout`,
  `attention_dropout`, and `bias_type` for CDA. These options are `@package _global_` overlays that change
  the corpus, the model's dropout and `train.steps`, and nothing else.
- intra-model fine-tuning recipes of the seed paper (`babybias pretrain debias=cds|orthogonal_ewc
  init_from=<run>`): `epochs`, `batch_size`, `lr`, `adam_eps`, `grad_clip`, and each method's own fields;
  they run the small loop of `babybias.debias.finetune` (the corpus, model and train groups are not used).
- post-model (`babybias debias fit debias=inlp|sentence_debias|self_debias run=<run>`, then
  `babybias evaluate debias=...`): the fit sentences and each method's own fields.

Defaults follow bias-bench (Meade et al. 2022), the reference the seed paper used; README "Variants and
defaults" lists every setting that differs from it and what remains different.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional

from babybias.configs.common import DataConfig, ImplConfig, PathsConfig
from babybias.errors import ConfigError

BIAS_TYPES = ("gender", "race", "religion")
"""The bias types with attribute words (bias-bench's `bias_attribute_words`): CDA, INLP, SentenceDebias."""
FINETUNED = ("cds", "orthogonal_ewc")
"""Intra-model methods that fine-tune a trained model with the seed's recipes (`babybias.debias.finetune`)."""
INTRA_MODEL = ("cda", "dropout", *FINETUNED)
POST_MODEL = ("inlp", "sentence_debias", "self_debias")
METHODS = ("none", *INTRA_MODEL, *POST_MODEL)


@dataclass
class DebiasConfig:
    """A debiasing method and its settings (`debias=<method>`; `none` = no debiasing)."""

    method: str = "none"
    """none | cda | dropout | cds | orthogonal_ewc (intra-model) | inlp | sentence_debias | self_debias (post-model)."""
    bias_type: str = "gender"
    """Which bias the method targets: gender | race | religion (attribute words of `bias_attribute_words`) for
    CDA, INLP and SentenceDebias; for Self-Debias with `prefix_scope=bias_type` any key of
    `self_debias.DEBIASING_PREFIXES` (gender, race-color, religion, ...)."""

    # ---- intra-model: continued pretraining (cda, dropout)
    steps: int = 2000
    """Optimizer steps of (continued) pretraining; the overlay sets train.steps to it (Meade et al. 2022: 2K)."""
    hidden_dropout: float = 0.20
    """dropout: hidden dropout during continued pretraining (Webster et al. 2020)."""
    attention_dropout: float = 0.15
    """dropout: attention dropout during continued pretraining (Webster et al. 2020)."""

    # ---- fine-tuning recipes (cds, orthogonal_ewc): per-sentence padded batches, AdamW, linear decay to 0, no warmup
    epochs: int = 3
    """Passes over the fine-tuning sentences (cds: 3, orthogonal_ewc: 4, as the seed)."""
    batch_size: int = 16
    """Sentences per optimizer step (cds: 16, orthogonal_ewc: 6)."""
    lr: float = 2e-5
    """Peak (= initial) learning rate, decayed linearly to 0 (cds: 2e-5, orthogonal_ewc: 4e-5)."""
    adam_eps: float = 1e-8
    """AdamW epsilon (betas 0.9/0.999, no weight decay: transformers' AdamW defaults, as the seed used)."""
    grad_clip: float = 1.0
    """Clip the global gradient norm to this value; 0 = no clipping."""
    max_seq_len: Optional[int] = None
    """Truncation length in tokens; null = the next power of two >= the longest sentence in words, capped at the
    model's maximum (the seed's rule for CDS; orthogonal_ewc's seed value 164 is above BabyLM's 128)."""
    max_examples: Optional[int] = None
    """Use only the first N fine-tuning sentences (quick runs and tests); null = all."""
    cds_unit: str = "sentence"
    """cds: one training example per GAP sentence (the seed splits passages into sentences) | passage."""
    orthogonal_weight: float = 1.0
    """orthogonal_ewc: lambda, the weight of sum |h_L . g| over neutral-word positions."""
    ewc_importance: float = 0.5
    """orthogonal_ewc: the weight of the EWC penalty sum F (theta - theta_0)^2."""
    fisher_sentences: Optional[int] = None
    """orthogonal_ewc: estimate the diagonal Fisher on the first N WinoBias type-1 test sentences; null = all."""

    # ---- post-model fit data: sentences from the model's pretraining corpus, built as bias-bench builds them
    lexicon: str = "bias_attribute_words"
    """Attribute words: bias_attribute_words (bias-bench) | merged (gender only: the corpus CDA lexicon)."""
    lowercase: str = "auto"
    """Lower-case the fit sentences: auto (when the model's tokenizer is uncased, as bias-bench's BERT sees
    them) | true (bias-bench for every model) | false. Words are matched case-insensitively either way."""
    sentences_per_class: int = 10000
    """INLP: at most this many sentences per class (bias-bench: 10,000)."""
    clip_sentences: bool = True
    """INLP: cut each sentence after a random token from its attribute word on (bias-bench); false = whole."""
    max_sentence_words: Optional[int] = None
    """INLP: skip longer corpus lines; null = none skipped (bias-bench; the engine truncates to the model)."""
    dev_fraction: float = 0.3
    """INLP: share of the non-test sentences held out to report each classifier's accuracy (bias-bench: 0.3)."""
    test_fraction: float = 0.3
    """INLP: share held out first and never fitted on (bias-bench: 0.3, so classifiers fit 49%); the accuracy
    of a fresh linear probe before and after the projection is recorded (`test_accuracy_before|after`, beside
    `test_majority_rate`). 0 = no test split."""

    # ---- INLP (Ravfogel et al. 2020)
    n_classifiers: int = 80
    """INLP iterations; each removes the row space of one linear classifier (3 dims for gender's 3 classes)."""
    n_classifiers_scaling: str = "absolute"
    """absolute: n_classifiers as given (bias-bench) | hidden_size: n_classifiers is meant for a
    `reference_hidden_size`-wide model and scaled to this one's width, round(n * H / H_ref), so the same
    share of the hidden size is removed at every width (80 at 768 -> 40 at 384: 31% of each, gender)."""
    reference_hidden_size: int = 768
    """n_classifiers_scaling=hidden_size: the width n_classifiers refers to (768 = BERT-base)."""
    classifier: str = "linear_svc"
    """linear_svc (bias-bench) | logistic_regression."""
    min_accuracy: float = 0.0
    """INLP: a classifier below this dev accuracy is not projected out (bias-bench: 0)."""

    # ---- SentenceDebias (Liang et al. 2020)
    n_components: int = 1
    """Principal components of the counterfactual differences that span the removed bias subspace."""
    counterfactuals: str = "per_word"
    """per_word: one example per attribute word present, only that word swapped (bias-bench) | all_words:
    every attribute word swapped at once (gender only; our earlier construction)."""
    max_pairs: Optional[int] = None
    """At most this many counterfactual examples (seeded sample); null = all (bias-bench)."""

    # ---- Self-Debias (Schick et al. 2021)
    decay_constant: float = 50.0
    """λ: how sharply tokens made likelier by the debiasing prefix are suppressed."""
    epsilon: float = 0.01
    """Lower bound of each token's scaling factor."""
    prefix_scope: str = "per_category"
    """per_category: each benchmark category (CrowS-Pairs / StereoSet bias type) is scored with its own
    bias type's prefix (bias-bench) | bias_type: the prefix of `bias_type` for every category."""
    prefixes: Optional[List[str]] = None
    """Debiasing prefixes for every category (implies prefix_scope=bias_type); null = the paper's."""

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
                              fix="e.g. debias.n_classifiers=80 debias.n_components=1 debias.sentences_per_class=10000")
        self._check_choices()
        if self.classifier not in ("linear_svc", "logistic_regression"):
            raise ConfigError(f"debias.classifier={self.classifier!r} is not known",
                              fix="use debias.classifier=linear_svc|logistic_regression")
        if self.decay_constant <= 0 or not 0.0 < self.epsilon <= 1.0:
            raise ConfigError("Self-Debias needs debias.decay_constant > 0 and 0 < debias.epsilon <= 1",
                              fix="use the paper's debias.decay_constant=50 debias.epsilon=0.01")
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0 or self.adam_eps <= 0 or self.grad_clip < 0:
            raise ConfigError("debias.epochs, batch_size must be >= 1, lr and adam_eps > 0, grad_clip >= 0",
                              fix="e.g. debias.epochs=3 debias.batch_size=16 debias.lr=2e-5")
        if self.cds_unit not in ("sentence", "passage"):
            raise ConfigError(f"debias.cds_unit={self.cds_unit!r}", fix="use debias.cds_unit=sentence|passage")
        if self.orthogonal_weight < 0 or self.ewc_importance < 0:
            raise ConfigError("debias.orthogonal_weight and debias.ewc_importance must be >= 0",
                              fix="e.g. debias.orthogonal_weight=1.0 debias.ewc_importance=0.5")
        for key in ("max_seq_len", "max_examples", "fisher_sentences"):
            if getattr(self, key) is not None and getattr(self, key) < (8 if key == "max_seq_len" else 1):
                raise ConfigError(f"debias.{key}={getattr(self, key)} is too small", fix=f"use debias.{key}=null or more")
        if not 0.0 < self.dev_fraction < 1.0 or not 0.0 <= self.test_fraction < 1.0:
            raise ConfigError(f"debias.dev_fraction={self.dev_fraction} must be in (0, 1) and "
                              f"debias.test_fraction={self.test_fraction} in [0, 1)",
                              fix="use bias-bench's debias.dev_fraction=0.3 debias.test_fraction=0.3")
        if not 0.0 <= self.min_accuracy <= 1.0:
            raise ConfigError(f"debias.min_accuracy={self.min_accuracy} must be in [0, 1]", fix="e.g. debias.min_accuracy=0")

    def _check_choices(self) -> None:
        choices = {"lexicon": ("bias_attribute_words", "merged"), "lowercase": ("auto", "true", "false"),
                   "n_classifiers_scaling": ("absolute", "hidden_size"), "counterfactuals": ("per_word", "all_words"),
                   "prefix_scope": ("per_category", "bias_type")}
        self.lowercase = str(self.lowercase).lower()  # YAML reads `true` as a boolean
        for key, allowed in choices.items():
            if getattr(self, key) not in allowed:
                raise ConfigError(f"debias.{key}={getattr(self, key)!r} is not known",
                                  fix=f"use debias.{key}={'|'.join(allowed)}")
        if self.method in ("cda", "inlp", "sentence_debias") and self.bias_type not in BIAS_TYPES:
            raise ConfigError(f"debias.bias_type={self.bias_type!r} has no attribute words for {self.method}",
                              fix=f"use debias.bias_type={'|'.join(BIAS_TYPES)}")
        merged = self.lexicon == "merged" and self.method in ("inlp", "sentence_debias")
        if self.bias_type != "gender" and (merged or (self.counterfactuals == "all_words"
                                                      and self.method == "sentence_debias")):
            raise ConfigError(f"debias.lexicon=merged and debias.counterfactuals=all_words are gender-only "
                              f"(bias_type={self.bias_type})", fix="use debias.lexicon=bias_attribute_words "
                              "debias.counterfactuals=per_word")
        if self.reference_hidden_size < 1 or (self.max_pairs is not None and self.max_pairs < 2) or (
                self.max_sentence_words is not None and self.max_sentence_words < 1):
            raise ConfigError("debias.reference_hidden_size must be >= 1, max_pairs >= 2, max_sentence_words >= 1",
                              fix="e.g. debias.reference_hidden_size=768 debias.max_pairs=null")

    @property
    def is_post_model(self) -> bool:
        return self.method in POST_MODEL

    @property
    def is_finetuned(self) -> bool:
        return self.method in FINETUNED

    @property
    def reads_bias_type(self) -> bool:
        """Whether `bias_type` changes what this method does: not for dropout, nor for Self-Debias with explicit
        `prefixes` (per-category Self-Debias still uses it for benchmarks without categories, e.g. BLiMP)."""
        if self.method == "self_debias":
            return not self.prefixes
        return self.method in ("cda", "inlp", "sentence_debias")

    @property
    def tag(self) -> str:
        """The method, plus the bias type when it reads one that is not gender: inlp, inlp-race, cda-race (names
        a study's continued-pretraining runs; artifacts and result files carry a hash of non-default settings)."""
        return f"{self.method}-{self.bias_type}" if self.reads_bias_type and self.bias_type != "gender" else self.method

    def lowercase_for(self, tokenizer) -> bool:
        """Whether fit sentences are lower-cased for this tokenizer (`lowercase=auto`: when it is uncased)."""
        if self.lowercase != "auto":
            return self.lowercase == "true"
        return tokenizer_is_uncased(tokenizer)

    def classifiers_for(self, hidden_size: int) -> int:
        """INLP iterations at this hidden size (`n_classifiers_scaling`)."""
        if self.n_classifiers_scaling == "absolute":
            return self.n_classifiers
        return max(1, round(self.n_classifiers * hidden_size / self.reference_hidden_size))


def tokenizer_is_uncased(tokenizer) -> bool:
    """True when the tokenizer's normalizer lower-cases its input (bert-base-uncased, wordpiece_uncased)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    normalizer = getattr(backend, "normalizer", None)
    if normalizer is not None:
        return normalizer.normalize_str("Ab") == "ab"
    return bool(getattr(tokenizer, "do_lower_case", False))


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
