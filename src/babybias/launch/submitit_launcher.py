"""What babybias adds to hydra-submitit-launcher: detached sweeps, jobs.json, DONE skipping, requeue on preemption.

The launcher classes Hydra instantiates live in `hydra_plugins.babybias_launcher` (Hydra only loads launchers
from that namespace); they mix `SweepLauncherMixin` into the stock submitit launchers.

Preemption protocol (on a Slurm compute node): the pretraining loop turns SIGTERM/SIGUSR1 into "finish the
step, save a checkpoint, stop" and leaves with `Preempted` / exit status `PREEMPTED_EXIT_CODE`. The job then
asks Slurm to requeue itself (`scontrol requeue`); the requeued job reruns the same pickled call, and the
command resumes from the checkpoint in its run directory. Commands without their own handler fall back on
submitit's: its SIGUSR1 handler (we make submitit use USR1, not its default USR2, so Slurm's
`--signal=USR1@<signal_delay_s>` before the time limit reaches the training loop) requeues the same call.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any, Iterator, List, Optional, Sequence

# submitit reads the preemption signal's name when it is imported; jobs inherit this through sbatch.
os.environ.setdefault("SUBMITIT_PREEMPT_SIGNAL", "USR1")

from hydra.core.singleton import Singleton  # noqa: E402
from hydra.core.utils import JobReturn, JobStatus, filter_overrides  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

from babybias.launch import jobs as jobs_file  # noqa: E402

log = logging.getLogger(__name__)

OUR_KEYS = ("wait", "skip_done", "wandb_mode", "max_requeues")


def preempted_exit_code() -> int:
    from babybias.train.signals import PREEMPTED_EXIT_CODE

    return PREEMPTED_EXIT_CODE


def _submitted() -> JobReturn:
    """What a detached launch reports to Hydra's sweeper for each job: submitted, no value (yet)."""
    ret = JobReturn(status=JobStatus.COMPLETED)
    ret.return_value = None
    return ret


def _wait_for(job: Any) -> JobReturn:
    """The job's JobReturn; a failed job becomes a FAILED JobReturn, so Hydra reports it as usual."""
    if job is None:  # skipped: DONE already
        return _submitted()
    try:
        return job.results()[0]
    except Exception as err:  # submitit.core.utils.FailedJobError/UncompletedJobError carry the traceback
        ret = JobReturn(status=JobStatus.FAILED)
        ret.return_value = err
        return ret


def _is_preemption(outcome: Any) -> bool:
    """A job that stopped to be resumed: SystemExit(PREEMPTED_EXIT_CODE) or a `Preempted` exception."""
    if isinstance(outcome, SystemExit):
        return outcome.code == preempted_exit_code()
    return isinstance(outcome, BaseException) and type(outcome).__name__ == "Preempted"


def check_distinct_run_dirs(planned: Sequence[dict], excluded_keys: Sequence[str] = ()) -> None:
    """Refuse a sweep in which two jobs would write one run directory (they would resume, skip or lock out each
    other's run, and the sweep would report one model for two settings): e.g. `impl=cpu,cpu_bf16`, `impl` being left
    out of run-directory names, or a value listed twice."""
    from babybias.errors import BabybiasError

    first: dict = {}
    for entry in planned:
        run_dir = entry.get("run_dir")
        if run_dir is None:
            continue
        other = first.setdefault(run_dir, entry)
        if other is entry:
            continue
        a, b = set(other["overrides"]), set(entry["overrides"])
        differing = sorted({o.partition("=")[0] for o in a ^ b})
        unnamed = [k for k in differing if k.lstrip("+~") in excluded_keys]
        why = (f"{', '.join(unnamed)} {'is' if len(unnamed) == 1 else 'are'} not part of sweep run-directory names"
               if unnamed else "their overrides name the same run")
        raise BabybiasError(
            f"sweep jobs #{other['num']} ({' '.join(other['overrides'])}) and #{entry['num']} "
            f"({' '.join(entry['overrides'])}) would both write {run_dir} ({why})",
            fix="sweep each value in a command of its own with its own name=, and list each value once")


class SweepLauncherMixin:
    """Mixed into submitit's SlurmLauncher/LocalLauncher (`params` and `_EXECUTOR` come from there)."""

    _EXECUTOR: str

    def __init__(self, **params: Any) -> None:
        ours = {k: params.pop(k) for k in OUR_KEYS if k in params}
        super().__init__(**params)  # type: ignore[call-arg]
        self.wait: bool = bool(ours.get("wait", True))
        self.skip_done: bool = bool(ours.get("skip_done", True))
        self.wandb_mode: Optional[str] = ours.get("wandb_mode", "offline")
        self.max_requeues: int = int(ours.get("max_requeues", 0))

    # ------------------------------------------------------------------ on the submitting machine
    def _executor(self) -> Any:
        """A submitit executor with this launcher's parameters (same mapping as the stock launcher)."""
        import submitit
        from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf

        params = dict(self.params)  # type: ignore[attr-defined]
        folder = params.pop("submitit_folder")
        init = {}
        if "max_num_timeout" in params:
            init[f"{self._EXECUTOR}_max_num_timeout"] = params.pop("max_num_timeout")
        if self._EXECUTOR == "slurm":
            # jobs must see the same preemption signal as the sbatch header submitit writes
            exports = [f"export SUBMITIT_PREEMPT_SIGNAL={os.environ['SUBMITIT_PREEMPT_SIGNAL']}"]
            params["setup"] = exports + list(params.get("setup") or [])
        executor = submitit.AutoExecutor(cluster=self._EXECUTOR, folder=folder, **init)
        common = set(OmegaConf.structured(BaseQueueConf).keys())
        executor.update_parameters(
            **{k if k in common else f"{self._EXECUTOR}_{k}": v for k, v in params.items() if v is not None}
        )
        return executor

    @contextlib.contextmanager
    def _cpu_sharing(self, n_jobs: int) -> Iterator[None]:
        """Local jobs all start at once on this machine: tell them how many share its CPUs, so each runs on its
        share of threads (`babybias.hardware.choose_threads`). Slurm gives every job its own CPUs instead."""
        if self._EXECUTOR != "local":
            yield
            return
        from babybias.hardware import LOCAL_JOBS_ENV

        processes = n_jobs * int(self.params.get("tasks_per_node") or 1)  # type: ignore[attr-defined]
        before = os.environ.get(LOCAL_JOBS_ENV)
        os.environ[LOCAL_JOBS_ENV] = str(max(1, processes))  # submitit copies os.environ into each job
        try:
            yield
        finally:
            if before is None:
                os.environ.pop(LOCAL_JOBS_ENV, None)
            else:
                os.environ[LOCAL_JOBS_ENV] = before

    def _sweep_config(self, overrides: Sequence[str], job_num: int) -> Any:
        from omegaconf import open_dict

        cfg = self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))  # type: ignore
        with open_dict(cfg.hydra.job):
            cfg.hydra.job.num = job_num
        return cfg

    def _plan(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int, sweep_dir: Path):
        """(jobs.json entries, submitit argument tuples of the jobs to submit): DONE runs are left out, unless the
        job asks for `force=true` (it runs again) or is a study (it re-tabulates with the settings asked for now)."""
        planned: List[dict] = []
        to_submit: List[tuple] = []
        for offset, overrides in enumerate(job_overrides):
            num = initial_job_idx + offset
            cfg = self._sweep_config(overrides, num)
            run_dir = jobs_file.run_dir_of(cfg)
            forced = bool(OmegaConf.select(cfg, "force", default=False))
            entry = {"num": num, "overrides": list(overrides), "run_dir": str(run_dir) if run_dir else None,
                     "output_dir": str(sweep_dir / str(cfg.hydra.sweep.subdir)), "job_id": None}
            if forced:
                entry["force"] = True
            shown = " ".join(filter_overrides(overrides))
            skippable = not forced and OmegaConf.select(cfg, "command", default=None) != "study"
            if self.skip_done and skippable and run_dir is not None and (run_dir / "DONE").exists():
                entry["skipped"] = "DONE"
                log.info(f"\t#{num} : {shown}  (DONE already: skipped)")
            else:
                log.info(f"\t#{num} : {shown}")
                to_submit.append((list(overrides), "hydra.sweep.dir", num, f"job_id_for_{num}", Singleton.get_state()))
            planned.append(entry)
        check_distinct_run_dirs(planned, self._excluded_keys())
        return planned, to_submit

    def _excluded_keys(self) -> List[str]:
        """The override keys left out of sweep run-directory names (hydra.job.config.override_dirname)."""
        keys = OmegaConf.select(self.config, "hydra.job.config.override_dirname.exclude_keys", default=None)  # type: ignore
        return [str(k) for k in keys or []]

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        assert self.config is not None  # type: ignore[attr-defined]
        sweep_dir = Path(str(self.config.hydra.sweep.dir)).absolute()  # type: ignore[attr-defined]
        sweep_dir.mkdir(parents=True, exist_ok=True)
        planned, to_submit = self._plan(job_overrides, initial_job_idx, sweep_dir)
        with self._cpu_sharing(len(to_submit)):
            submitted = self._executor().map_array(self, *zip(*to_submit)) if to_submit else []
        by_num = {args[2]: job for args, job in zip(to_submit, submitted)}
        for entry in planned:
            job = by_num.get(entry["num"])
            if job is not None:
                entry["job_id"] = str(job.job_id)
                entry["submitted_at"] = time.time()
                entry.update(jobs_file.submitit_paths(job))
        jobs_file.record(
            sweep_dir,
            planned,
            cluster=self._EXECUTOR,
            executor_params=jobs_file.jsonable(self.params),  # type: ignore[attr-defined]
            launcher={"wait": self.wait, "max_requeues": self.max_requeues, "wandb_mode": self.wandb_mode},
            argv=sys.argv,
            cwd=os.getcwd(),
        )
        log.info(f"Submitit '{self._EXECUTOR}' sweep: {len(submitted)} job(s) submitted; see {sweep_dir}/jobs.json")
        if not self.wait:
            log.info(f"detached: `babybias status {sweep_dir}` shows their state")
            return [_submitted() for _ in planned]
        return [_wait_for(by_num.get(entry["num"])) for entry in planned]

    # ------------------------------------------------------------------ on the compute node
    def __call__(self, *args: Any, **kwargs: Any) -> JobReturn:
        sweep_overrides, singleton_state = list(args[0]), args[4]  # as the launcher's launch() passes them
        Singleton.set_state(singleton_state)  # Hydra's config sources, before composing anything here
        self._wandb_on_node(sweep_overrides)
        if self._EXECUTOR == "slurm":
            self._export_torch_distributed()
        try:
            ret = super().__call__(*args, **kwargs)  # type: ignore[misc]
        except SystemExit as stop:
            if _is_preemption(stop):
                self._requeue_or_give_up()
            raise
        if ret.status == JobStatus.FAILED:
            if _is_preemption(ret._return_value):
                self._requeue_or_give_up()
            # fail the Slurm job itself, so squeue/sacct and `babybias status` say FAILED, not COMPLETED
            raise ret._return_value
        return ret

    def _wandb_on_node(self, overrides: List[str]) -> None:
        """A run configured wandb online goes offline here (compute nodes often have no network), unless
        WANDB_MODE is exported explicitly; `babybias sync <sweep dir>` uploads it later. Disabled stays disabled."""
        if not self.wandb_mode or "WANDB_MODE" in os.environ:
            return
        cfg = self.hydra_context.config_loader.load_sweep_config(self.config, overrides)  # type: ignore
        if OmegaConf.select(cfg, "wandb.mode", default=None) == "online":
            os.environ["WANDB_MODE"] = self.wandb_mode
            log.info(f"wandb: online -> {self.wandb_mode} on this node (hydra.launcher.wandb_mode)")

    @staticmethod
    def _export_torch_distributed() -> None:
        """With several Slurm tasks (e.g. tasks_per_node = GPUs per node), set RANK, WORLD_SIZE, LOCAL_RANK,
        MASTER_ADDR/PORT as torchrun would, so the command's DDP setup (env://) works unchanged."""
        import submitit

        if submitit.JobEnvironment().num_tasks > 1:
            # each rank picks its GPU from LOCAL_RANK (impl.device), so CUDA_VISIBLE_DEVICES stays as Slurm set it
            submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False)

    def _requeue_or_give_up(self) -> None:
        """Requeue this Slurm job (it resumes from its checkpoint) and leave; elsewhere just leave."""
        if self._EXECUTOR != "slurm":
            log.warning("preempted outside Slurm: rerun the sweep to resume (DONE runs are skipped)")
            raise SystemExit(preempted_exit_code())
        restarts = int(os.environ.get("SLURM_RESTART_COUNT", "0"))
        if restarts >= self.max_requeues:
            log.error(f"preempted, but already requeued {restarts} times (max_requeues={self.max_requeues})")
            raise SystemExit(preempted_exit_code())
        import subprocess

        import submitit

        env = submitit.JobEnvironment()
        if env.global_rank != 0:  # every rank stops; one asks Slurm to requeue the job
            raise SystemExit(preempted_exit_code())
        job_id = env.job_id  # "<array>_<task>" for array jobs
        log.warning(f"preempted: requeueing Slurm job {job_id} (restart {restarts + 1}/{self.max_requeues})")
        sys.stdout.flush()
        sys.stderr.flush()
        subprocess.run(["scontrol", "requeue", job_id], check=False, timeout=60)
        raise SystemExit(preempted_exit_code())
