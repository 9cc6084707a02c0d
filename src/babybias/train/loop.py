"""The pretraining loop: MLM on packed blocks, AdamW, grad accumulation, mixed precision, DDP, checkpoints.

Read `Pretrainer.fit` top to bottom: each optimizer step takes this rank's slice of the global batch,
splits it into micro-batches (`impl.micro_batch_size`), accumulates gradients of the summed loss divided
by the number of predicted tokens in the *global* batch (so splitting and DDP change nothing but float
rounding), clips, steps, logs, and saves the checkpoints of `train.checkpoint_steps`. A stop signal
(see `signals`) ends the loop after the current step with a checkpoint.

The host waits for the device only at log steps (`train.log_every`) and checkpoints: the loss, the gradient norm
and a device-side "first non-finite step" flag stay on the device until then, masked positions are computed on
the host where the batch is built, and there is no per-step synchronize. At each of those points a non-finite
loss stops the run (`NonFiniteLoss`) before anything is logged or saved, so no checkpoint ever holds NaN weights.
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
from babybias.model import MaskedLMObjective, build_model, check_compatible, masked_positions, training_flops_per_token
from babybias.runs import RunDir, child_seed, read_jsonl, to_jsonable
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


class NonFiniteLoss(BabybiasError):
    """The loss (or the weights) became NaN/inf: the run stops without a checkpoint of it and without DONE."""

    def __init__(self, step: int, last_good: Path | None, what: str = "the loss became non-finite (NaN or inf)",
                 fix: str = "lower train.lr or raise train.warmup_steps (with bf16/fp16 try impl.precision=fp32); "
                            "a rerun resumes from the last good checkpoint, resume=false starts over"):
        self.step, self.last_good = step, last_good
        where = f"last good checkpoint: {last_good}" if last_good else "no checkpoint was written before it"
        super().__init__(f"{what} at step {step}; stopped without writing a checkpoint or DONE ({where})", fix=fix)


@dataclass
class StepOutput:
    """One optimizer step's results, left on the device until a log step or a checkpoint reads them back."""

    step: int
    loss_sum: torch.Tensor
    """Summed MLM loss over this rank's micro-batches (device tensor)."""
    n_predicted: int
    """Predicted tokens in the global batch (counted on the host)."""
    lr: float
    grad_norm: torch.Tensor
    _loss: float | None = None

    def loss(self, dist: distributed.DistInfo) -> float:
        """The global batch's mean loss (a collective under DDP: every rank calls it at the same steps)."""
        if self._loss is None:
            self._loss = float(distributed.all_reduce_sum(self.loss_sum, dist)) / self.n_predicted
        return self._loss


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
        self._first_bad = torch.zeros((), dtype=torch.int64, device=self.device)
        """The first step whose loss (or gradient norm) was not finite; 0 = none. Updated on the device."""
        self._last_loss, self._last_validation = float("nan"), None
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
        metrics = self.run.path / "metrics.jsonl"
        if self.dist.is_main:
            truncate_metrics(metrics, self.step)
        # a run resumed from its last checkpoint trains no further step: its result comes from what was saved
        self._last_validation = state.get("validation_loss")
        logged = [r["loss"] for r in read_jsonl(metrics, warn=False) if r.get("step") == self.step and "loss" in r]
        self._last_loss = state.get("loss", logged[-1] if logged else float("nan"))

    # ------------------------------------------------------------ the loop
    def fit(self, on_step_end: Callable[[int], None] | None = None) -> TrainResult:
        cfg = self.cfg.train
        logger = MetricsLogger(self.run, self.cfg.wandb, to_jsonable(self.cfg), cfg.steps, self.step, self.dist.is_main)
        last_saved = -1
        self._clock = (time.perf_counter(), self.step)
        try:
            with StopRequest() as stop:
                while self.step < cfg.steps:
                    out = self.train_step()
                    record = None
                    if self.step % cfg.log_every == 0 or self.step == cfg.steps:
                        record = self.read_back(out, logger)
                        logger.log(record)
                    logger.progress(record)
                    if on_step_end is not None:
                        on_step_end(self.step)
                    if cfg.is_checkpoint_step(self.step):
                        self.save_checkpoint(logger, out)
                        last_saved = self.step
                    if self.step < cfg.steps and self._stop_requested(stop, record is not None):
                        if last_saved != self.step:
                            self.save_checkpoint(logger, out)
                        logger.log({"step": self.step, "event": "preempted"})
                        raise Preempted(self.step, str(self.checkpoint_dir(self.step)))
        finally:
            logger.close()
            if self.prefetch is not None:
                self.prefetch.close()
        model_dir = self.save_final_model()
        return TrainResult(self.step, self.tokens_seen, self._last_loss, self._last_validation, model_dir, self.model)

    def _stop_requested(self, stop: StopRequest, synced: bool) -> bool:
        """A stop signal on any rank; under DDP asked at log steps and every 10th step only (a collective)."""
        if not self.dist.enabled:
            return stop.requested
        return (synced or self.step % 10 == 0) and distributed.any_rank(stop.requested, self.dist, self.device)

    def train_step(self) -> StepOutput:
        """One optimizer step; its loss and gradient norm stay on the device (see `read_back`)."""
        cfg = self.cfg.train
        self.wrapped.train()
        if self.prefetch is not None:
            inputs, labels = self.prefetch.get(self.step)
        else:
            inputs, labels = self.batches.global_batch(self.step, write_order=self.dist.is_main)
        n_predicted = int((labels != -100).sum())  # host tensors: no device sync
        per_rank = cfg.batch_size // self.dist.world_size
        rank_slice = slice(self.dist.rank * per_rank, (self.dist.rank + 1) * per_rank)
        micro = self.cfg.impl.micro_batch_size or per_rank
        chunks = list(zip(inputs[rank_slice].split(micro), labels[rank_slice].split(micro)))
        loss_sum = torch.zeros((), device=self.device)
        for i, (x, y) in enumerate(chunks):
            x, y, positions = self._to_device(x, y)
            sync = i == len(chunks) - 1
            no_sync = self.wrapped.no_sync() if self.dist.enabled and not sync else contextlib.nullcontext()
            with no_sync, precision.autocast(self.device, self.amp_dtype):
                part, _ = self.wrapped(x, y, positions)
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
        self.step += 1
        self.tokens_seen += cfg.batch_size * cfg.seq_len
        bad = ~torch.isfinite(loss_sum)
        if not self.scaler.is_enabled():  # fp16's scaler skips steps with inf gradients by design
            bad = bad | ~torch.isfinite(grad_norm)
        self._first_bad = torch.where((self._first_bad == 0) & bad, self.step, self._first_bad)
        return StepOutput(self.step, loss_sum, n_predicted, lr, grad_norm.detach())

    def _to_device(self, x: torch.Tensor, y: torch.Tensor):
        """(inputs, labels, masked positions or None) on the device; on a GPU copied from pinned memory without
        blocking the host (the positions are found on the host, so the head's gather needs no sync)."""
        positions = masked_positions(y) if self.objective.masked_only else None
        if self.device.type != "cuda":
            return x, y, positions
        pinned = [t if t is None or t.is_pinned() else t.pin_memory() for t in (x, y, positions)]
        return tuple(t if t is None else t.to(self.device, non_blocking=True) for t in pinned)

    def read_back(self, out: StepOutput, logger: MetricsLogger) -> dict:
        """Wait for the device: stop on a non-finite loss, else the metrics record of step `out.step` (times
        are means over the steps since the previous read-back)."""
        self.check_finite(logger)
        loss = out.loss(self.dist)
        now = time.perf_counter()
        seconds = (now - self._clock[0]) / max(1, self.step - self._clock[1])
        self._clock = (now, self.step)
        self._last_loss = loss
        return self._record(loss, out.lr, float(out.grad_norm), seconds)

    def check_finite(self, logger: MetricsLogger, weights: bool = False) -> None:
        """Raise NonFiniteLoss if a step so far had a non-finite loss (or, with `weights`, a weight is NaN/inf)."""
        first_bad = self._first_bad.clone()
        if self.dist.enabled:  # the earliest flagged step of any rank (0 = none -> a large number)
            first_bad = distributed.all_reduce_min(torch.where(first_bad == 0, 2**62, first_bad), self.dist)
            first_bad = torch.where(first_bad == 2**62, 0, first_bad)
        step, what = int(first_bad), "the loss became non-finite (NaN or inf)"
        if not step and weights and not bool(torch.stack([torch.isfinite(p).all() for p in self.model.parameters()]).all()):
            step, what = self.step, "the weights became non-finite (NaN or inf)"
        if step:
            last_good = ckpt.latest_checkpoint(self.run.path / "checkpoints")
            if self.dist.is_main:
                logger.log({"step": self.step, "event": "non_finite", "first_bad_step": step,
                            "last_good_checkpoint": str(last_good) if last_good else None})
            raise NonFiniteLoss(step, last_good, what)

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

    def save_checkpoint(self, logger: MetricsLogger, out: StepOutput | None = None) -> None:
        """All ranks contribute their RNG state; rank 0 writes the folder; everyone waits for it. Never of a
        model whose loss or weights went non-finite."""
        self.check_finite(logger, weights=True)
        if out is not None:
            self._last_loss = out.loss(self.dist)
        rngs = [ckpt.rng_state()]
        if self.dist.enabled:
            rngs = [None] * self.dist.world_size
            torch.distributed.all_gather_object(rngs, ckpt.rng_state())
        if self.dist.is_main:
            val = self._last_validation = self.validation_loss()
            cfg = self.cfg.train
            state = {"step": self.step, "tokens_seen": self.tokens_seen, "total_steps": cfg.steps,
                     "fraction": self.step / cfg.steps, "seed": self.seed, "world_size": self.dist.world_size,
                     "validation_loss": val, "loss": self._last_loss, **self.data.inputs}
            training = {"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                        "scaler": self.scaler.state_dict(), "rng_per_rank": rngs}
            path = ckpt.save_checkpoint(self.checkpoint_dir(self.step), self.model, self.data.tokenizer_dir, training, state)
            logger.log({"step": self.step, "event": "checkpoint", "path": str(path), "validation_loss": val})
        distributed.barrier(self.dist)

    def save_final_model(self) -> Path | None:
        out = self.run.path / "model"
        if self.dist.is_main:
            from babybias.integrity import write_folder_sums
            from babybias.runs import atomic_path

            with atomic_path(out) as tmp:
                tmp.mkdir(parents=True)
                ckpt.save_hf_folder(tmp, self.model, self.data.tokenizer_dir)
                write_folder_sums(tmp)
        distributed.barrier(self.dist)
        return out
