"""The apply step: wrap any scoring-engine `MaskedLM` with a fitted post-model method.

- INLP, SentenceDebias: `HiddenTransformLM(lm, LinearProjection(P))`: the projection acts on the last hidden
  states, before the MLM head (token scores: CrowS-Pairs, StereoSet, BLiMP) and before pooling (SEAT).
- Self-Debias: `SelfDebiasLM(lm, prefix ids, λ, ε)`: rescales masked-token probabilities; embeddings unchanged.

`debiased_engine(...)` is what `babybias evaluate debias=<method>` calls: it loads the artifact fitted on this
checkpoint with these settings (runs/<name>/debias/<method>/<checkpoint>[-<hash>]/, or `debias.artifact`),
fitting and saving it first when it is missing or was fitted differently (any setting, other weights, other
fit data: the reason is printed), and returns the wrapped model. An artifact given by path
(`debias.artifact=`) is never refitted: one fitted with other settings or weights is refused with the fix.
Fitting always runs in fp32, whatever the scoring precision.
"""

from __future__ import annotations

from pathlib import Path

from babybias.configs.debias import DebiasConfig
from babybias.debias.artifacts import DebiasArtifact, default_artifact_dir, fit_key, fit_mismatches
from babybias.errors import BabybiasError
from babybias.results import weights_sha256
from babybias.runs import DONE, file_sha256


def model_fingerprint(model_dir: str | Path) -> dict:
    """Which model an artifact belongs to: its folder and the sha256 of its weights file."""
    return {"path": str(Path(model_dir).resolve()), "weights_sha256": weights_sha256(model_dir)}


def apply_artifact(lm, artifact: DebiasArtifact):
    """`lm` wrapped by the artifact's method (see the module docstring)."""
    from babybias.scoring.model import HiddenTransformLM

    if artifact.method in ("inlp", "sentence_debias"):
        from babybias.debias.projection import LinearProjection

        return HiddenTransformLM(lm, LinearProjection(artifact.arrays["projection"]).to(lm.device))
    if artifact.method == "self_debias":
        from babybias.debias.self_debias import SelfDebiasLM

        cfg = artifact.config
        return SelfDebiasLM(lm, artifact.info["prefix_token_ids"], cfg["decay_constant"], cfg["epsilon"],
                            artifact.info.get("prefix_token_ids_by_type"))
    raise BabybiasError(f"artifact method {artifact.method!r} cannot be applied",
                        fix="use an artifact of inlp, sentence_debias or self_debias")


def wanted_fit(cfg: DebiasConfig, model_dir: str | Path, corpus_file: str | Path | None, seed: int) -> dict:
    """The fit key of fitting `cfg` on `model_dir` now (the corpus is the run's train split unless given)."""
    corpus_sha = None
    if cfg.method != "self_debias":
        from babybias.debias.sentences import corpus_file_of_run

        source = Path(corpus_file) if corpus_file else corpus_file_of_run(_run_dir_of(Path(model_dir)))
        corpus_sha = file_sha256(source)
    return fit_key(cfg, weights_sha256(model_dir), corpus_sha, seed)


def load_fitted(folder: Path, cfg: DebiasConfig, model_dir: str | Path, *, chosen: bool,
                corpus_file: str | Path | None = None, seed: int = 0) -> DebiasArtifact | None:
    """The finished artifact in `folder` if it was fitted exactly as `cfg` asks on these weights, else None
    (to be fitted; the reason is printed). `chosen` (given by path, `debias.artifact=`): a differently fitted
    artifact is refused instead, and its fit data are not compared (they are recorded with every result)."""
    if not (folder / DONE).exists():
        return None
    try:
        artifact = DebiasArtifact.load(folder)
    except BabybiasError:
        if chosen:
            raise
        print(f"refitting {folder}: it cannot be read by this version")
        return None
    if artifact.method != cfg.method and chosen:
        raise BabybiasError(f"debias.artifact={folder} holds a {artifact.method} artifact, not {cfg.method}",
                            fix=f"point debias.artifact to a {cfg.method} artifact")
    wanted = (fit_key(cfg, weights_sha256(model_dir), None, seed) if chosen
              else wanted_fit(cfg, model_dir, corpus_file, seed))
    reasons = fit_mismatches(artifact.info.get("fit_key"), wanted, fit_data=not chosen)
    if not reasons:
        return artifact
    if chosen:
        raise BabybiasError(f"debias.artifact={folder} does not fit this evaluation: {reasons[0]} (for {model_dir})",
                            fix=f"refit it: `babybias debias fit debias={cfg.method} checkpoint={model_dir} "
                                f"debias.artifact={folder} force=true`, or set the debias.* values it was fitted with")
    print(f"refitting {cfg.method} artifact {folder}: {'; '.join(reasons)}")
    return None


def fit_and_save(cfg: DebiasConfig, engine, model_dir: str | Path, folder: str | Path, *, data_cfg, seed: int,
                 corpus_file: str | Path | None = None, extra_info: dict | None = None,
                 extra_files: dict[str, str] | None = None) -> DebiasArtifact:
    """Fit `cfg.method` on the engine's (plain) model and save the artifact to `folder`."""
    from babybias.debias.attribute_words import load_attribute_words
    from babybias.debias.fit import fit_artifact
    from babybias.debias.sentences import corpus_file_of_run, read_corpus_lines

    lines, words, source = None, None, None
    if cfg.method != "self_debias":
        source = Path(corpus_file) if corpus_file else corpus_file_of_run(_run_dir_of(Path(model_dir)))
        lines = read_corpus_lines(source)
        words = load_attribute_words(data_cfg, cfg.bias_type, cfg.lexicon)
    if getattr(engine, "precision", "fp32") != "fp32":
        raise ValueError(f"fit on an fp32 engine, not {engine.precision}: debiased_engine builds one")
    artifact = fit_artifact(cfg, engine, lines, words, seed)
    corpus_sha = file_sha256(source) if source is not None else None
    artifact.info.update({"model": model_fingerprint(model_dir), "seed": seed,
                          "fit_key": fit_key(cfg, weights_sha256(model_dir), corpus_sha, seed), **(extra_info or {})})
    if source is not None:
        artifact.info["corpus_file"] = {"path": str(Path(source).resolve()), "sha256": corpus_sha}
    artifact.save(folder, extra_files)
    return artifact


def debiased_model(lm, engine, cfg: DebiasConfig, model_dir: str | Path, *, artifact_root: str | Path, data_cfg,
                   seed: int = 0, corpus_file: str | Path | None = None):
    """(model to evaluate, artifact or None) for `debias=<cfg.method>` on the checkpoint in `model_dir`.

    `lm` is the plain engine model and `engine` a `ScoringEngine` over it (used only when fitting). The
    artifact is `cfg.artifact`, else <artifact_root>/<method>/<checkpoint folder> (fitted there if missing).
    `none` and the intra-model methods (already in the weights) return `lm` unchanged.
    """
    if not cfg.is_post_model:
        return lm, None
    chosen = bool(cfg.artifact)
    folder = Path(cfg.artifact) if chosen else default_artifact_dir(artifact_root, cfg.method, model_dir, cfg,
                                                                    corpus_file, seed)
    artifact = load_fitted(folder, cfg, model_dir, chosen=chosen, corpus_file=corpus_file, seed=seed)
    if artifact is None and chosen:
        raise BabybiasError(f"debias.artifact={folder} is not a finished artifact",
                            fix="fit it with `babybias debias fit ...` or set debias.artifact=null")
    if artifact is None:
        artifact = fit_and_save(cfg, engine, model_dir, folder, data_cfg=data_cfg, seed=seed, corpus_file=corpus_file)
    return apply_artifact(lm, artifact), artifact


def debiased_engine(model_dir: str | Path, cfg: DebiasConfig, impl=None, *, artifact_root: str | Path | None = None,
                    data_cfg=None, seed: int = 0, progress: bool = True, precision: str = "fp32"):
    """(ScoringEngine over the debiased checkpoint, artifact or None): the one call `evaluate` needs.

    `precision` is the scoring precision (fp32 unless asked; `impl` sets only device and batch size); a
    missing artifact is fitted in fp32 either way. `artifact_root` defaults to the `debias/` folder beside the
    checkpoint's run (runs/<name>/debias), where `babybias debias fit name=<name>` writes. Self-Debias inputs
    are truncated so that input + prefix fit the model's positions.
    """
    from babybias.configs.common import DataConfig
    from babybias.scoring import ScoringEngine

    base = ScoringEngine.from_checkpoint(model_dir, impl, progress=progress, precision=precision)
    if not cfg.is_post_model:
        return base, None
    root = Path(artifact_root) if artifact_root else artifact_root_of(model_dir)
    fitter = base if precision == "fp32" else ScoringEngine(base.model.with_precision("fp32"), base.tokenizer,
                                                             batch_size=base.batch_size, progress=progress)
    lm, artifact = debiased_model(base.model, fitter, cfg, model_dir, artifact_root=root,
                                  data_cfg=data_cfg or DataConfig(), seed=seed)
    room = getattr(lm, "prefix_length", 0)  # Self-Debias: the prefix must fit in front of the input
    # (per-category prefixes adjust the room per category: self_debias.score_by_category)
    return ScoringEngine(lm, base.tokenizer, batch_size=base.batch_size, max_length=base.max_length - room,
                         progress=progress), artifact


def artifact_root_of(model_dir: str | Path) -> Path:
    """Where a checkpoint's artifacts live by default: runs/<name>/debias/, beside the run's pretrain/ and eval/."""
    return _run_dir_of(Path(model_dir)).parent / "debias"


def _run_dir_of(model_dir: Path) -> Path:
    """The pretrain run holding `model_dir` (run/model or run/checkpoints/step-N)."""
    if model_dir.parent.name == "checkpoints":
        return model_dir.parent.parent
    return model_dir.parent


def resolve_model(ref: str, runs_root: str) -> Path:
    """A checkpoint folder from a checkpoint path, a pretrain run directory, or a run name."""
    path = Path(ref)
    for candidate in (path, path / "model", path / "pretrain" / "model", Path(runs_root) / ref / "pretrain" / "model"):
        if (candidate / "config.json").is_file():
            return candidate
    for run in (path, path / "pretrain", Path(runs_root) / ref / "pretrain"):
        if (run / "config.yaml").is_file():
            raise BabybiasError(f"pretrain run {run} exists but has no final model yet (it stopped or is still running)",
                                fix=f"rerun `babybias pretrain name={run.parent.name}` to finish it, or pass one of its "
                                    "checkpoints: checkpoint=<run>/checkpoints/step-...")
    raise BabybiasError(f"{ref!r} is not a checkpoint folder, pretrain run or run name",
                        fix="pass a checkpoint (runs/<name>/pretrain/model) or the name= of a finished pretrain run")
