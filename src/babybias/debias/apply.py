"""The apply step: wrap any scoring-engine `MaskedLM` with a fitted post-model method.

- INLP, SentenceDebias: `HiddenTransformLM(lm, LinearProjection(P))`: the projection acts on the last hidden
  states, before the MLM head (token scores: CrowS-Pairs, StereoSet, BLiMP) and before pooling (SEAT).
- Self-Debias: `SelfDebiasLM(lm, prefix ids, λ, ε)`: rescales masked-token probabilities; embeddings unchanged.

`debiased_engine(...)` is what `babybias evaluate debias=<method>` calls: it loads the artifact fitted on this
checkpoint (runs/<name>/debias/<method>/<checkpoint>/, or `debias.artifact`), fitting and saving it first
when it is missing, and returns the wrapped model.
"""

from __future__ import annotations

from pathlib import Path

from babybias.configs.debias import DebiasConfig
from babybias.debias.artifacts import DebiasArtifact, default_artifact_dir
from babybias.errors import BabybiasError
from babybias.runs import file_sha256


def model_fingerprint(model_dir: str | Path) -> dict:
    """Which model an artifact belongs to: its folder and the sha256 of its weights file."""
    model_dir = Path(model_dir)
    weights = next((model_dir / n for n in ("model.safetensors", "pytorch_model.bin") if (model_dir / n).exists()), None)
    return {"path": str(model_dir.resolve()), "weights_sha256": file_sha256(weights) if weights else None}


def apply_artifact(lm, artifact: DebiasArtifact):
    """`lm` wrapped by the artifact's method (see the module docstring)."""
    from babybias.scoring.model import HiddenTransformLM

    if artifact.method in ("inlp", "sentence_debias"):
        from babybias.debias.projection import LinearProjection

        return HiddenTransformLM(lm, LinearProjection(artifact.arrays["projection"]).to(lm.device))
    if artifact.method == "self_debias":
        from babybias.debias.self_debias import SelfDebiasLM

        cfg = artifact.config
        return SelfDebiasLM(lm, artifact.info["prefix_token_ids"], cfg["decay_constant"], cfg["epsilon"])
    raise BabybiasError(f"artifact method {artifact.method!r} cannot be applied",
                        fix="use an artifact of inlp, sentence_debias or self_debias")


def check_belongs_to(artifact: DebiasArtifact, folder: Path, model_dir: str | Path) -> None:
    """Refuse an artifact fitted on other weights (a projection is specific to one checkpoint)."""
    saved = (artifact.info.get("model") or {}).get("weights_sha256")
    current = model_fingerprint(model_dir)["weights_sha256"]
    if saved and current and saved != current:
        raise BabybiasError(f"the {artifact.method} artifact {folder} was fitted on other weights than {model_dir}",
                            fix=f"refit it: `babybias debias fit debias={artifact.method} checkpoint={model_dir} force=true`")


def fit_and_save(cfg: DebiasConfig, engine, model_dir: str | Path, folder: str | Path, *, data_cfg, seed: int,
                 corpus_file: str | Path | None = None, extra_info: dict | None = None,
                 extra_files: dict[str, str] | None = None) -> DebiasArtifact:
    """Fit `cfg.method` on the engine's (plain) model and save the artifact to `folder`."""
    from babybias.debias.fit import fit_artifact
    from babybias.debias.sentences import corpus_file_of_run, gender_swapper, read_corpus_lines

    lines, swapper, source = None, None, None
    if cfg.method != "self_debias":
        source = Path(corpus_file) if corpus_file else corpus_file_of_run(_run_dir_of(Path(model_dir)))
        lines = read_corpus_lines(source)
        swapper = gender_swapper(data_cfg)
    artifact = fit_artifact(cfg, engine, lines, swapper, seed)
    artifact.info.update({"model": model_fingerprint(model_dir), "seed": seed, **(extra_info or {})})
    if source is not None:
        artifact.info["corpus_file"] = {"path": str(Path(source).resolve()), "sha256": file_sha256(source)}
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
    folder = Path(cfg.artifact) if cfg.artifact else default_artifact_dir(artifact_root, cfg.method, model_dir)
    if (folder / "DONE").exists():
        artifact = DebiasArtifact.load(folder)
        if artifact.method != cfg.method:
            raise BabybiasError(f"debias.artifact={folder} holds a {artifact.method} artifact, not {cfg.method}",
                                fix=f"point debias.artifact to a {cfg.method} artifact")
        check_belongs_to(artifact, folder, model_dir)
    elif cfg.artifact:
        raise BabybiasError(f"debias.artifact={folder} is not a finished artifact",
                            fix="fit it with `babybias debias fit ...` or set debias.artifact=null")
    else:
        artifact = fit_and_save(cfg, engine, model_dir, folder, data_cfg=data_cfg, seed=seed, corpus_file=corpus_file)
    return apply_artifact(lm, artifact), artifact


def debiased_engine(model_dir: str | Path, cfg: DebiasConfig, impl=None, *, artifact_root: str | Path | None = None,
                    data_cfg=None, seed: int = 0, progress: bool = True):
    """(ScoringEngine over the debiased checkpoint, artifact or None): the one call `evaluate` needs.

    `artifact_root` defaults to the `debias/` folder beside the checkpoint's run (runs/<name>/debias), where
    `babybias debias fit name=<name>` writes. Self-Debias inputs are truncated so that input + prefix fit
    the model's positions.
    """
    from babybias.configs.common import DataConfig
    from babybias.scoring import ScoringEngine

    base = ScoringEngine.from_checkpoint(model_dir, impl, progress=progress)
    if not cfg.is_post_model:
        return base, None
    root = Path(artifact_root) if artifact_root else artifact_root_of(model_dir)
    lm, artifact = debiased_model(base.model, base, cfg, model_dir, artifact_root=root,
                                  data_cfg=data_cfg or DataConfig(), seed=seed)
    room = max((len(p) for p in artifact.info.get("prefix_token_ids", [])), default=0)
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
    raise BabybiasError(f"{ref!r} is not a checkpoint folder, pretrain run or run name",
                        fix="pass a checkpoint (runs/<name>/pretrain/model) or the name= of a finished pretrain run")
