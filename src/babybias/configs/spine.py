"""Primary schemas of the spine commands: data, corpus, tokenizer, pretrain."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, List, Optional

from babybias.configs.common import DataConfig, ImplConfig, PathsConfig, WandbConfig
from babybias.configs.corpus import CorpusConfig
from babybias.configs.debias import DebiasConfig
from babybias.configs.model import ModelConfig, TokenizerConfig
from babybias.configs.train import TrainConfig
from babybias.errors import ConfigError


@dataclass
class DataCommandConfig:
    """`babybias data [list|prepare|verify] datasets=[...]`"""

    action: str = "list"
    datasets: List[str] = field(default_factory=list)
    """Data set names; empty = all registered data sets except the large ones prepared on request (babylm_*)."""
    data: DataConfig = field(default_factory=DataConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)

    def __post_init__(self) -> None:
        if self.action not in ("list", "prepare", "verify"):
            raise ConfigError(f"unknown data action {self.action!r}", fix="use `babybias data list|prepare|verify`")


def check_run_name(name: str) -> None:
    """A run name is a folder under paths.runs: not empty, not absolute, no `..` (it would leave paths.runs)."""
    parts = Path(str(name)).parts
    if not str(name).strip() or Path(str(name)).is_absolute() or ".." in parts:
        raise ConfigError(f"name={name!r} is not a run name (runs go to paths.runs/<name>/)",
                          fix="use a plain name such as name=my_run (or name=group/my_run)")


@dataclass
class RunConfig:
    """Fields every run-producing command has."""

    command: str = "run"
    name: str = "default"
    """Names the run: artifacts go to runs/<name>/<command>/ and later commands find them by this name."""
    seed: Optional[int] = 0
    """null = draw a seed and record it in the run's config.yaml."""
    dryrun: bool = False
    """Run every stage on a tiny slice with one optimizer step."""
    data: DataConfig = field(default_factory=DataConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)

    def __post_init__(self) -> None:
        check_run_name(self.name)


@dataclass
class CorpusCommandConfig(RunConfig):
    command: str = "corpus"
    corpus: CorpusConfig = field(default_factory=CorpusConfig)


@dataclass
class TokenizerCommandConfig(RunConfig):
    command: str = "tokenizer"
    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)


@dataclass
class PretrainConfig(RunConfig):
    command: str = "pretrain"
    resume: Optional[bool] = None
    """true = must resume; false = start over; null = resume when the run directory has a checkpoint."""
    force: bool = False
    """Run again (from scratch) even when the run directory is already marked DONE."""
    init_from: Optional[str] = None
    """Start from this checkpoint/run's weights (continued pretraining) instead of random init."""
    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    impl: ImplConfig = field(default_factory=ImplConfig)
    wandb: WandbConfig = field(default_factory=WandbConfig)
    debias: DebiasConfig = field(default_factory=DebiasConfig)
    """Intra-model debiasing (`debias=cda|dropout`, overlays in conf/debias/); `none` by default."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.train.seq_len > self.model.max_position_embeddings:
            raise ConfigError(f"train.seq_len={self.train.seq_len} is longer than model.max_position_embeddings="
                              f"{self.model.max_position_embeddings}",
                              fix=f"use train.seq_len<={self.model.max_position_embeddings} or raise "
                                  "model.max_position_embeddings")
        if self.impl.micro_batch_size and self.impl.micro_batch_size > self.train.batch_size:
            raise ConfigError(f"impl.micro_batch_size={self.impl.micro_batch_size} is larger than train.batch_size="
                              f"{self.train.batch_size}", fix="use impl.micro_batch_size<=train.batch_size (or null)")
        self._check_debias_overlay()

    def _check_debias_overlay(self) -> None:
        """debias=cda|dropout records debias.steps and the dropout rates: training must use exactly those."""
        method, d = self.debias.method, self.debias
        if method in ("cda", "dropout") and (self.train.epochs is not None or self.train.steps != d.steps):
            length = (f"train.epochs={self.train.epochs}" if self.train.epochs is not None
                      else f"train.steps={self.train.steps}")
            raise ConfigError(f"debias={method} trains debias.steps={d.steps} steps, but {length} was set on the command "
                              "line", fix="give the length as debias.steps=N (train.steps follows it; train.epochs=null)")
        if method == "dropout" and (self.model.hidden_dropout, self.model.attention_dropout) != (
                d.hidden_dropout, d.attention_dropout):
            raise ConfigError(f"debias=dropout trains with debias.hidden_dropout={d.hidden_dropout} and "
                              f"debias.attention_dropout={d.attention_dropout}, but model.hidden_dropout="
                              f"{self.model.hidden_dropout} and model.attention_dropout={self.model.attention_dropout}"
                              " were set on the command line",
                              fix="give the rates as debias.hidden_dropout=p debias.attention_dropout=q")


def hydra_output_dir(runs: str, name: str, command: str, dryrun: Any, force: Any, stamp: str) -> str:
    """Where Hydra writes `.hydra/` and its log: the run directory itself, unless that run is finished (DONE,
    and no `force=true`) or in use by another process. Then a folder of its own (`<command>-attempts/<stamp>`),
    so a rerun that is skipped or refused never rewrites the finished or running run's files. Where paths.runs
    cannot be written at all, a temporary folder: the command then fails with one line naming paths.runs."""
    import fcntl
    import os
    import tempfile

    from babybias.runs import DONE, LOCK_FILE

    folder = f"{command}-dryrun" if str(dryrun).lower() == "true" else command
    run = Path(runs) / name / folder
    elsewhere = f"{runs}/{name}/{folder}-attempts/{stamp}"
    existing = next((p for p in (run, *run.parents) if p.exists()), Path("."))
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        return tempfile.mkdtemp(prefix=f"babybias-{command}-hydra-")
    if (run / DONE).exists() and str(force).lower() != "true":
        return elsewhere
    if (run / LOCK_FILE).exists():
        try:
            with open(run / LOCK_FILE, "a") as fh:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)  # released when the file closes
        except OSError:
            return elsewhere
    return str(run)


def register(cs) -> None:
    from omegaconf import OmegaConf

    from babybias.configs.train import checkpoint_fractions

    OmegaConf.register_new_resolver("babybias_output_dir", hydra_output_dir, replace=True)
    OmegaConf.register_new_resolver("babybias_fractions", checkpoint_fractions, replace=True)
    cs.store(name="data_schema", node=DataCommandConfig)
    cs.store(name="corpus_schema", node=CorpusCommandConfig)
    cs.store(name="tokenizer_schema", node=TokenizerCommandConfig)
    cs.store(name="pretrain_schema", node=PretrainConfig)
