"""`babybias unlearn [run] shards=5 slices=4 sisa.finetune=head encoder=<pretrain run>`,
`babybias unlearn forget run=<unlearn run> ids=<file or list>` and `babybias unlearn audit run=<unlearn run>`.

`run` builds the toxicity task, partitions its training ids into SISA shards and slices, trains the
constituents on the pretrained encoder, applies `unlearn.rounds` deletion rounds and evaluates fairness
(with the FairSISA post-processors refit) and membership inference before and after each round. Rerun on an
unfinished run (after a kill) it resumes, reusing every finished slice checkpoint. `forget` applies one more
round to a finished run; `audit` checks a run's ledger, lineage and every file for traces of deleted
examples. Output in runs/<name>/unlearn/: config.yaml, meta.json, checkpoints/, features/, states/<round>/
and `state` (the committed one; see babybias.unlearn.state), links to its tables (fairness, costs,
membership, ledger.jsonl, ...), DONE.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from babybias.configs.unlearn import UnlearnConfig
from babybias.errors import BabybiasError
from babybias.failpoints import failpoint
from babybias.runs import RunDir, resolve_seed, run_dir_for


def run(cfg: UnlearnConfig):
    if cfg.action == "audit":
        return audit(cfg)
    if cfg.action == "forget":
        return forget(cfg)
    return train_and_unlearn(cfg)


def _resolve_run(cfg: UnlearnConfig) -> RunDir:
    if not cfg.run:
        raise BabybiasError(f"`babybias unlearn {cfg.action}` needs the run", fix="pass run=runs/<name>/unlearn")
    for candidate in (Path(cfg.run), Path(cfg.run) / "unlearn", Path(cfg.paths.runs) / cfg.run / "unlearn"):
        if (candidate / "config.yaml").is_file() and (candidate / "meta.json").is_file():
            return RunDir(candidate)
    raise BabybiasError(f"no unlearning run at {cfg.run!r}",
                        fix="pass run=runs/<name>/unlearn of a `babybias unlearn` run")


def audit(cfg: UnlearnConfig):
    from babybias.unlearn.audit import audit_run

    run = _resolve_run(cfg)
    with run.lock("unlearn audit"):
        result = audit_run(run.path)
    if not result.ok:
        raise BabybiasError(result.summary(), fix="rerun `babybias unlearn forget` on the run to finish an interrupted "
                                                  "purge; otherwise its deletions cannot be proven: retrain it")
    print(result.summary())
    return result


def _dryrun(cfg: UnlearnConfig) -> UnlearnConfig:
    if not cfg.dryrun:
        return cfg
    task = dataclasses.replace(cfg.task, max_examples=min(cfg.task.max_examples or 400, 400))
    sisa = dataclasses.replace(cfg.sisa, epochs_per_slice=1)
    unlearn = dataclasses.replace(cfg.unlearn, requests=min(cfg.unlearn.requests, 1))
    return dataclasses.replace(cfg, task=task, sisa=sisa, unlearn=unlearn)


def _resumable(run: RunDir, cfg: UnlearnConfig) -> UnlearnConfig | None:
    """The saved config of an existing run that `cfg` may resume (None for a new run); raises when they differ."""
    from babybias.unlearn.setup import config_differences, load_saved_config

    if not (run / "config.yaml").is_file():
        return None
    saved = load_saved_config(run)
    if cfg.seed is None:
        cfg = dataclasses.replace(cfg, seed=saved.seed)  # null = "draw one": the run drew it already
    differences = config_differences(saved, cfg)
    if differences:
        raise BabybiasError(f"{run.path} holds an unlearning run with other settings ({'; '.join(differences[:5])})",
                            fix="rerun with its settings to resume it (see its config.yaml), or choose another name=")
    return saved


def _check_same_encoder(run: RunDir, cfg: UnlearnConfig) -> None:
    """An existing run (finished, or to resume) belongs to the encoder it was trained on: when `encoder=` now holds
    another model (retrained under the same name), its numbers would be reported as the new encoder's: refused."""
    from babybias.unlearn.features import encoder_fingerprint, resolve_encoder
    from babybias.unlearn.setup import saved_inputs

    try:
        recorded = saved_inputs(run).get("encoder_sha256")
        model_dir = resolve_encoder(cfg.encoder, cfg.paths.runs)
    except (OSError, ValueError, KeyError, BabybiasError):  # no record, or no encoder to compare: nothing to check
        return
    if recorded and encoder_fingerprint(model_dir) != recorded:
        raise BabybiasError(f"{run.path} was trained on another encoder than {model_dir} holds now (it was "
                            "retrained since): its results belong to the old encoder",
                            fix=f"choose another name= for the new encoder (or delete {run.path} to train it again)")


def train_and_unlearn(cfg: UnlearnConfig):
    cfg = _dryrun(cfg)
    run = run_dir_for(cfg.paths.runs, cfg.name, "unlearn")
    with run.lock("unlearn"):
        saved = _resumable(run, cfg)
        if saved is not None:
            _check_same_encoder(run, cfg)
        if saved is not None and run.done:
            print(f"{run.path} is already DONE (rounds are added with `babybias unlearn forget run={run.path}`)")
            return run
        return _train(dataclasses.replace(cfg, seed=saved.seed if saved else resolve_seed(cfg.seed)), run, saved)


def _train(cfg: UnlearnConfig, run: RunDir, saved: UnlearnConfig | None) -> RunDir:
    from babybias.data.store import require
    from babybias.unlearn.features import FeatureStore, resolve_encoder
    from babybias.unlearn.requests import plan_run
    from babybias.unlearn.rounds import RunSetup
    from babybias.unlearn.setup import cache_files_of, compute_inputs, open_existing, saved_inputs, trainer_factory
    from babybias.unlearn.task import DATASET, build_task, check_calibration

    if cfg.impl.num_threads:
        import torch

        torch.set_num_threads(cfg.impl.num_threads)
    if saved is not None:  # resume: the task, plan, recipe and features the run started with
        print(f"resuming the unlearning run in {run.path}")
        setup = open_existing(cfg, run)
        return _finish(run, setup, plan_run(setup.task, cfg.sisa, cfg.unlearn, cfg.seed),
                       saved_inputs(run).get("features_copy"))
    # Everything that can fail on user input happens before the run directory gets a file.
    task = build_task(require(DATASET, cfg.data), cfg.task, cfg.seed)
    check_calibration(task)
    planned = plan_run(task, cfg.sisa, cfg.unlearn, cfg.seed)
    model_dir = resolve_encoder(cfg.encoder, cfg.paths.runs)
    inputs, rows = compute_inputs(cfg, task, model_dir, cfg.seed)
    run.create()
    run.clear_done()
    if rows is not None:
        inputs["features_copy"] = FeatureStore(run / "features").save(*rows)
    failpoint("created")
    run.write_meta(inputs=inputs, task=task.summary())
    failpoint("meta-written")
    run.write_config(cfg)  # last: a run directory with a config.yaml is one that resumes
    setup = RunSetup(run_dir=run.path, task=task, make_trainer=trainer_factory(cfg, model_dir),
                     recipe=inputs["recipe"], seed=cfg.seed, cfg=cfg, cache_files=cache_files_of(cfg, inputs))
    return _finish(run, setup, planned, inputs.get("features_copy"))


def _finish(run: RunDir, setup, planned, features: str | None) -> RunDir:
    from babybias.unlearn.rounds import run_plan

    state = run_plan(setup, planned, features)
    run.mark_done({"planned_rounds": len(planned.rounds)})
    print(f"unlearning run written to {run.path} (round {state.round})")
    return run


def forget(cfg: UnlearnConfig):
    """One deletion round on a finished run (see `babybias.unlearn.forget`)."""
    from babybias.unlearn.forget import forget_ids
    from babybias.unlearn.requests import read_forget_ids

    ids = read_forget_ids(cfg.ids)
    run = _resolve_run(cfg)
    with run.lock("unlearn forget"):
        forget_ids(run, np.asarray(ids, dtype=np.int64), source="forget" + (f" {cfg.ids}" if isinstance(cfg.ids, str)
                                                                               and Path(cfg.ids).is_file() else ""))
    return run
