"""Schemas of the project's Hydra launchers (`hydra/launcher=slurm|slurm_gpu|local`).

They extend hydra-submitit-launcher's `submitit_slurm` / `submitit_local` schemas with what babybias adds:
detached submission (`wait`), requeueing of preempted runs (`max_requeues`) and the wandb mode of jobs.
The YAML files in conf/hydra/launcher/ pick one of these as their first default, so a misspelt launcher key
fails at composition time like any other override.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from hydra_plugins.hydra_submitit_launcher.config import LocalQueueConf, SlurmQueueConf

SLURM_TARGET = "hydra_plugins.babybias_launcher.SlurmLauncher"
LOCAL_TARGET = "hydra_plugins.babybias_launcher.LocalLauncher"


@dataclass
class LaunchOptions:
    """What babybias adds to every submitit launcher."""

    wait: bool = True
    """false = submit the array, write <sweep dir>/jobs.json and return (see `babybias status <sweep dir>`)."""
    skip_done: bool = True
    """Do not submit jobs whose run directory already holds DONE (a rerun of a sweep only does what is left)."""
    wandb_mode: Optional[str] = "offline"
    """Runs configured `wandb=online` log in this mode on the nodes (they often have no network; upload later
    with `babybias sync <sweep dir>`), unless WANDB_MODE is exported; null = leave them online."""


@dataclass
class BabybiasSlurmConf(SlurmQueueConf, LaunchOptions):
    _target_: str = SLURM_TARGET
    max_requeues: int = 20
    """A preempted or timed-out run is requeued at most this many times (Slurm's SLURM_RESTART_COUNT)."""
    # submitit's own limit on timeouts, for jobs without our preemption protocol (e.g. no checkpoint support)
    max_num_timeout: int = 20


@dataclass
class BabybiasLocalConf(LocalQueueConf, LaunchOptions):
    _target_: str = LOCAL_TARGET


def register(cs) -> None:
    """Store the launcher schemas in the `hydra/launcher` group (conf/hydra/launcher/*.yaml extend them)."""
    cs.store(group="hydra/launcher", name="babybias_slurm_schema", node=BabybiasSlurmConf, provider="babybias")
    cs.store(group="hydra/launcher", name="babybias_local_schema", node=BabybiasLocalConf, provider="babybias")
