"""`babybias rerun <run dir> [overrides...]`: rerun any run from its saved, fully resolved config.yaml.

The saved config becomes the primary config, on top of the command's schema (so overrides are type-checked)
and under the command's own Hydra settings (run directory, sweep directory). Value overrides (`name=again`,
`seed=1`, `train.steps=50`) and group overrides (`impl=gpu_bf16`) apply on top of the saved values; `-m` sweeps
work as usual. With the same name the run is found DONE and skipped: pass a new `name=` (or `force=true`).

What the saved config leaves to the machine is pinned to what the run used: `impl.device=auto` and
`impl.precision=auto` become the device type and training precision its meta.json records (a bf16 run stays bf16
on a CPU or GPU where `impl=auto` would pick fp32 or fp16); `impl=auto` on the command line lets this machine decide
again. An evaluation folder (`runs/<name>/eval/<checkpoint>/`) reruns that evaluation on that checkpoint
(`force=true` recomputes results that exist).
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from babybias.errors import BabybiasError


def main(args: list[str]) -> None:
    from omegaconf import OmegaConf

    from babybias.cli import COMMANDS, config_dir, run_hydra_command

    usage = "babybias rerun runs/<name>/<command> [overrides...]"
    if not args or "=" in args[0] or args[0].startswith("-"):
        raise BabybiasError("no run directory given", fix=f"use `{usage}`")
    source = Path(args[0])
    config_file = source / "config.yaml" if source.is_dir() else source
    if not config_file.is_file():
        raise BabybiasError(f"{args[0]} holds no config.yaml", fix=f"pass a run directory: `{usage}`")
    saved = _evaluation_config(OmegaConf.to_container(OmegaConf.load(config_file)))
    pinned = _pin_machine_choices(saved, config_file.parent / "meta.json")
    if pinned:
        print(f"rerun: impl=auto pinned to what {config_file.parent} used ({pinned}; meta.json); "
              "pass impl=auto to let this machine choose", file=sys.stderr)
    command = saved.get("command")
    if command not in COMMANDS or not COMMANDS[command][2]:
        raise BabybiasError(f"{config_file} names no babybias command that takes a config (command: {command!r})",
                            fix="pass the config.yaml of a run written by babybias")
    primary = OmegaConf.load(config_dir() / f"{command}.yaml")
    defaults: list = [f"{command}_schema", "_self_"]
    for entry in primary.get("defaults", []):
        if isinstance(entry, str):
            continue
        for key, value in entry.items():
            key = str(key)
            if key.startswith("override "):
                defaults.append({key: value})  # e.g. the command's logging setup
            else:  # a config group: nothing loaded unless the user selects an option, which then wins
                defaults.append({"optional " + key.removeprefix("optional ").strip(): None})
    hydra_cfg = OmegaConf.to_container(primary.get("hydra", {})) or {}
    hydra_cfg["searchpath"] = [f"file://{config_dir()}"]
    doc = {"defaults": defaults, **saved, "hydra": hydra_cfg}
    with tempfile.TemporaryDirectory(prefix="babybias-rerun-") as tmp:
        (Path(tmp) / "rerun.yaml").write_text(OmegaConf.to_yaml(OmegaConf.create(doc)), encoding="utf-8")
        run_hydra_command(command, args[1:], config_path=tmp, config_name="rerun")


def _evaluation_config(saved: dict) -> dict:
    """An evaluation folder's config.yaml is `{evaluate: <config>, checkpoint: <the checkpoint scored>}`: the evaluate
    config, aimed at that checkpoint (not at whatever `run=... checkpoints=final` names today)."""
    inner, checkpoint = saved.get("evaluate"), saved.get("checkpoint")
    if "command" in saved or not isinstance(inner, dict) or inner.get("command") != "evaluate":
        return saved
    if isinstance(checkpoint, dict) and checkpoint.get("path"):
        inner = {**inner, "checkpoint": str(checkpoint["path"]), "run": None, "checkpoints": "final"}
    return inner


def _pin_machine_choices(saved: dict, meta_file: Path) -> str:
    """Replace `impl.device|precision: auto` in `saved` by what meta.json records the run used; returns what was
    pinned ("" if nothing). Only the device type is pinned (`cuda`, not `cuda:3`: each rank picks its own GPU)."""
    impl = saved.get("impl")
    if not isinstance(impl, dict) or not meta_file.is_file():
        return ""
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return ""
    used = {"device": str(meta.get("device") or "").split(":")[0], "precision": str(meta.get("precision") or "")}
    pinned = {}
    for key, value in used.items():
        if impl.get(key) == "auto" and value in ("cpu", "cuda", "fp32", "bf16", "fp16"):
            impl[key] = pinned[key] = value
    return ", ".join(f"impl.{k}={v}" for k, v in pinned.items())
