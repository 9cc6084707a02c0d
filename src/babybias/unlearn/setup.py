"""Opening an unlearning run: the saved config, the task, the trainer and the recipe, for a new run, a resumed
one (`babybias unlearn` again after a kill) or a finished one (`babybias unlearn forget`).

A new run computes its features once (through the shared cache) and keeps its own copy
(`features.FeatureStore`); from then on it never reads the shared cache again, so a resumed round and a later
`forget` train on the same bits. The recipe (the hash that names every checkpoint) is fixed at creation and
read back from meta.json.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from babybias.configs.unlearn import UnlearnConfig
from babybias.errors import BabybiasError
from babybias.runs import RunDir, config_hash

SPEED_ONLY = ("impl", "wandb", "paths", "data", "name", "action", "run", "ids", "command")
"""Config keys that may differ when a run is resumed (where and how fast, not what is computed)."""


def load_saved_config(run: RunDir) -> UnlearnConfig:
    """The run's config.yaml as a typed `UnlearnConfig` (validated)."""
    from omegaconf import OmegaConf

    from babybias.configs import register_all

    register_all()
    merged = OmegaConf.merge(OmegaConf.structured(UnlearnConfig), OmegaConf.create(run.read_config()))
    return OmegaConf.to_object(merged)


def _flat(obj, prefix: str = "") -> dict:
    if isinstance(obj, dict):
        return {k: v for key, value in obj.items() for k, v in _flat(value, f"{prefix}{key}.").items()}
    return {prefix[:-1]: obj}


def config_differences(saved: UnlearnConfig, new: UnlearnConfig) -> list[str]:
    """`key: saved -> new` for every setting that changes results (everything but SPEED_ONLY)."""
    a, b = dataclasses.asdict(saved), dataclasses.asdict(new)
    for key in SPEED_ONLY:
        a.pop(key, None)
        b.pop(key, None)
    fa, fb = _flat(a), _flat(b)
    return [f"{k}: {fa.get(k)!r} -> {fb.get(k)!r}" for k in sorted(set(fa) | set(fb)) if fa.get(k) != fb.get(k)]


def device_of(impl) -> str:
    if impl.device != "auto":
        return impl.device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def trainer_factory(cfg: UnlearnConfig, model_dir: Path | None):
    """(examples frame with id, text, label; features (ids, rows) or None) -> the trainer of `sisa.finetune`."""
    from babybias.unlearn.trainers import FullTrainer, HeadTrainer

    def make(frame, rows):
        labels = frame.set_index("id")["label"]
        if cfg.sisa.finetune == "head":
            ids, features = rows
            return HeadTrainer(ids, features, labels.loc[ids].to_numpy(), cfg.sisa)
        return FullTrainer(frame["id"].to_numpy(), frame["text"].tolist(), frame["label"].to_numpy(), model_dir,
                           cfg.sisa, device_of(cfg.impl))

    return make


def compute_inputs(cfg: UnlearnConfig, task, model_dir: Path, seed: int) -> tuple[dict, tuple | None]:
    """A new run's input hashes and recipe, and its features (ids, rows) for `sisa.finetune=head`."""
    from babybias.unlearn.features import encoder_features, encoder_fingerprint

    inputs = {"encoder": str(model_dir), "encoder_sha256": encoder_fingerprint(model_dir)}
    rows = None
    if cfg.sisa.finetune == "head":
        used = task.frame[task.frame["split"] != "unused"]
        feats, key = encoder_features(model_dir, used["text"].tolist(), cfg.sisa.max_length, cfg.paths.cache,
                                      cfg.impl.eval_batch_size, device_of(cfg.impl))
        inputs["features"] = key
        rows = (used["id"].to_numpy(np.int64), feats)
    sisa = {k: v for k, v in dataclasses.asdict(cfg.sisa).items() if k != "vote_ties"}  # what training depends on
    inputs["recipe"] = config_hash({"sisa": sisa, "inputs": {k: v for k, v in inputs.items()}, "seed": seed})
    return inputs, rows


def saved_inputs(run: RunDir) -> dict:
    meta = json.loads((run / "meta.json").read_text())
    return meta["inputs"]


def cache_files_of(cfg: UnlearnConfig, inputs: dict):
    """The shared cache entry a run's features went into (for the purge)."""
    from babybias.unlearn.features import cache_entry_files

    key = inputs.get("features")
    return (lambda: cache_entry_files(cfg.paths.cache, key)) if key else (lambda: [])


def open_existing(cfg: UnlearnConfig, run: RunDir, log=print):
    """The `RunSetup` of an existing run from its saved config and meta.json (its task rebuilt from the data)."""
    from babybias.data.store import require
    from babybias.unlearn.features import encoder_fingerprint, resolve_encoder
    from babybias.unlearn.rounds import RunSetup
    from babybias.unlearn.task import DATASET, build_task

    inputs = saved_inputs(run)
    model_dir = None
    if cfg.sisa.finetune == "full":
        model_dir = resolve_encoder(cfg.encoder, cfg.paths.runs)
        if encoder_fingerprint(model_dir) != inputs["encoder_sha256"]:
            raise BabybiasError(f"the encoder {model_dir} changed since {run.path} was trained",
                                fix="restore that encoder; the run's checkpoints were fine-tuned from it")
    task = build_task(require(DATASET, cfg.data), cfg.task, cfg.seed)
    return RunSetup(run_dir=run.path, task=task, make_trainer=trainer_factory(cfg, model_dir),
                    recipe=inputs["recipe"], seed=cfg.seed, cfg=cfg, cache_files=cache_files_of(cfg, inputs), log=log)
