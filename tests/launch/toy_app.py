"""A stand-in Hydra command with pretraining's run protocol, to test the launchers without training a model.

Like `babybias pretrain`: writes runs/<name>/<override_dirname>/toy/, skips a DONE run, resumes from its
checkpoint, and on SIGTERM/SIGUSR1 finishes the current step, saves a checkpoint and exits with
PREEMPTED_EXIT_CODE. Its result (a hash chain over the steps) is the same whether or not it was interrupted,
so a test can compare a preempted-and-requeued run with an uninterrupted one.

    python tests/launch/toy_app.py -m seed=0,1 hydra/launcher=slurm
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import hydra
from hydra.core.config_store import ConfigStore

from babybias.configs import register_all
from babybias.configs.common import DataConfig, PathsConfig, WandbConfig
from babybias.runs import atomic_write_json, run_dir_for

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"


@dataclass
class ToyConfig:
    command: str = "toy"
    name: str = "toy"
    seed: int = 0
    steps: int = 20
    step_seconds: float = 0.1
    fail_once: bool = False
    """Raise on the first attempt (to test `babybias status --resubmit`)."""
    wandb: WandbConfig = field(default_factory=lambda: WandbConfig(mode="disabled"))
    data: DataConfig = field(default_factory=DataConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)


def advance(value: int, step: int) -> int:
    return (value * 1_000_003 + step) % 2_147_483_647


def run(cfg: ToyConfig) -> int:
    from babybias.train.signals import PREEMPTED_EXIT_CODE, StopRequest

    run_dir = run_dir_for(cfg.paths.runs, cfg.name, cfg.command).create()
    if run_dir.done:
        print(f"{run_dir.path} is DONE: skipped")
        return json.loads((run_dir / "result.json").read_text())["value"]
    if cfg.fail_once and not (run_dir / "failed_once").exists():
        (run_dir / "failed_once").touch()
        raise RuntimeError("failing once, as asked (fail_once=true)")
    ckpt = run_dir / "checkpoint.json"
    state = json.loads(ckpt.read_text()) if ckpt.exists() else {"step": 0, "value": cfg.seed}
    run_dir.log({"event": "start", "step": state["step"], "pid": os.getpid(),
                 "restart": int(os.environ.get("SLURM_RESTART_COUNT", "0"))})
    with StopRequest() as stop:
        while state["step"] < cfg.steps:
            time.sleep(cfg.step_seconds)
            state = {"step": state["step"] + 1, "value": advance(state["value"], state["step"])}
            run_dir.log({"step": state["step"], "pid": os.getpid()})
            if stop.requested:
                atomic_write_json(ckpt, state)
                run_dir.log({"event": "preempted", "step": state["step"], "signal": stop.signum})
                raise SystemExit(PREEMPTED_EXIT_CODE)
    # what a command would hand to wandb.init (the launcher may have made an online run offline), and the
    # threads a command would run on (the local launcher divides the CPUs among the jobs it starts together)
    from babybias.hardware import choose_threads

    atomic_write_json(run_dir / "result.json", {**state, "wandb_env": os.environ.get("WANDB_MODE"),
                                                "threads": choose_threads(None).as_dict()})
    run_dir.mark_done(state)
    return state["value"]


def main() -> None:
    register_all()
    ConfigStore.instance().store(name="toy_schema", node=ToyConfig)
    ConfigStore.instance().store(name="toy", node={
        "defaults": ["toy_schema", "_self_"],
        "hydra": {
            "searchpath": [f"file://{CONF_DIR}"],
            "run": {"dir": "${paths.runs}/${name}/toy"},
            "sweep": {"dir": "${paths.runs}/sweeps/toy_${now:%Y%m%d-%H%M%S}", "subdir": "${hydra.job.num}"},
            "job": {"config": {"override_dirname": {"exclude_keys": [
                "name", "hydra/launcher", "hydra.launcher.wait", "steps", "step_seconds", "fail_once", "wandb.mode"]}}},
        },
    })

    def task(cfg) -> int:
        from omegaconf import OmegaConf

        return run(OmegaConf.to_object(cfg))

    hydra.main(version_base="1.3", config_path=None, config_name="toy")(task)()


if __name__ == "__main__":
    sys.exit(main())
