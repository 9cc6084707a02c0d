"""`babybias debias fit debias=<inlp|sentence_debias|self_debias> run=<run|name> [checkpoint=<dir>] [name=<run>]`

Fits a post-model debiasing method on a trained encoder and writes the artifact beside the model's run,
`runs/<run>/debias/<method>/<checkpoint>[-<hash of non-default settings and fit data>]/` (artifact.json,
arrays.npz, sentences.jsonl, config.yaml, meta.json, DONE). `babybias evaluate run=<name> debias=<method>`
finds and applies it (and fits it there when it is missing, with the same code). A finished artifact is
skipped only when it was fitted with every setting, the weights and the fit data asked for now; otherwise it
is refitted (the reason is printed).
"""

from __future__ import annotations

import json
from pathlib import Path

from babybias.configs.debias import DebiasCommandConfig
from babybias.errors import ConfigError
from babybias.runs import git_commit, git_dirty, package_versions, resolve_seed, run_lock, to_jsonable


def run(cfg: DebiasCommandConfig):
    """Fit and save; returns the `DebiasArtifact` (the existing one when already fitted and not `force`)."""
    from babybias.debias.apply import artifact_root_of, load_fitted, resolve_model
    from babybias.debias.artifacts import default_artifact_dir

    if not cfg.debias.is_post_model:
        raise ConfigError(f"`babybias debias fit` fits post-model methods; debias={cfg.debias.method} is not one",
                          fix="use debias=inlp|sentence_debias|self_debias (cda/dropout are `babybias pretrain debias=...`)")
    cfg.seed = resolve_seed(cfg.seed)
    ref = cfg.checkpoint or cfg.run or cfg.name
    model_dir = resolve_model(ref, cfg.paths.runs)
    if not cfg.checkpoint:  # the checkpoint `babybias evaluate run=<run>` scores as final (a checkpoints/step-N
        from babybias.analysis.dynamics import select_checkpoints  # with model/'s step), whose artifact it looks up

        model_dir = select_checkpoints(ref, "final", cfg.paths.runs)[0].path
    folder = Path(cfg.debias.artifact) if cfg.debias.artifact else default_artifact_dir(
        artifact_root_of(model_dir), cfg.debias.method, model_dir, cfg.debias, cfg.corpus_file, cfg.seed)
    if not cfg.force:
        fitted = load_fitted(folder, cfg.debias, model_dir, chosen=False, corpus_file=cfg.corpus_file, seed=cfg.seed)
        if fitted is not None:
            print(f"{folder} is already fitted with these settings; skipping (force=true refits)")
            return fitted
    with run_lock(folder.parent, "babybias debias fit"):  # one fit of a method on a run at a time
        return _fit(cfg, model_dir, folder)


def _fit(cfg: DebiasCommandConfig, model_dir: Path, folder: Path):
    from omegaconf import OmegaConf

    from babybias.debias.apply import fit_and_save, model_fingerprint
    from babybias.scoring import ScoringEngine

    engine = ScoringEngine.from_checkpoint(model_dir, cfg.impl, progress=True)  # fp32: impl sets speed only
    config_text = OmegaConf.to_yaml(OmegaConf.create(to_jsonable(cfg)))
    meta = {"git_commit": git_commit(), "git_dirty": git_dirty(), "packages": package_versions(), "device": str(engine.model.device),
            "inputs": {"model": model_fingerprint(model_dir)}}
    artifact = fit_and_save(cfg.debias, engine, model_dir, folder, data_cfg=cfg.data, seed=cfg.seed,
                            corpus_file=cfg.corpus_file,
                            extra_files={"config.yaml": config_text, "meta.json": json.dumps(to_jsonable(meta), indent=2)})
    print(f"{cfg.debias.method} artifact: {folder.resolve()}  {json.dumps(artifact.describe(), default=str)}")
    return artifact
