"""Config schemas for `babybias unlearn`: downstream task, SISA training, deletion rounds, fairness.

Groups: `task=` (which data, groups, skew), `sisa=` (shards, slices, how constituents are trained),
`unlearn=` (deletion requests and rounds), `fairness=` (what is evaluated), `fairsisa=` (which
post-processors are refit after each round). `shards` and `slices` are top-level conveniences:
`babybias unlearn shards=5 slices=4` sets `sisa.shards` and `sisa.slices`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, List, Optional

from babybias.configs.common import DataConfig, ImplConfig, PathsConfig, WandbConfig
from babybias.errors import ConfigError

ATTRIBUTES = ("gender", "sexuality", "religion", "race", "age", "disability", "all", "binary")
GROUPINGS = ("term", "category", "binary")
FAIRSISA_METHODS = ("final", "constituent", "joint")

# Identity terms treated as privileged in the binary split (dominant groups in the Dixon et al. term list).
DEFAULT_PRIVILEGED = ["straight", "heterosexual", "cis", "male", "white", "european", "american", "canadian",
                      "christian", "catholic", "protestant", "young", "younger", "millenial", "teenage",
                      "middle aged"]


@dataclass
class TaskConfig:
    """Binary toxicity classification with a sensitive attribute (identity_toxicity_templates)."""

    attribute: str = "binary"
    """gender | sexuality | religion | race | age | disability | all: keep templates whose identity term has
    this attribute; binary = all templates, grouped privileged/unprivileged (same as grouping=binary)."""
    grouping: str = "term"
    """term: group = the identity term; category: group = the term's attribute; binary: privileged or
    unprivileged by `privileged`."""
    privileged: List[str] = field(default_factory=lambda: list(DEFAULT_PRIVILEGED))
    """Identity terms in the privileged group when grouping is binary."""
    skew: Optional[float] = None
    """Share of a skewed group's *training* examples that are toxic (null = as sampled, ~0.5). Reached by
    dropping training examples of the other label; calibration and test stay balanced."""
    skewed_groups: List[str] = field(default_factory=list)
    """Groups the skew applies to; empty = every group that is not privileged."""
    test_fraction: float = 0.2
    calibration_fraction: float = 0.2
    """Held out (balanced, unskewed) for fitting the post-processors."""
    max_examples: Optional[int] = 20000
    """Sample this many templates (stratified by group and label, seeded) before splitting; null = all 76,564."""
    real_comments: bool = True
    """Add the 1,492 real Wikipedia comments as an extra test set (groups by identity-term matching)."""

    def __post_init__(self) -> None:
        if self.attribute not in ATTRIBUTES:
            raise ConfigError(f"task.attribute={self.attribute!r} is not known", fix=f"use one of {ATTRIBUTES}")
        if self.grouping not in GROUPINGS:
            raise ConfigError(f"task.grouping={self.grouping!r} is not known", fix=f"use one of {GROUPINGS}")
        if self.skew is not None and not 0.0 < self.skew < 1.0:
            raise ConfigError(f"task.skew={self.skew} must be in (0, 1)", fix="e.g. task.skew=0.8, or task.skew=null")
        if not (0 < self.test_fraction and 0 < self.calibration_fraction
                and self.test_fraction + self.calibration_fraction < 1):
            raise ConfigError("task.test_fraction + task.calibration_fraction must be in (0, 1), both positive",
                              fix="e.g. task.test_fraction=0.2 task.calibration_fraction=0.2")
        if self.max_examples is not None and self.max_examples < 20:
            raise ConfigError(f"task.max_examples={self.max_examples} is too small", fix="use at least 20, or null")


@dataclass
class SisaConfig:
    """SISA (Bourtoule et al. 2021): shards, slices, and how each constituent is trained."""

    shards: int = 5
    slices: int = 4
    finetune: str = "head"
    """head: train a linear/MLP head on cached frozen-encoder features; full: fine-tune encoder + head."""
    partition: str = "uniform"
    """uniform: seeded uniform shards; distribution: ids likely to be deleted (per unlearn.distribution)
    are packed into as few shards as possible (Bourtoule et al. Sec. 5.2)."""
    head: str = "linear"
    """linear | mlp"""
    head_hidden: int = 64
    epochs_per_slice: int = 20
    """Epochs over (slices 1..k) when slice k is added."""
    batch_size: Optional[int] = 256
    """Seeded mini-batches of this size; null = full-batch gradient steps (head only)."""
    lr: float = 0.01
    """Learning rate of the head (Adam, a fresh optimizer per slice stage)."""
    encoder_lr: float = 5e-5
    """Learning rate of the encoder when finetune=full."""
    weight_decay: float = 0.0
    max_length: Optional[int] = None
    """Tokens kept per example; null = the encoder's own maximum (its tokenizer's model_max_length, capped by
    its max_position_embeddings), so the long real comments are not cut. Batches are padded to their longest
    example, so short templates cost no more than before."""
    vote_ties: str = "negative"
    """Where a tied majority vote of the constituents (even shard count) goes: negative = class 0, as the SISA
    reference (argmax of the summed one-hot votes); positive = class 1. Used by sisa_vote and FairSISA."""

    def __post_init__(self) -> None:
        if isinstance(self.shards, int) and self.shards < 1:
            raise ConfigError(f"shards={self.shards} must be at least 1", fix="e.g. shards=5")
        if isinstance(self.slices, int) and self.slices < 1:
            raise ConfigError(f"slices={self.slices} must be at least 1", fix="e.g. slices=4")
        if self.finetune not in ("head", "full"):
            raise ConfigError(f"sisa.finetune={self.finetune!r} is not known", fix="use sisa.finetune=head|full")
        if self.partition not in ("uniform", "distribution"):
            raise ConfigError(f"sisa.partition={self.partition!r} is not known",
                              fix="use sisa.partition=uniform|distribution")
        if self.head not in ("linear", "mlp"):
            raise ConfigError(f"sisa.head={self.head!r} is not known", fix="use sisa.head=linear|mlp")
        for key in ("head_hidden", "epochs_per_slice"):
            if getattr(self, key) < 1:
                raise ConfigError(f"sisa.{key}={getattr(self, key)} must be >= 1", fix=f"set sisa.{key} to a positive integer")
        if self.batch_size is not None and self.batch_size < 1:
            raise ConfigError(f"sisa.batch_size={self.batch_size} must be >= 1 or null", fix="e.g. sisa.batch_size=256")
        if not (self.lr > 0 and self.encoder_lr > 0 and self.weight_decay >= 0):
            raise ConfigError("sisa.lr and sisa.encoder_lr must be > 0 and sisa.weight_decay >= 0",
                              fix="e.g. sisa.lr=0.01 sisa.encoder_lr=5e-5 sisa.weight_decay=0")
        if self.vote_ties not in ("negative", "positive"):
            raise ConfigError(f"sisa.vote_ties={self.vote_ties!r} is not known",
                              fix="use sisa.vote_ties=negative (SISA reference) or sisa.vote_ties=positive")
        if self.max_length is not None and self.max_length < 2:
            raise ConfigError(f"sisa.max_length={self.max_length} leaves no room for a token",
                              fix="use sisa.max_length=null (the encoder's maximum) or e.g. 64")


@dataclass
class UnlearnRequestsConfig:
    """Deletion requests: sampled or read from a file, applied in rounds."""

    rounds: int = 2
    requests: int = 10
    """Ids sampled per round (ignored for rounds given by requests_file)."""
    distribution: str = "uniform"
    """uniform | group:<name> | label:<toxic|nontoxic>: which training ids requests are drawn from."""
    requests_file: Optional[str] = None
    """A file of training ids, one per line (`<id>` or `<round> <id>`); rounds without ids are sampled."""
    single_model: bool = True
    """Also retrain one model on all remaining training data each round (baseline for cost and fairness)."""

    def __post_init__(self) -> None:
        if self.rounds < 0 or self.requests < 0:
            raise ConfigError("unlearn.rounds and unlearn.requests must be >= 0", fix="e.g. unlearn.rounds=2")
        kind = self.distribution.split(":", 1)[0]
        if kind not in ("uniform", "group", "label") or (kind != "uniform" and ":" not in self.distribution):
            raise ConfigError(f"unlearn.distribution={self.distribution!r} is not known",
                              fix="use uniform, group:<name> or label:<toxic|nontoxic>")
        if kind == "label" and self.distribution.split(":", 1)[1] not in ("toxic", "nontoxic"):
            raise ConfigError(f"unlearn.distribution={self.distribution!r}: label must be toxic or nontoxic",
                              fix="use unlearn.distribution=label:toxic")


@dataclass
class FairnessConfig:
    """What is evaluated before and after each round (metrics via babybias.fairness.metrics)."""

    predictions: str = "expected"
    """expected: exact expectation over a randomized post-processor; sampled: one seeded draw."""
    constituents: bool = True
    """Also report each constituent."""
    eval_sets: List[str] = field(default_factory=lambda: ["test", "real"])
    """test (templates, balanced) and/or real (Wikipedia comments mentioning exactly one group)."""

    def __post_init__(self) -> None:
        if self.predictions not in ("expected", "sampled"):
            raise ConfigError(f"fairness.predictions={self.predictions!r} is not known",
                              fix="use fairness.predictions=expected|sampled")
        bad = [s for s in self.eval_sets if s not in ("test", "real")]
        if bad:
            raise ConfigError(f"fairness.eval_sets has unknown sets {bad}", fix="use [test] or [test,real]")


@dataclass
class FairSisaConfig:
    """Equalized-odds post-processors refit on the calibration split after each round."""

    methods: List[str] = field(default_factory=lambda: list(FAIRSISA_METHODS))
    statistic: str = "pattern"
    """joint: pattern (2^S vote vectors) or vote_count (S + 1 levels)."""
    threshold_optimizer: bool = True
    """fairlearn ThresholdOptimizer on the ensemble's mean probability (library baseline)."""
    single_model: bool = True
    """Hardt et al. post-processing of the single model's prediction too."""
    grid_size: int = 1000

    def __post_init__(self) -> None:
        bad = [m for m in self.methods if m not in FAIRSISA_METHODS]
        if bad:
            raise ConfigError(f"fairsisa.methods has unknown methods {bad}", fix=f"use a subset of {FAIRSISA_METHODS}")
        if self.statistic not in ("pattern", "vote_count"):
            raise ConfigError(f"fairsisa.statistic={self.statistic!r} is not known",
                              fix="use fairsisa.statistic=pattern|vote_count")
        if self.grid_size < 2:
            raise ConfigError(f"fairsisa.grid_size={self.grid_size} must be >= 2", fix="e.g. fairsisa.grid_size=1000")


@dataclass
class UnlearnConfig:
    """`babybias unlearn [run|audit] shards=5 encoder=<pretrain run> ...`"""

    command: str = "unlearn"
    action: str = "run"
    """run: train SISA + deletion rounds (resumes an unfinished run); forget: one more deletion round on a
    finished run (needs run= and ids=); audit: check a run's ledger, lineage and files (needs run=)."""
    name: str = "default"
    seed: Optional[int] = 0
    """Seeds partition, head init, batch order and request sampling (child seeds); null = draw one."""
    dryrun: bool = False
    """Tiny: 200 examples, 1 epoch per slice, 1 request per round."""
    encoder: str = "default"
    """Pretrained encoder: a pretrain run name, run directory, or checkpoint/model directory. (Named
    `encoder`, not `model`: `model=` is the pretraining model-size group and Hydra reads it as a group choice.)"""
    run: Optional[str] = None
    """For `forget` and `audit`: the unlearn run directory (or name)."""
    ids: Any = None
    """For `forget`: the ids to delete, as a list (ids=[12,345]) or a file with one id per line."""
    shards: int = 5
    slices: int = 4
    data: DataConfig = field(default_factory=DataConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)
    task: TaskConfig = field(default_factory=TaskConfig)
    sisa: SisaConfig = field(default_factory=SisaConfig)
    unlearn: UnlearnRequestsConfig = field(default_factory=UnlearnRequestsConfig)
    fairness: FairnessConfig = field(default_factory=FairnessConfig)
    fairsisa: FairSisaConfig = field(default_factory=FairSisaConfig)
    impl: ImplConfig = field(default_factory=ImplConfig)
    wandb: WandbConfig = field(default_factory=WandbConfig)

    def __post_init__(self) -> None:
        from babybias.configs.spine import check_run_name

        check_run_name(self.name)
        if self.action not in ("run", "forget", "audit"):
            raise ConfigError(f"unknown unlearn action {self.action!r}",
                              fix="use `babybias unlearn [run|forget|audit]`")


def hydra_run_dir(action: str, runs: str, name: str, stamp: str) -> str:
    """Hydra's output folder: the run directory for `run`; a folder of its own for `forget` and `audit`, so
    that neither rewrites the run's .hydra/ or log."""
    return f"{runs}/{name}/unlearn" if action == "run" else f"{runs}/{name}/unlearn-{action}/{stamp}"


def hydra_output_subdir(action: str) -> Optional[str]:
    """Hydra's copy of the overrides: none for `forget`, whose overrides name the ids being deleted."""
    return None if action == "forget" else ".hydra"


def register(cs) -> None:
    from omegaconf import OmegaConf

    cs.store(name="unlearn_schema", node=UnlearnConfig)
    OmegaConf.register_new_resolver("unlearn_hydra_dir", hydra_run_dir, replace=True)
    OmegaConf.register_new_resolver("unlearn_hydra_subdir", hydra_output_subdir, replace=True)
