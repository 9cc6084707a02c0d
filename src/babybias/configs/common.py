"""Config pieces shared by every command: data root, run paths, implementation (speed-only) settings, wandb.

Everything here is a typed dataclass registered in Hydra's ConfigStore (see `babybias.configs.register`).
Settings that change only speed live in `ImplConfig`; settings that change results live elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional


@dataclass
class DataConfig:
    """Where data sets live (`data.root`) and where `babybias data prepare` copies them from (`data.mirror`)."""

    root: str = "${oc.env:BABYBIAS_DATA_ROOT,data}"
    """Data root; relative paths are relative to the working directory."""
    mirror: Optional[str] = "${oc.env:BABYBIAS_DATA_MIRROR,null}"
    """Folder holding an offline copy of the data sets; null = download from each data set's public address."""
    verify: bool = True
    """Check sha256 checksums when loading."""


@dataclass
class PathsConfig:
    runs: str = "${oc.env:BABYBIAS_RUNS,runs}"
    """Root of run directories: runs/<name>/<command>/..."""
    cache: str = "${data.root}/cache"
    """Built artifacts (corpora, tokenizers, features) cached under a hash of their resolved config."""


@dataclass
class ImplConfig:
    """Speed-only settings: none of these may change results beyond floating-point noise."""

    device: str = "auto"
    """auto | cpu | cuda | cuda:N"""
    precision: str = "auto"
    """Training autocast: auto | fp32 | bf16 | fp16 (fp16 uses a GradScaler). auto = bf16 on a GPU with bf16, else
    fp16; bf16 on a CPU with native bf16 (avx512_bf16/amx_bf16), else fp32. Scoring is fp32 whatever this says."""
    compile: bool = False
    """torch.compile the model (first step is slow: 50-60 s on CPU)."""
    micro_batch_size: Optional[int] = None
    """Split each optimizer batch into micro-batches of this size (gradient accumulation); null = no split."""
    num_threads: Optional[int] = None
    """torch intra-op (OpenMP/MKL) threads; null = this process's share of the CPUs it may use (affinity, Slurm's
    cpus_per_task, divided among the jobs of a local sweep and the ranks on this machine)."""
    dataloader_workers: int = 0
    """Background threads preparing the next batches (cut, mask, pin for the GPU) while the model trains; 0 = in
    the training loop. Batches depend only on (seed, step), so this changes no result; helps on GPUs only."""
    eval_batch_size: int = 128
    """Masked variants scored per forward pass in evaluation."""
    masked_lm_head_only: bool = True
    """Apply the MLM head only at masked positions (same result, less compute)."""

    def __post_init__(self) -> None:
        import re

        from babybias.errors import ConfigError

        if self.precision not in ("auto", "fp32", "bf16", "fp16"):
            raise ConfigError(f"impl.precision={self.precision!r} is not known",
                              fix="use impl.precision=auto|fp32|bf16|fp16 (or impl=auto)")
        if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", str(self.device)):
            raise ConfigError(f"impl.device={self.device!r} is not known", fix="use impl.device=auto|cpu|cuda|cuda:N")
        for key in ("micro_batch_size", "num_threads"):
            if getattr(self, key) is not None and getattr(self, key) < 1:
                raise ConfigError(f"impl.{key}={getattr(self, key)} must be >= 1 or null", fix=f"e.g. impl.{key}=null")
        if self.dataloader_workers < 0 or self.eval_batch_size < 1:
            raise ConfigError("impl.dataloader_workers must be >= 0 and impl.eval_batch_size >= 1",
                              fix="e.g. impl.dataloader_workers=0 impl.eval_batch_size=128")


@dataclass
class WandbConfig:
    mode: str = "${oc.env:WANDB_MODE,offline}"
    """offline | online | disabled. `wandb=off` selects disabled. WANDB_MODE in the environment wins."""
    project: str = "babybias"
    entity: Optional[str] = None
    tags: list = field(default_factory=list)
