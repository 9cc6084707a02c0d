"""`babybias pretrain [corpus=...] [model=...] [train.*=...] [impl=...] name=<run>`

Builds (or finds cached) the corpus and its tokenizer, packs the corpus into blocks, and pretrains a masked
LM into `runs/<name>/pretrain/`:

    config.yaml  meta.json  corpus.json  tokenizer/  data_order/  metrics.jsonl
    checkpoints/step-0000100/ ...   model/   DONE (last)

A run directory with a checkpoint is resumed automatically (`resume=true` insists, `resume=false` starts
over); one marked DONE is skipped unless `force=true`. Under torchrun every rank runs this function; only
rank 0 writes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any, Callable

from babybias.configs.spine import PretrainConfig
from babybias.errors import BabybiasError
from babybias.runs import RunDir, RunLocked, atomic_write_json, resolve_seed, run_dir_for
from babybias.train.resume import check_done_parent, check_same_inputs, config_changes, remove_debris, report_done_rerun


def run(cfg: PretrainConfig, on_step_end: Callable[[int], None] | None = None):
    """Run the pretraining command; returns the TrainResult (None when skipped). `on_step_end` is a test hook.

    Rank 0 holds the run directory's lock (`RunDir.lock`) for the whole command: a second `babybias pretrain`
    of the same run fails at once, naming the holder. A run marked DONE is left untouched unless `force=true`.
    """
    from babybias.train import distributed, precision

    if cfg.debias.is_finetuned:  # the seed's fine-tuning recipes (cds, orthogonal_ewc) have their own small loop
        from babybias.debias import finetune

        return finetune.run(cfg, on_step_end)
    dist = distributed.from_env()
    runtime = precision.start_training(cfg.impl, dist.local_rank, announce=dist.is_main)  # threads first
    device = runtime.device
    distributed.init(dist, device)
    requested_seed = cfg.seed
    cfg.seed = _shared_seed(cfg.seed, dist)
    if cfg.dryrun:
        cfg = dryrun_config(cfg, dist.world_size)
    run_dir = run_dir_for(cfg.paths.runs, cfg.name, "pretrain-dryrun" if cfg.dryrun else "pretrain")
    if run_dir.done and not cfg.force:  # checked before locking: a finished run's files are not touched at all
        if cfg.init_from:
            check_done_parent(run_dir, cfg.init_from, _init_weights_sha256(cfg, missing_ok=True))
        if dist.is_main:
            report_done_rerun(run_dir, cfg, requested_seed)
        return None
    with contextlib.ExitStack() as stack:
        failure = None
        if dist.is_main:
            try:
                stack.enter_context(run_dir.lock("babybias pretrain"))
            except RunLocked as err:
                failure = err
        if distributed.any_rank(failure is not None, dist, device):
            raise failure or BabybiasError(f"{run_dir.path} is in use (rank 0 could not lock it)",
                                           fix="wait for the other run to finish, or choose another name=")
        if run_dir.done and not cfg.force:  # finished while we waited for the lock
            return None
        return _run_locked(cfg, run_dir, requested_seed, dist, runtime, on_step_end)


def _run_locked(cfg: PretrainConfig, run_dir: RunDir, requested_seed: int | None, dist, runtime,
                on_step_end: Callable[[int], None] | None):
    from babybias.train import distributed
    from babybias.train.eta import ExpectedTime, chain
    from babybias.train.loop import Pretrainer
    from babybias.train.signals import PREEMPTED_EXIT_CODE, Preempted

    if dist.is_main:
        remove_debris(run_dir)
    resume_from = _resume_point(cfg, run_dir, say=print if dist.is_main else _quiet)
    if resume_from is not None:
        cfg.seed = _check_resumable(cfg, requested_seed, resume_from)
    data, corpus = prepare_data(cfg, dist)  # cached artifacts only: nothing is written into the run directory yet
    cfg.train.steps = cfg.train.steps_for(len(data.train_blocks))  # train.epochs -> steps, now that blocks exist
    cfg.train.check_checkpoint_steps(cfg.train.steps)  # before anything is written into the run directory
    if cfg.init_from:  # recorded in meta.json and every checkpoint; a resume from other parent weights is refused
        data.inputs["init_weights_sha256"] = _init_weights_sha256(cfg)
    changes: dict = {}
    if resume_from is not None:
        check_same_inputs(resume_from, data.inputs)
        changes = config_changes(run_dir, cfg)
        if changes and dist.is_main:
            listed = "; ".join(f"{k}: {old!r} -> {new!r}" for k, (old, new) in changes.items())
            print(f"warning: resuming {run_dir.path} with changed settings ({listed}); the result will differ from "
                  "an uninterrupted run of either config (recorded in meta.json and metrics.jsonl)")
    precisions = _precision_history(run_dir, runtime.precision, resume_from)
    if dist.is_main:
        if len(precisions) > 1 and precisions[-2] != precisions[-1]:
            print(f"warning: resuming {run_dir.path} in {precisions[-1]}, but it trained in {precisions[-2]} until "
                  f"now (impl={cfg.impl.precision} on other hardware, or another impl=): the model mixes precisions "
                  "(recorded in meta.json precision_history and metrics.jsonl); impl.precision="
                  f"{precisions[-2]} continues as it began")
        _prepare_run_dir(cfg, run_dir, fresh=resume_from is None)
        record_inputs(run_dir, corpus, data.tokenizer_dir)
        run_dir.write_meta(inputs=data.inputs, **runtime.meta(), precision_history=precisions,
                           world_size=dist.world_size, resumed_from=str(resume_from) if resume_from else None,
                           config_changes_on_resume=changes)
    distributed.barrier(dist)
    init_from = _resolve_init_from(cfg.init_from, cfg.paths.runs) if cfg.init_from and resume_from is None else None
    trainer = Pretrainer(cfg, run_dir, data, cfg.seed, dist, resume_from=resume_from, init_from=init_from)
    if dist.is_main:
        from babybias.train import budget

        budget.announce(trainer)  # expected GPU-hours, for long runs
    if dist.is_main and resume_from is not None:
        print(f"resuming from {resume_from} (step {trainer.step})")
        from babybias.runs import append_jsonl

        if changes:
            append_jsonl(run_dir.path / "metrics.jsonl", {"step": trainer.step, "event": "config_changed",
                                                          "changes": changes})
        if len(precisions) > 1 and precisions[-2] != precisions[-1]:
            append_jsonl(run_dir.path / "metrics.jsonl", {"step": trainer.step, "event": "precision_changed",
                                                          "precision": precisions[-2:]})
    try:
        expected = ExpectedTime(trainer.step, cfg.train.steps, runtime.device) if dist.is_main else None
        result = trainer.fit(on_step_end=chain(expected, on_step_end))
    except Preempted as stop:
        if dist.is_main:
            print(f"stopped by signal at step {stop.step}; checkpoint {stop.checkpoint}; rerun the same command to resume")
        distributed.destroy(dist)
        raise SystemExit(PREEMPTED_EXIT_CODE) from None
    if dist.is_main:
        run_dir.mark_done({"steps": result.steps, "tokens_seen": result.tokens_seen, "final_loss": result.final_loss,
                           "validation_loss": result.validation_loss})
        val = "" if result.validation_loss is None else f"  validation loss: {result.validation_loss:.4f}"
        print(f"run dir: {run_dir.path.resolve()}  final loss: {result.final_loss:.4f}{val}")
        if not cfg.dryrun:
            print(f"next: babybias evaluate run={cfg.name} eval=[crows_pairs,stereoset]   (bias of this model; "
                  "`babybias data prepare datasets=[crows_pairs,stereoset]` first if they are not prepared)")
    distributed.destroy(dist)
    return result


def _precision_history(run_dir: RunDir, precision: str, resume_from: Path | None) -> list[str]:
    """The training precision of each segment of the run so far, this one last. `impl` may differ on a resume
    (speed settings), and under impl=auto so does the hardware's choice: a run preempted on a CPU with native bf16
    and requeued on one without continues in fp32, and meta.json alone would then record only fp32."""
    meta = run_dir.path / "meta.json"
    if resume_from is None or not meta.is_file():
        return [precision]
    try:
        before = json.loads(meta.read_text())
    except ValueError:
        return [precision]
    history = before.get("precision_history") or ([before["precision"]] if before.get("precision") else [])
    return [*history, precision]


def _quiet(message: str) -> None:
    """Non-zero ranks leave the warnings to rank 0."""


# ---------------------------------------------------------------- configuration
def dryrun_config(cfg: PretrainConfig, world_size: int) -> PretrainConfig:
    """One optimizer step on a tiny batch, no intermediate checkpoints (the corpus builder slices the corpus)."""
    train = dataclasses.replace(cfg.train, steps=1, epochs=None, warmup_steps=0, batch_size=2 * world_size,
                                checkpoint_steps=[], checkpoint_every=None,
                                validation_blocks=min(cfg.train.validation_blocks, 4))
    return dataclasses.replace(cfg, train=train)


def _shared_seed(seed: int | None, dist) -> int:
    """A null seed is drawn once (on rank 0) and shared, so every rank uses the same one."""
    value = resolve_seed(seed)
    if dist.enabled and seed is None:
        import torch.distributed

        box = [value]
        torch.distributed.broadcast_object_list(box, src=0)
        value = box[0]
    return value


def _resume_point(cfg: PretrainConfig, run_dir: RunDir, say: Callable[[str], None] = print) -> Path | None:
    """The newest checkpoint whose files match their checksums (newer corrupt ones are reported and skipped)."""
    from babybias.train.checkpoint import latest_valid_checkpoint

    if cfg.resume is False or (cfg.force and run_dir.done):
        return None
    latest = latest_valid_checkpoint(run_dir.path / "checkpoints", say=say)
    if cfg.resume is True and latest is None:
        raise BabybiasError(f"resume=true but {run_dir.path} has no checkpoint",
                            fix="drop resume=true (or use resume=false) to start a new run")
    return latest


def _check_resumable(cfg: PretrainConfig, requested_seed: int | None, checkpoint: Path) -> int:
    """Before anything is written: the checkpoint must fit the model config; returns the seed to continue with."""
    from babybias.model import check_compatible
    from babybias.train.checkpoint import read_state

    check_compatible(cfg.model, None, checkpoint)
    saved_seed = read_state(checkpoint)["seed"]
    if requested_seed is not None and requested_seed != saved_seed:
        raise BabybiasError(f"seed={requested_seed} but checkpoint {checkpoint} was trained with seed={saved_seed}",
                            fix=f"use seed={saved_seed} (or seed=null) to resume, or resume=false to start over")
    return saved_seed


def _prepare_run_dir(cfg: PretrainConfig, run_dir: RunDir, fresh: bool) -> None:
    run_dir.create()
    run_dir.clear_done()
    if fresh:  # starting over: nothing of an earlier attempt may leak into this one
        for name in ("checkpoints", "model", "data_order", "tokenizer", "wandb"):
            shutil.rmtree(run_dir.path / name, ignore_errors=True)
        for name in ("metrics.jsonl", "wandb_id.txt"):
            (run_dir.path / name).unlink(missing_ok=True)
        from babybias.analysis.dynamics import clear_evaluations

        clear_evaluations(run_dir.path)  # the eval folder of this run folder holds numbers of the model being replaced
    run_dir.write_config(cfg)


def _init_weights_sha256(cfg: PretrainConfig, missing_ok: bool = False) -> str | None:
    """sha256 of the weights `init_from` holds now (None with missing_ok when it no longer resolves)."""
    from babybias.results import weights_sha256

    try:
        return weights_sha256(_resolve_init_from(cfg.init_from, cfg.paths.runs))
    except BabybiasError:
        if missing_ok:
            return None
        raise


def _resolve_init_from(ref: str, runs_root: str) -> Path:
    """The model folder to start from (its files checked against their checksums)."""
    from babybias.train.checkpoint import latest_valid_checkpoint, verify_checkpoint

    path = Path(ref)
    for candidate in (path, path / "model", Path(runs_root) / ref / "pretrain" / "model"):
        if (candidate / "config.json").exists() and (candidate / "model.safetensors").exists():
            verify_checkpoint(candidate)
            return candidate
    found = latest_valid_checkpoint(path / "checkpoints")
    if found is not None:
        return found
    raise BabybiasError(f"init_from={ref!r} is not a model folder, checkpoint or run name",
                        fix="pass a checkpoint folder, a run's model/ folder, or the name= of a finished pretrain run")


def _init_tokenizer(cfg: PretrainConfig) -> Path | None:
    """A given tokenizer (`tokenizer.path`), or for continued pretraining the one of the model it starts from."""
    from babybias.tokenizer import verify_tokenizer

    given = getattr(getattr(cfg, "tokenizer", None), "path", None)
    if given:
        if not (Path(given) / "tokenizer.json").exists():
            raise BabybiasError(f"tokenizer.path={given!r} has no tokenizer.json",
                                fix="pass a saved tokenizer folder, e.g. runs/<name>/pretrain/tokenizer")
        verify_tokenizer(given)
        return Path(given)
    if not cfg.init_from:
        return None
    source = _resolve_init_from(cfg.init_from, cfg.paths.runs)
    for candidate in (source, source.parent / "tokenizer"):
        if (candidate / "tokenizer.json").exists():
            return candidate
    raise BabybiasError(f"init_from={cfg.init_from!r} has no tokenizer.json beside its weights",
                        fix="pass a checkpoint folder or a run written by `babybias pretrain`")


# ---------------------------------------------------------------- artifacts
def build_corpus_artifact(cfg: PretrainConfig) -> Any:
    """The corpus of this config (built and cached by babybias.corpus when missing)."""
    from babybias.corpus.build import build_corpus

    return build_corpus(cfg.corpus, cfg.data, cfg.paths.cache, cfg.seed, dryrun=cfg.dryrun)


def prepare_data(cfg: PretrainConfig, dist):
    """Corpus -> tokenizer -> packed blocks; rank 0 builds what is missing while the other ranks wait.
    Returns (TrainData, the corpus artifact); nothing is written into the run directory (see `record_inputs`)."""
    from babybias.runs import file_sha256
    from babybias.tokenizer import build_tokenizer
    from babybias.train import distributed
    from babybias.train.data import cached_blocks
    from babybias.train.loop import TrainData

    for turn in ("main", "others"):
        if (turn == "main") == dist.is_main:
            corpus = build_corpus_artifact(cfg)
            tok_dir = _init_tokenizer(cfg) or build_tokenizer(cfg.tokenizer, corpus, cfg.paths.cache)
            train_blocks = cached_blocks(corpus.train_path, tok_dir, cfg.train.seq_len, cfg.paths.cache)
            val_blocks = None
            val_path = getattr(corpus, "validation_path", None)
            if cfg.train.validation_blocks and val_path and Path(val_path).exists() and Path(val_path).stat().st_size:
                val_blocks = cached_blocks(val_path, tok_dir, cfg.train.seq_len, cfg.paths.cache)
        distributed.barrier(dist)
    inputs = {"corpus_key": corpus.key, "tokenizer_key": tok_dir.name,
              "tokenizer_sha256": file_sha256(Path(tok_dir) / "tokenizer.json")}
    if val_blocks is not None and len(val_blocks) == 0:
        val_blocks = None
    return TrainData(train_blocks, Path(tok_dir), val_blocks, inputs), corpus


def record_inputs(run_dir: RunDir, corpus: Any, tokenizer_dir: Path) -> None:
    """The run's own copy of its tokenizer and the reference to its corpus (rank 0, after the run dir is prepared)."""
    from babybias.tokenizer import copy_tokenizer_files

    copy_tokenizer_files(tokenizer_dir, run_dir.path / "tokenizer")
    atomic_write_json(run_dir.path / "corpus.json", corpus_reference(corpus))


def corpus_reference(corpus: Any) -> dict:
    """What the run needs to name its corpus: path, key, split files and the manifest's scalar summary."""
    manifest = dict(getattr(corpus, "manifest", None) or {})
    small = {k: v for k, v in manifest.items() if len(json.dumps(v, default=str)) < 4000}
    return {"path": str(getattr(corpus, "path", "")), "key": corpus.key, "train_path": str(corpus.train_path),
            "validation_path": str(getattr(corpus, "validation_path", "") or ""), "manifest": small}
