"""The pretraining loop: MLM on packed blocks, AdamW, grad accumulation, mixed precision, DDP, checkpoints.

Read `Pretrainer.fit` top to bottom: each optimizer step takes this rank's slice of the global batch,
splits it into micro-batches (`impl.micro_batch_size`), accumulates gradients of the summed loss divided
by the number of predicted tokens in the *global* batch (so splitting and DDP change nothing but float
rounding), clips, steps, logs, and saves the checkpoints of `train.checkpoint_steps`. A stop signal
(see `signals`) ends the loop after the current step with a checkpoint.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from babybias.configs.spine import PretrainConfig
from babybias.errors import BabybiasError
from babybias.model import MaskedLMObjective, build_model, check_compatible, training_flops_per_token
from babybias.runs import RunDir, child_seed, to_jsonable
from babybias.train import checkpoint as ckpt
from babybias.train import distributed, precision
from babybias.train.data import BatchPrefetcher, BlockOrder, MLMBatches, fixed_validation_batch
from babybias.train.logger import MetricsLogger, truncate_metrics
from babybias.train.optim import build_optimizer, build_scheduler
from babybias.train.signals import Preempted, StopRequest


@dataclass
class TrainData:
    train_blocks: np.ndarray
    """[n_blocks, seq_len] token ids (packed, no padding)."""
    tokenizer_dir: Path
    validation_blocks: np.ndarray | None = None
    inputs: dict = field(default_factory=dict)
    """Keys of the input artifacts (corpus, tokenizer), recorded in each checkpoint's state.json."""


@dataclass
class TrainResult:
    steps: int
    tokens_seen: int
    final_loss: float
    validation_loss: float | None
    model_dir: Path | None
    model: Any = field(default=None, repr=False)
    """The trained masked LM (for Python callers such as benchmarks and tests)."""


class Pretrainer:
    def __init__(self, cfg: PretrainConfig, run: RunDir, data: TrainData, seed: int,
                 dist: distributed.DistInfo | None = None, resume_from: Path | None = None,
                 init_from: Path | None = None):
        from transformers.utils import logging as hf_logging

        from babybias.tokenizer import load_tokenizer

        hf_logging.disable_progress_bar()  # per-save "Writing model shards" bars would drown the step bar

        self.cfg, self.run, self.data, self.seed = cfg, run, data, seed
        self.dist = dist or distributed.DistInfo()
        self.device = precision.resolve_device(cfg.impl, self.dist.local_rank)
        self.amp_dtype = precision.autocast_dtype(cfg.impl, self.device)
        distributed.init(self.dist, self.device)
        if cfg.train.batch_size % self.dist.world_size:
            raise BabybiasError(f"train.batch_size={cfg.train.batch_size} is not divisible by {self.dist.world_size} ranks",
                                fix="choose train.batch_size as a multiple of the number of processes")
        self.tokenizer = load_tokenizer(data.tokenizer_dir)
        vocab = len(self.tokenizer)
        self.model = build_model(cfg.model, vocab, seed=child_seed(seed, "model_init"),
                                 pad_token_id=self.tokenizer.pad_token_id)
        for source in (resume_from, init_from):
            if source is not None:
                check_compatible(cfg.model, vocab, source)
                ckpt.load_weights_into(self.model, source)
                break
        self.model.to(self.device)
        self.objective = MaskedLMObjective(self.model, cfg.impl.masked_lm_head_only)
        if cfg.impl.compile:
            self.objective.compile_encoder()
        self.wrapped = self._wrap_ddp(self.objective)
        self.optimizer = build_optimizer(self.model, cfg.train, self.device)
        self.scheduler = build_scheduler(self.optimizer, cfg.train)
        self.scaler = precision.grad_scaler(self.device, self.amp_dtype)
        self.step, self.tokens_seen = 0, 0
        # dropout differs per rank; everything else that is random is a function of (seed, step)
        torch.manual_seed(child_seed(seed, f"dropout/{self.dist.rank}"))
        order_dir = run.path / "data_order"
        self.order = BlockOrder(len(data.train_blocks), child_seed(seed, "data_order"), order_dir)
        if self.dist.is_main:
            self.order.write_manifest()
        special = [self.tokenizer.convert_tokens_to_ids(t) for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")]
        self.special_ids = special
        self.batches = MLMBatches(data.train_blocks, self.order, cfg.train.batch_size, child_seed(seed, "masking"),
                                  cfg.train.mlm_probability, self.tokenizer.mask_token_id, vocab, special)
        self.prefetch = None
        if cfg.impl.dataloader_workers > 0:
            self.prefetch = BatchPrefetcher(self.batches, cfg.impl.dataloader_workers, cfg.train.steps,
                                            write_order=self.dist.is_main, pin_memory=self.device.type == "cuda")
        if resume_from is not None:
            self._restore(resume_from)
        self._peak_flops = precision.peak_flops(self.device)  # None on CPU: no MFU
        self._flops_per_token = training_flops_per_token(self.model, cfg.model, cfg.train.seq_len)

    # ------------------------------------------------------------ setup helpers
    def _wrap_ddp(self, module: torch.nn.Module) -> torch.nn.Module:
        if not self.dist.enabled:
            return module
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(module, device_ids=ids)

    def _restore(self, folder: Path) -> None:
        state = ckpt.read_state(folder)
        training = ckpt.load_training_state(folder)
        self.optimizer.load_state_dict(training["optimizer"])
        self.scheduler.load_state_dict(training["scheduler"])
        self.scaler.load_state_dict(training["scaler"])
        rngs = training["rng_per_rank"]
        if len(rngs) != self.dist.world_size:
            raise BabybiasError(f"checkpoint {folder} was written by {len(rngs)} processes, this run has {self.dist.world_size}",
                                fix="resume with the same number of processes, or resume=false")
        ckpt.set_rng_state(rngs[self.dist.rank])
        self.step, self.tokens_seen = state["step"], state["tokens_seen"]
        if self.dist.is_main:
            truncate_metrics(self.run.path / "metrics.jsonl", self.step)

    # ------------------------------------------------------------ the loop
    def fit(self, on_step_end: Callable[[int], None] | None = None) -> TrainResult:
        cfg = self.cfg.train
        logger = MetricsLogger(self.run, self.cfg.wandb, to_jsonable(self.cfg), cfg.steps, self.step, self.dist.is_main)
        last_loss = float("nan")
        last_saved = -1
        try:
            with StopRequest() as stop:
                while self.step < cfg.steps:
                    record = self.train_step()
                    last_loss = record["loss"]
                    if self.step % cfg.log_every == 0 or self.step == cfg.steps:
                        logger.log(record)
                    logger.progress(record)
                    if on_step_end is not None:
                        on_step_end(self.step)
                    if cfg.is_checkpoint_step(self.step):
                        self.save_checkpoint(logger)
                        last_saved = self.step
                    if self.step < cfg.steps and distributed.any_rank(stop.requested, self.dist, self.device):
                        if last_saved != self.step:
                            self.save_checkpoint(logger)
                        logger.log({"step": self.step, "event": "preempted"})
                        raise Preempted(self.step, str(self.checkpoint_dir(self.step)))
        finally:
            logger.close()
            if self.prefetch is not None:
                self.prefetch.close()
        model_dir = self.save_final_model()
        return TrainResult(self.step, self.tokens_seen, last_loss, self._last_validation, model_dir, self.model)

    _last_validation: float | None = None

    def train_step(self) -> dict:
        """One optimizer step; returns its metrics record."""
        t0 = time.perf_counter()
        cfg = self.cfg.train
        self.wrapped.train()
        if self.prefetch is not None:
            inputs, labels = self.prefetch.get(self.step)
        else:
            inputs, labels = self.batches.global_batch(self.step, write_order=self.dist.is_main)
        n_predicted = int((labels != -100).sum())
        per_rank = cfg.batch_size // self.dist.world_size
        rank_slice = slice(self.dist.rank * per_rank, (self.dist.rank + 1) * per_rank)
        non_blocking = self.prefetch is not None and self.device.type == "cuda"  # pinned by the prefetcher
        inputs = inputs[rank_slice].to(self.device, non_blocking=non_blocking)
        labels = labels[rank_slice].to(self.device, non_blocking=non_blocking)
        micro = self.cfg.impl.micro_batch_size or per_rank
        chunks = list(zip(inputs.split(micro), labels.split(micro)))
        loss_sum = torch.zeros((), device=self.device)
        for i, (x, y) in enumerate(chunks):
            sync = i == len(chunks) - 1
            no_sync = self.wrapped.no_sync() if self.dist.enabled and not sync else contextlib.nullcontext()
            with no_sync, precision.autocast(self.device, self.amp_dtype):
                part, _ = self.wrapped(x, y)
                # DDP averages gradients over ranks, hence the world_size factor
                loss = part * (self.dist.world_size / n_predicted)
            self.scaler.scale(loss).backward()
            loss_sum += part.detach()
        self.scaler.unscale_(self.optimizer)
        clip = cfg.grad_clip if cfg.grad_clip > 0 else float("inf")
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip)
        lr = self.scheduler.get_last_lr()[0]
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        loss_value = float(distributed.all_reduce_sum(loss_sum, self.dist)) / n_predicted
        self.step += 1
        self.tokens_seen += cfg.batch_size * cfg.seq_len
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        seconds = time.perf_counter() - t0
        return self._record(loss_value, lr, float(grad_norm), seconds)

    def _record(self, loss: float, lr: float, grad_norm: float, seconds: float) -> dict:
        cfg = self.cfg.train
        tokens = cfg.batch_size * cfg.seq_len
        record = {"step": self.step, "loss": loss, "lr": lr, "grad_norm": grad_norm, "tokens_seen": self.tokens_seen,
                  "tokens_per_s": tokens / seconds, "step_time_s": seconds,
                  "epoch": self.step * cfg.batch_size / len(self.data.train_blocks)}
        if self._peak_flops:
            record["mfu"] = self._flops_per_token * tokens / seconds / (self._peak_flops * self.dist.world_size)
        return record

    # ------------------------------------------------------------ validation and saving
    @torch.no_grad()
    def validation_loss(self) -> float | None:
        blocks = self.data.validation_blocks
        n = min(self.cfg.train.validation_blocks, 0 if blocks is None else len(blocks))
        if n == 0:
            return None
        inputs, labels = fixed_validation_batch(blocks, n, child_seed(self.seed, "validation_masks"),
                                                self.cfg.train.mlm_probability, self.tokenizer.mask_token_id,
                                                len(self.tokenizer), self.special_ids)
        self.objective.eval()
        total, count = 0.0, 0
        micro = self.cfg.impl.micro_batch_size or self.cfg.train.batch_size
        for x, y in zip(inputs.split(micro), labels.split(micro)):
            with precision.autocast(self.device, self.amp_dtype):
                part, k = self.objective(x.to(self.device), y.to(self.device))
            total, count = total + float(part), count + int(k)
        self.objective.train()
        return total / max(count, 1)

    def checkpoint_dir(self, step: int) -> Path:
        return self.run.path / "checkpoints" / ckpt.checkpoint_name(step)

    def save_checkpoint(self, logger: MetricsLogger) -> None:
        """All ranks contribute their RNG state; rank 0 writes the folder; everyone waits for it."""
        rngs = [ckpt.rng_state()]
        if self.dist.enabled:
            rngs = [None] * self.dist.world_size
            torch.distributed.all_gather_object(rngs, ckpt.rng_state())
        if self.dist.is_main:
            val = self._last_validation = self.validation_loss()
            cfg = self.cfg.train
            state = {"step": self.step, "tokens_seen": self.tokens_seen, "total_steps": cfg.steps,
                     "fraction": self.step / cfg.steps, "seed": self.seed, "world_size": self.dist.world_size,
                     "validation_loss": val, **self.data.inputs}
            training = {"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                        "scaler": self.scaler.state_dict(), "rng_per_rank": rngs}
            path = ckpt.save_checkpoint(self.checkpoint_dir(self.step), self.model, self.data.tokenizer_dir, training, state)
            logger.log({"step": self.step, "event": "checkpoint", "path": str(path), "validation_loss": val})
        distributed.barrier(self.dist)

    def save_final_model(self) -> Path | None:
        out = self.run.path / "model"
        if self.dist.is_main:
            from babybias.runs import atomic_path

            with atomic_path(out) as tmp:
                tmp.mkdir(parents=True)
                ckpt.save_hf_folder(tmp, self.model, self.data.tokenizer_dir)
        distributed.barrier(self.dist)
        return out
