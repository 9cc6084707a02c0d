"""`babybias rerun <run dir> [overrides...]`: rerun any run from its saved, fully resolved config.yaml.

The saved config becomes the primary config, on top of the command's schema (so overrides are type-checked)
and under the command's own Hydra settings (run directory, sweep directory). Value overrides (`name=again`,
`seed=1`, `train.steps=50`) and group overrides (`impl=gpu_bf16`) apply on top of the saved values; `-m` sweeps
work as usual. With the same name the run is found DONE and skipped: pass a new `name=` (or `force=true`).
"""

from __future__ import annotations

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
    saved = OmegaConf.load(config_file)
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
    doc = {"defaults": defaults, **OmegaConf.to_container(saved), "hydra": hydra_cfg}
    with tempfile.TemporaryDirectory(prefix="babybias-rerun-") as tmp:
        (Path(tmp) / "rerun.yaml").write_text(OmegaConf.to_yaml(OmegaConf.create(doc)), encoding="utf-8")
        run_hydra_command(command, args[1:], config_path=tmp, config_name="rerun")
