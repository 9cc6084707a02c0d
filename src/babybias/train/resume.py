"""What a second start of a pretrain run directory may do: resume (on the same inputs), or report a finished run.

A resume continues exactly only on the data the checkpoint was trained on (`check_same_inputs`); settings that
change results are reported (`config_changes`); a rerun of a DONE run touches nothing and names what differs
(`report_done_rerun`); what a killed run left half-written is removed on restart (`remove_debris`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from babybias.errors import BabybiasError
from babybias.runs import RunDir


def rerun_changes(run_dir: RunDir, cfg: Any, requested_seed: int | None) -> dict[str, list[Any]]:
    """The result-changing settings of `cfg` that differ from the run's saved config ({} when none, or when it has
    none), less those a rerun may leave open: the seed under `seed=null`, the step count of an epoch-based run."""
    from babybias.errors import IntegrityError

    try:
        changes = config_changes(run_dir, cfg)
    except IntegrityError:
        changes = {}
    if requested_seed is None:  # seed=null asks for any seed, not for another one
        changes.pop("seed", None)
    if getattr(getattr(cfg, "train", None), "epochs", None) is not None:  # steps follow from epochs once packed
        changes.pop("train.steps", None)
    return changes


def report_done_rerun(run_dir: RunDir, cfg: Any, requested_seed: int | None) -> None:
    """The rerun of a finished run does nothing; say so, naming the settings that differ from the finished run's."""
    changes = rerun_changes(run_dir, cfg, requested_seed)
    if not changes:
        print(f"{run_dir.path} is already DONE; skipping (force=true runs it again)")
        return
    listed = "; ".join(f"{k}: {old!r} (finished run) vs {new!r} (now)" for k, (old, new) in changes.items())
    print(f"warning: {run_dir.path} is already DONE with other settings ({listed}); skipping, the finished run is "
          "left as it is: choose another name= for the new settings, or force=true to redo this run with them")


def check_done_parent(run_dir: RunDir, init_from: str, init_sha256: str | None) -> None:
    """A finished continued-pretraining run belongs to the weights it started from: when `init_from` now holds
    other weights (the parent was retrained under the same name), skipping the rerun would keep numbers of the old
    parent under the new one's name, so it is refused."""
    meta_path = run_dir.path / "meta.json"
    try:
        recorded = json.loads(meta_path.read_text()).get("inputs", {}).get("init_weights_sha256")
    except (OSError, ValueError, AttributeError):
        return
    if recorded and init_sha256 and recorded != init_sha256:
        raise BabybiasError(f"{run_dir.path} is DONE, but it was continued from other weights than init_from="
                            f"{init_from} holds now (sha256 {recorded[:12]}... then, {init_sha256[:12]}... now: "
                            "the model it started from was retrained)",
                            fix="force=true redoes it from the current weights (or choose another name=)")


def remove_debris(run_dir: RunDir) -> None:
    """What a killed run left (temporary `.step-*`, `.model.*`, `.*.tmp-*` folders and files) goes on restart."""
    from babybias.integrity import remove_stale_temporaries

    for folder in (run_dir.path, run_dir.path / "checkpoints", run_dir.path / "data_order"):
        removed = remove_stale_temporaries(folder)
        if removed:
            print(f"removed {len(removed)} temporary item(s) left by an interrupted run in {folder}: "
                  f"{', '.join(p.name for p in removed[:3])}{', ...' if len(removed) > 3 else ''}")


# init_weights_sha256: the weights `init_from` held when a continued pretraining (e.g. debias=cda) started
INPUT_KEYS = ("corpus_key", "tokenizer_key", "tokenizer_sha256", "init_weights_sha256")


def check_same_inputs(checkpoint: Path, inputs: dict) -> None:
    """Refuse to resume on other data than the checkpoint was trained on (changed source text, corpus options or
    tokenizer: other sentences or other token ids), before anything of the run directory is changed."""
    from babybias.train.checkpoint import read_state

    saved = read_state(checkpoint)
    diffs = [f"{key} {saved[key]} -> {inputs[key]}" for key in INPUT_KEYS
             if saved.get(key) is not None and inputs.get(key) is not None and saved[key] != inputs[key]]
    if diffs:
        raise BabybiasError(f"checkpoint {checkpoint} was trained on other inputs than this config gives now "
                            f"({'; '.join(diffs)}): the corpus sources, corpus options, tokenizer or the weights of "
                            "init_from changed",
                            fix="resume=false starts the run over on the current inputs (or restore the original "
                                "sources and settings to resume)")


# Settings a resume may change without changing results: speed (impl), logging, and where things live.
RESUME_NEUTRAL = ("impl", "wandb", "resume", "force", "paths", "data")


def config_changes(run_dir: RunDir, cfg: Any) -> dict[str, list[Any]]:
    """Result-changing settings that differ between the run's saved config.yaml and `cfg`: {dotted key: [old, new]}.
    The `debias.*` recipe settings of a run without debiasing (debias.method none, then and now) change nothing."""
    from babybias.runs import to_jsonable

    if not (run_dir.path / "config.yaml").exists():
        return {}
    old = _flatten(run_dir.read_config())
    new = _flatten(to_jsonable(cfg))
    plain = old.get("debias.method", "none") == new.get("debias.method", "none") == "none"
    keys = sorted(set(old) | set(new))
    return {k: [old.get(k), new.get(k)] for k in keys
            if k.split(".")[0] not in RESUME_NEUTRAL and old.get(k) != new.get(k)
            and not (plain and k.startswith("debias."))}


def _flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(tree, dict):
        out: dict[str, Any] = {}
        for key, value in tree.items():
            out.update(_flatten(value, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: tree}
