"""Compose and run a command's config from Python (studies chain commands this way; tests use it too).

`compose_command("pretrain", ["model=tiny", "train.steps=2"])` gives the same typed config that
`babybias pretrain model=tiny train.steps=2` would, and `run_command(...)` runs it in this process.
"""

from __future__ import annotations

import contextlib
import importlib
from typing import Any, Iterator, Sequence


def compose_command(command: str, overrides: Sequence[str] = ()) -> Any:
    """The typed (dataclass) config of `babybias <command> <overrides...>`, without running it."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import OmegaConf

    from babybias.cli import config_dir
    from babybias.configs import register_all

    register_all()
    if GlobalHydra.instance().is_initialized():
        GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(config_dir()), job_name=command):
        cfg = compose(config_name=command, overrides=list(overrides))
    return OmegaConf.to_object(cfg)


def run_command(command: str, overrides: Sequence[str] = ()) -> Any:
    """Compose and run `babybias <command> <overrides...>` in this process; returns what `run` returns."""
    from babybias.cli import COMMANDS
    from babybias.hardware import configure_threads_for

    cfg = compose_command(command, overrides)
    configure_threads_for(cfg)  # as the CLI does: this process's share of the CPUs, or impl.num_threads
    with outside_sweep():
        return importlib.import_module(COMMANDS[command][0]).run(cfg)


@contextlib.contextmanager
def outside_sweep() -> Iterator[None]:
    """Run a chained command as a run of its own, not as a member of the sweep whose job called it.

    In a `-m` job (a study sent to Slurm) Hydra's config of that job is current, and `babybias.runs.run_dir_for`
    would append the job's override suffix to every chained run: the study's arms would be trained into
    runs/<arm>/<suffix>/pretrain while the study evaluates and tabulates runs/<arm>/pretrain, which it names itself.
    """
    from hydra.core.hydra_config import HydraConfig

    holder = HydraConfig.instance()
    previous = holder.cfg
    holder.cfg = None
    try:
        yield
    finally:
        holder.cfg = previous
