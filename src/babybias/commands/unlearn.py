"""`babybias unlearn [run] shards=5 slices=4 sisa.finetune=head encoder=<pretrain run>` and
`babybias unlearn audit run=<unlearn run dir or name>`.

`run` builds the toxicity task, partitions its training ids into SISA shards and slices, trains the
constituents on the pretrained encoder, applies `unlearn.rounds` deletion rounds and evaluates fairness
(with the FairSISA post-processors refit) before and after each round. Output in runs/<name>/unlearn/:
config.yaml, meta.json, task.csv, assignment.json, requests.json, checkpoints/, ledger.jsonl, serving.json,
rounds/round-<r>/fairness.{csv,md}, fairness.{csv,md}, costs.{csv,md}, tradeoff.png, DONE (last).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from babybias.configs.unlearn import UnlearnConfig
from babybias.data.store import require
from babybias.errors import BabybiasError
from babybias.runs import atomic_write_text, config_hash, resolve_seed, run_dir_for


def run(cfg: UnlearnConfig):
    if cfg.action == "audit":
        return audit(cfg)
    return train_and_unlearn(cfg)


def _resolve_run(cfg: UnlearnConfig) -> Path:
    if not cfg.run:
        raise BabybiasError("`babybias unlearn audit` needs the run to audit", fix="pass run=runs/<name>/unlearn")
    for candidate in (Path(cfg.run), Path(cfg.run) / "unlearn", Path(cfg.paths.runs) / cfg.run / "unlearn"):
        if (candidate / "ledger.jsonl").is_file() or (candidate / "assignment.json").is_file():
            return candidate
    raise BabybiasError(f"no unlearning run at {cfg.run!r}",
                        fix="pass run=runs/<name>/unlearn of a `babybias unlearn` run")


def audit(cfg: UnlearnConfig):
    from babybias.unlearn.ledger import audit_run

    result = audit_run(_resolve_run(cfg))
    if not result.ok:
        raise BabybiasError(result.summary(), fix="the run's deletions cannot be proven; retrain it from scratch")
    print(result.summary())
    return result


def _dryrun(cfg: UnlearnConfig) -> UnlearnConfig:
    if not cfg.dryrun:
        return cfg
    task = dataclasses.replace(cfg.task, max_examples=min(cfg.task.max_examples or 400, 400))
    sisa = dataclasses.replace(cfg.sisa, epochs_per_slice=1)
    unlearn = dataclasses.replace(cfg.unlearn, requests=min(cfg.unlearn.requests, 1))
    return dataclasses.replace(cfg, task=task, sisa=sisa, unlearn=unlearn)


def _device(impl) -> str:
    if impl.device != "auto":
        return impl.device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def build_trainer(cfg: UnlearnConfig, task, model_dir: Path, seed: int):
    """(trainer, recipe hash, input hashes) for `sisa.finetune`."""
    from babybias.unlearn.features import encoder_features, encoder_fingerprint
    from babybias.unlearn.trainers import FullTrainer, HeadTrainer

    used = task.frame[task.frame["split"] != "unused"]
    ids, texts, labels = used["id"].to_numpy(), used["text"].tolist(), used["label"].to_numpy()
    inputs = {"encoder": str(model_dir), "encoder_sha256": encoder_fingerprint(model_dir)}
    sisa = {k: v for k, v in dataclasses.asdict(cfg.sisa).items() if k != "vote_ties"}  # what training depends on
    if cfg.sisa.finetune == "head":
        feats, key = encoder_features(model_dir, texts, cfg.sisa.max_length, cfg.paths.cache,
                                      cfg.impl.eval_batch_size, _device(cfg.impl))
        inputs["features"] = key
        trainer = HeadTrainer(ids, feats, labels, cfg.sisa)
    else:
        trainer = FullTrainer(ids, texts, labels, model_dir, cfg.sisa, _device(cfg.impl))
    recipe = config_hash({"sisa": sisa, "inputs": inputs, "seed": seed})
    return trainer, recipe, inputs


def train_and_unlearn(cfg: UnlearnConfig):
    from babybias.unlearn.features import resolve_encoder
    from babybias.unlearn.rounds import plan_run, run_unlearning
    from babybias.unlearn.task import DATASET, build_task, check_calibration

    cfg = _dryrun(cfg)
    seed = resolve_seed(cfg.seed)
    cfg = dataclasses.replace(cfg, seed=seed)
    run = run_dir_for(cfg.paths.runs, cfg.name, "unlearn")
    if (run / "ledger.jsonl").exists():
        raise BabybiasError(f"{run.path} already holds an unlearning run (its ledger is append-only)",
                            fix="choose another name=, or delete that directory to start over")
    # Everything that can fail on user input happens before the run directory gets a file.
    task = build_task(require(DATASET, cfg.data), cfg.task, seed)
    check_calibration(task)
    planned = plan_run(task, cfg.sisa, cfg.unlearn, seed)
    model_dir = resolve_encoder(cfg.encoder, cfg.paths.runs)
    if cfg.impl.num_threads:
        import torch

        torch.set_num_threads(cfg.impl.num_threads)
    trainer, recipe, inputs = build_trainer(cfg, task, model_dir, seed)

    run.create()
    run.clear_done()
    run.write_config(cfg)
    run.write_meta(inputs={**inputs, "recipe": recipe}, task=task.summary())
    atomic_write_text(run / "task.csv", task.frame[["id", "split", "group", "label", "term"]].to_csv(index=False))
    state = run_unlearning(run.path, task, planned, trainer, recipe, seed, cfg.sisa, cfg.unlearn, cfg.fairness,
                           cfg.fairsisa)
    run.mark_done({"rounds": len(planned.rounds), "serving": state.serving})
    print(f"unlearning run written to {run.path}")
    return run
