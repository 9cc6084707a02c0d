"""The small fine-tuning loop of the seed paper's intra-model recipes: `debias=cds` and `debias=orthogonal_ewc`.

`babybias pretrain debias=<cds|orthogonal_ewc> init_from=<run>` lands here instead of the pretrainer. Why a
second loop: both recipes (Bartl et al. 2020's CDS script and the seed's `ase/` debiasing loss) fine-tune on
*one sentence per example* (padded, with an attention mask) for a number of *epochs*, and the debiasing loss
adds terms on hidden states and on the distance to the original weights; the pretrainer packs a corpus into
fixed blocks, counts steps and has one MLM objective. What is shared with it: run directories, metrics.jsonl /
wandb logging, checkpoints (`babybias.train.checkpoint`), preemption (SIGTERM/SIGUSR1 save a checkpoint and
exit 75; rerunning the command resumes exactly).

The loop (read `finetune` top to bottom): each epoch visits the examples in a permutation drawn from
(seed, epoch); a batch is padded to its longest example; the method's objective returns the loss; AdamW
(betas 0.9/0.999, eps `debias.adam_eps`, no weight decay, as transformers' AdamW the seed used), gradient
norm clipped to `debias.grad_clip`, learning rate decayed linearly from `debias.lr` to 0 over all steps with
no warmup. Each method builds its examples and objective from the loaded model (`cds.build`,
`orthogonal.build`); the model is any transformers masked LM behind `babybias.scoring.HFMaskedLM`.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

import numpy as np
import torch

from babybias.errors import BabybiasError, ConfigError
from babybias.runs import RunDir, atomic_path, child_seed, run_dir_for, to_jsonable

IGNORE_INDEX = -100


@dataclass
class Examples:
    """Tokenized training examples: `input_ids[i]` (with special tokens) and per-token integer tracks aligned with
    it (`tracks["labels"][i]`, ...); `pad_values[track]` pads a track (input_ids pad with the tokenizer's [PAD])."""

    input_ids: list[list[int]]
    tracks: dict[str, list[list[int]]] = field(default_factory=dict)
    pad_values: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.input_ids)

    def batch(self, indices, pad_id: int) -> dict[str, torch.Tensor]:
        """The examples `indices`, right-padded to the longest: input_ids, attention_mask and every track."""
        width = max(len(self.input_ids[i]) for i in indices)
        out = {"input_ids": torch.full((len(indices), width), pad_id, dtype=torch.long),
               "attention_mask": torch.zeros((len(indices), width), dtype=torch.long)}
        for name in self.tracks:
            out[name] = torch.full((len(indices), width), self.pad_values.get(name, 0), dtype=torch.long)
        for row, i in enumerate(indices):
            n = len(self.input_ids[i])
            out["input_ids"][row, :n] = torch.tensor(self.input_ids[i])
            out["attention_mask"][row, :n] = 1
            for name, values in self.tracks.items():
                out[name][row, :n] = torch.tensor(values[i])
        return out


class Objective(Protocol):
    def __call__(self, lm, batch: dict[str, torch.Tensor], step: int) -> tuple[torch.Tensor, dict[str, float]]:
        """(loss to minimise, scalars to log) for one batch on the device; `lm` is the `HFMaskedLM`."""


@dataclass
class Recipe:
    """What a method hands the loop: its examples, its objective and what to record about its data."""

    examples: Examples
    objective: Objective
    inputs: dict[str, Any] = field(default_factory=dict)


def linear_decay(step: int, total: int) -> float:
    """Learning-rate factor of step `step` (0-based): 1 at the first step, linearly to 0 after the last (no warmup),
    as transformers' `get_linear_schedule_with_warmup(num_warmup_steps=0)`."""
    return max(0.0, (total - step) / max(1, total))


def epoch_order(n_examples: int, seed: int, epoch: int) -> np.ndarray:
    """The visiting order of epoch `epoch`: a permutation that depends only on (seed, epoch)."""
    return np.random.default_rng([seed, epoch]).permutation(n_examples)


def builders() -> dict[str, Callable]:
    from babybias.debias import cds, orthogonal

    return {"cds": cds.build, "orthogonal_ewc": orthogonal.build}


def run(cfg, on_step_end: Callable[[int], None] | None = None) -> dict | None:
    """`babybias pretrain debias=<cds|orthogonal_ewc> init_from=<run>`: fine-tune into runs/<name>/pretrain/.

    A finished run (DONE) is skipped unless `force=true`; an interrupted one resumes from its checkpoint
    (`resume=false` starts over). `dryrun=true`: one epoch over one batch, into runs/<name>/pretrain-dryrun/.
    """
    import dataclasses
    import os
    import shutil

    from babybias.commands.pretrain import _resolve_init_from
    from babybias.runs import resolve_seed
    from babybias.train import precision

    method = cfg.debias.method
    if not cfg.init_from:
        raise ConfigError(f"debias={method} fine-tunes a trained model",
                          fix=f"pass init_from=<run name, run dir or checkpoint> (babybias pretrain debias={method} ...)")
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise ConfigError(f"debias={method} fine-tunes in one process (minutes on one GPU)",
                          fix="run it without torchrun (plain `babybias pretrain ...`)")
    if cfg.impl.num_threads:
        torch.set_num_threads(cfg.impl.num_threads)
    requested_seed = cfg.seed
    cfg.seed = resolve_seed(cfg.seed)
    if cfg.dryrun:
        cfg.debias = dataclasses.replace(cfg.debias, epochs=1, max_examples=cfg.debias.batch_size,
                                         fisher_sentences=min(cfg.debias.fisher_sentences or 4, 4))
    run_dir = run_dir_for(cfg.paths.runs, cfg.name, "pretrain-dryrun" if cfg.dryrun else "pretrain")
    if run_dir.done and not cfg.force:  # refused when init_from was retrained since; else skipped, naming changes
        from babybias.commands.pretrain import _init_weights_sha256
        from babybias.train.resume import check_done_parent, report_done_rerun

        check_done_parent(run_dir, cfg.init_from, _init_weights_sha256(cfg, missing_ok=True))
        report_done_rerun(run_dir, cfg, requested_seed)
        return None
    fresh = cfg.resume is False or (cfg.force and run_dir.done)
    if cfg.resume is True and not fresh:
        from babybias.train.checkpoint import latest_valid_checkpoint

        if latest_valid_checkpoint(run_dir.path / "checkpoints") is None:
            raise BabybiasError(f"resume=true but {run_dir.path} has no checkpoint",
                                fix="drop resume=true (or use resume=false) to start a new run")
    device = precision.resolve_device(cfg.impl)
    source = _resolve_init_from(cfg.init_from, cfg.paths.runs)
    with run_dir.create().lock("pretrain"):
        if fresh:
            shutil.rmtree(run_dir.path / "checkpoints", ignore_errors=True)
        else:
            cfg.seed = check_resumable(run_dir, source, requested_seed, cfg.seed)
        return finetune(cfg, run_dir, source, device, on_step_end)


def check_resumable(run_dir: RunDir, source: Path, requested_seed: int | None, seed: int) -> int:
    """Before anything is loaded or written: a checkpoint to resume must have been trained from the same weights
    (`init_from`, compared by the sha256 of its weights, however it is spelled) with the same seed (data order and
    masks); returns the seed to continue with (the checkpoint's when `seed=null`)."""
    from babybias.results import weights_sha256
    from babybias.train import checkpoint as ckpt

    folder = ckpt.latest_valid_checkpoint(run_dir.path / "checkpoints")
    if folder is None:
        return seed
    saved = ckpt.read_state(folder)
    recorded = saved.get("init_weights_sha256")
    if recorded is not None and recorded != weights_sha256(source):
        raise BabybiasError(f"checkpoint {folder} was fine-tuned from other weights than init_from={source} "
                            f"(sha256 {recorded[:12]}... vs {str(weights_sha256(source))[:12]}...)",
                            fix="resume=false starts the run over from this init_from (or choose another name=)")
    if requested_seed is not None and saved.get("seed") is not None and requested_seed != saved["seed"]:
        raise BabybiasError(f"seed={requested_seed} but checkpoint {folder} was fine-tuned with seed={saved['seed']}",
                            fix=f"use seed={saved['seed']} (or seed=null) to resume, or resume=false to start over")
    return saved.get("seed", seed) if requested_seed is None else seed


def finetune(cfg, run_dir: RunDir, source: Path, device: torch.device,
             on_step_end: Callable[[int], None] | None = None) -> dict:
    """Fine-tune the model in `source` with the method of `cfg.debias`; writes model/ and DONE in `run_dir`."""
    from babybias.train.logger import MetricsLogger
    from babybias.train.resume import config_changes
    from babybias.train.signals import PREEMPTED_EXIT_CODE, StopRequest

    tuner = FineTuner(cfg, source, device)
    step = tuner.resume_from(run_dir)
    changes = config_changes(run_dir, cfg) if step else {}
    if changes:
        listed = "; ".join(f"{k}: {old!r} -> {new!r}" for k, (old, new) in changes.items())
        print(f"warning: resuming {run_dir.path} with changed settings ({listed}); the result will differ from "
              "an uninterrupted run of either config (recorded in meta.json)")
    run_dir.write_config(cfg)
    run_dir.write_meta(inputs={"init_from": str(source), "init_weights_sha256": tuner.source_sha256,
                               **tuner.recipe.inputs}, device=str(device), precision=tuner.precision,
                       resumed_from=str(run_dir.path / "checkpoints") if step else "",
                       config_changes_on_resume=changes)
    logger = MetricsLogger(run_dir, cfg.wandb, to_jsonable(cfg), tuner.total, step)
    last_loss = None
    try:
        with StopRequest() as stop:
            while step < tuner.total:
                record = tuner.train_step(step)
                step, last_loss = step + 1, record["loss"]
                tuner.check_finite(record, run_dir, logger)
                logger.log(record)
                logger.progress(record)
                if on_step_end is not None:
                    on_step_end(step)
                if step < tuner.total and stop.requested:
                    folder = tuner.save_checkpoint(run_dir, step)
                    logger.log({"step": step, "event": "preempted", "path": str(folder)})
                    print(f"stopped by signal at step {step}; checkpoint {folder}; rerun the same command to resume")
                    raise SystemExit(PREEMPTED_EXIT_CODE)
    finally:
        logger.close()
    tuner.save_model(run_dir / "model")
    summary = {"steps": tuner.total, "examples": len(tuner.recipe.examples), "epochs": cfg.debias.epochs,
               "final_loss": last_loss}
    run_dir.mark_done(summary)
    print(f"run dir: {run_dir.path.resolve()}  debias={cfg.debias.method}: {tuner.total} steps")
    return {**summary, "model_dir": str(run_dir / "model"), "model": tuner.lm.model}


class FineTuner:
    """The model, the method's recipe, AdamW, the linear schedule, and one optimizer step of the loop."""

    def __init__(self, cfg, source: Path, device: torch.device):
        from babybias.results import weights_sha256
        from babybias.scoring.model import load_masked_lm
        from babybias.train import precision

        self.cfg, self.settings, self.source, self.device = cfg, cfg.debias, source, device
        self.source_sha256 = weights_sha256(source)
        self.amp = precision.autocast_dtype(cfg.impl, device)
        # the model's forward runs under impl.precision's autocast (HFMaskedLM applies it); losses are fp32
        self.precision = {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.amp]
        self.lm, self.tokenizer = load_masked_lm(source, str(device), self.precision)
        self.recipe = builders()[self.settings.method](cfg, self.lm, self.tokenizer, source)
        if len(self.recipe.examples) == 0:
            raise ConfigError(f"debias={self.settings.method}: no training examples",
                              fix="check the data set and debias.max_examples")
        self.per_epoch = math.ceil(len(self.recipe.examples) / self.settings.batch_size)
        self.total = self.per_epoch * self.settings.epochs
        model = self.lm.model
        self.optimizer = torch.optim.AdamW(model.parameters(), lr=self.settings.lr, betas=(0.9, 0.999),
                                           eps=self.settings.adam_eps, weight_decay=0.0)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda s: linear_decay(s, self.total))
        self.scaler = precision.grad_scaler(device, self.amp)
        self.data_seed = child_seed(cfg.seed, "data_order")
        torch.manual_seed(child_seed(cfg.seed, "dropout"))
        model.train()

    def resume_from(self, run_dir: RunDir) -> int:
        """Restore the latest checkpoint of `run_dir` (weights, optimizer, schedule, RNG); returns its step (0: none)."""
        from babybias.train import checkpoint as ckpt
        from babybias.train.logger import truncate_metrics

        folder = ckpt.latest_valid_checkpoint(run_dir.path / "checkpoints")
        if folder is None:
            run_dir.clear_done()
            (run_dir.path / "metrics.jsonl").unlink(missing_ok=True)
            return 0
        ckpt.load_weights_into(self.lm.model, folder)
        training = ckpt.load_training_state(folder)
        self.optimizer.load_state_dict(training["optimizer"])
        self.scheduler.load_state_dict(training["scheduler"])
        self.scaler.load_state_dict(training["scaler"])
        ckpt.set_rng_state(training["rng_per_rank"][0])
        step = ckpt.read_state(folder)["step"]
        truncate_metrics(run_dir.path / "metrics.jsonl", step)
        print(f"resuming {run_dir.path} from step {step}")
        return step

    def train_step(self, step: int) -> dict:
        """Optimizer step `step` (0-based): its batch of epoch step // per_epoch, loss, clip, AdamW, schedule."""
        t0 = time.perf_counter()
        size = self.settings.batch_size
        epoch, k = divmod(step, self.per_epoch)
        indices = epoch_order(len(self.recipe.examples), self.data_seed, epoch)[k * size:(k + 1) * size]
        batch = {key: value.to(self.device) for key, value in
                 self.recipe.examples.batch(indices.tolist(), self.tokenizer.pad_token_id).items()}
        loss, parts = self.recipe.objective(self.lm, batch, step)
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.optimizer)
        grad_norm = torch.nn.utils.clip_grad_norm_(self.lm.model.parameters(), self.settings.grad_clip or float("inf"))
        lr = self.scheduler.get_last_lr()[0]
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        seconds = time.perf_counter() - t0
        return {"step": step + 1, "epoch": epoch + (k + 1) / self.per_epoch, "loss": loss.item(), "lr": lr,
                "grad_norm": float(grad_norm), "tokens_per_s": int(batch["attention_mask"].sum()) / seconds, **parts}

    def check_finite(self, record: dict, run_dir: RunDir, logger) -> None:
        """Stop (NonFiniteLoss, no model/ and no DONE) when step `record["step"]` had a NaN/inf loss, or a NaN/inf
        gradient norm that no fp16 loss scaler skips (the pretrainer's rule)."""
        from babybias.train import checkpoint as ckpt
        from babybias.train.loop import NonFiniteLoss

        bad = not math.isfinite(record["loss"]) or (
            not self.scaler.is_enabled() and not math.isfinite(record["grad_norm"]))
        if not bad:
            return
        last_good = ckpt.latest_checkpoint(run_dir.path / "checkpoints")
        logger.log({"step": record["step"], "event": "non_finite", "first_bad_step": record["step"],
                    "last_good_checkpoint": str(last_good) if last_good else None})
        raise NonFiniteLoss(record["step"], last_good, fix=f"lower debias.lr (now {self.settings.lr}) or use "
                            "impl.precision=fp32; a rerun resumes from the last good checkpoint, resume=false starts over")

    def save_checkpoint(self, run_dir: RunDir, step: int) -> Path:
        """checkpoints/step-N: HF files, optimizer, schedule and RNG states, state.json (the pretrainer's layout)."""
        from babybias.train import checkpoint as ckpt

        training = {"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                    "scaler": self.scaler.state_dict(), "rng_per_rank": [ckpt.rng_state()]}
        state = {**_state(step, self.total, self.cfg.seed), "init_weights_sha256": self.source_sha256}
        return ckpt.save_checkpoint(run_dir.path / "checkpoints" / ckpt.checkpoint_name(step), self.lm.model,
                                    self.source, training, state)

    def save_model(self, folder: Path) -> None:
        """The fine-tuned model as the run's model/ (HF files + the source's tokenizer + state.json + checksums.json),
        atomically."""
        from babybias.integrity import write_folder_sums
        from babybias.train import checkpoint as ckpt

        self.lm.model.eval()
        with atomic_path(folder) as tmp:
            tmp.mkdir(parents=True)
            ckpt.save_hf_folder(tmp, self.lm.model, self.source)
            state = _state(self.total, self.total, self.cfg.seed)
            (tmp / ckpt.STATE_FILE).write_text(json.dumps(state, indent=2, sort_keys=True) + "\n")
            write_folder_sums(tmp)  # checksums.json last: evaluate and init_from verify the files against it


def _state(step: int, total: int, seed: int) -> dict:
    return {"step": step, "total_steps": total, "fraction": step / total if total else 1.0, "seed": seed}


# ---------------------------------------------------------------- pieces the methods share
def mlm_loss(lm, hidden: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy (fp32) of the MLM head over the labelled positions (labels != -100), as the HF loss."""
    selected = labels != IGNORE_INDEX
    logits = lm.lm_head(hidden[selected])
    return torch.nn.functional.cross_entropy(logits.float(), labels[selected])


def sequence_limit(lm, tokenizer) -> int:
    """The longest input the model takes: min(max_position_embeddings, tokenizer.model_max_length)."""
    limits = [getattr(tokenizer, "model_max_length", None) or 10**9]
    positions = getattr(lm.model.config, "max_position_embeddings", None)
    if positions:
        limits.append(int(positions))
    return int(min(limits))


def next_power_of_two(n: int) -> int:
    """The smallest power of two >= n (the seed's `2 ** ceil(log2(n))`)."""
    return 1 << max(0, math.ceil(math.log2(max(1, n))))
