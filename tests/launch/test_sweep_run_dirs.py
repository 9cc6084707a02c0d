"""Run directories of sweep jobs: a chained command inside a `-m` job, and what jobs.json records for each job."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest


@contextlib.contextmanager
def sweep_job(command: str, overrides: list[str], job_num: int = 0):
    """Make Hydra's config of job `job_num` of `babybias <command> -m <overrides>` current, as on a compute node."""
    from hydra import compose, initialize_config_dir
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    from omegaconf import open_dict

    from babybias.cli import config_dir
    from babybias.configs import register_all

    register_all()
    with initialize_config_dir(version_base="1.3", config_dir=str(config_dir()), job_name=command):
        cfg = compose(command, overrides=overrides, return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.mode = RunMode.MULTIRUN
        cfg.hydra.job.num = job_num
    holder = HydraConfig.instance()
    previous = holder.cfg
    holder.set_config(cfg)
    try:
        yield cfg
    finally:
        holder.cfg = previous


def test_a_study_sent_as_a_sweep_job_trains_each_arm_where_it_then_reads_it(tmp_path, monkeypatch):
    from babybias.commands import pretrain
    from babybias.runs import run_dir_for
    from babybias.studies.arms import pretrain_arm

    written: list[Path] = []
    monkeypatch.setattr(pretrain, "run", lambda cfg, *a: written.append(
        run_dir_for(cfg.paths.runs, cfg.name, "pretrain").path))
    with sweep_job("study", ["experiment=bias_dynamics", "size=tiny", f"paths.runs={tmp_path}"]) as job:
        assert job.hydra.job.override_dirname  # the job has a suffix of its own: runs/<name>/<suffix>/<command>
        read = pretrain_arm(["name=bd/original/seed0", "model=tiny", f"paths.runs={tmp_path}"])
    assert written == [read] == [tmp_path / "bd" / "original" / "seed0" / "pretrain"]
