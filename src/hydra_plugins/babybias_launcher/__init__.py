"""babybias's Hydra launchers (`hydra/launcher=slurm|slurm_gpu|local`).

Hydra instantiates launchers only from the `hydra_plugins` namespace, so the classes are declared here; their
behaviour lives in `babybias.launch.submitit_launcher`.
"""

from hydra_plugins.hydra_submitit_launcher import submitit_launcher as _stock

from babybias.launch.submitit_launcher import SweepLauncherMixin


class SlurmLauncher(SweepLauncherMixin, _stock.SlurmLauncher):
    """submitit's Slurm launcher + detached mode, jobs.json, DONE skipping, requeue on preemption."""


class LocalLauncher(SweepLauncherMixin, _stock.LocalLauncher):
    """submitit's local launcher + the same jobs.json / DONE skipping (no Slurm needed)."""
