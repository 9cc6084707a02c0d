"""Launcher pieces that need no Slurm: run states, jobs.json, launcher configs, wandb sync, the local launcher."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from launch_helpers import latest_sweep, run_sweep

from babybias.errors import BabybiasError
from babybias.launch import jobs as jobs_file
from babybias.launch.state import derive_state


@pytest.mark.parametrize("done,slurm,result,expected", [
    (True, "FAILED", "error", "DONE"),            # the run directory is the truth
    (False, "PENDING", None, "queued"),
    (False, "REQUEUED", None, "queued"),          # preempted and waiting to resume
    (False, "RUNNING", None, "running"),
    (False, "CANCELLED by 0", None, "failed"),    # sacct's wording
    (False, "TIMEOUT", None, "failed"),
    (False, "COMPLETED", "error", "failed"),      # Hydra caught the task's exception
    (False, "COMPLETED", "success", "completed"),  # a command that writes no DONE
    (False, None, None, "unknown"),               # Slurm forgot it and there is no result
])
def test_derive_state(done, slurm, result, expected):
    assert derive_state(done, slurm, result)[0] == expected


def test_jobs_json_merges_by_job_number_and_keeps_history(tmp_path):
    jobs_file.record(tmp_path, [{"num": 0, "job_id": "7_0"}, {"num": 1, "job_id": "7_1"}], cluster="slurm")
    jobs_file.record(tmp_path, [{"num": 1, "job_id": "9"}])
    data = jobs_file.read(tmp_path)
    assert [e["job_id"] for e in data["jobs"]] == ["7_0", "9"]
    assert data["jobs"][1]["history"] == ["7_1"] and data["cluster"] == "slurm"
    with pytest.raises(BabybiasError, match="no jobs.json in .*elsewhere"):
        jobs_file.read(tmp_path / "elsewhere")


def _launcher_cfg(*overrides):
    from hydra import compose, initialize_config_dir

    from babybias.cli import config_dir
    from babybias.configs import register_all

    register_all()
    with initialize_config_dir(version_base="1.3", config_dir=str(config_dir())):
        return compose("pretrain", overrides=list(overrides), return_hydra_config=True).hydra.launcher


def test_launcher_configs_compose_and_are_typed():
    slurm = _launcher_cfg("hydra/launcher=slurm", "hydra.launcher.partition=gpu", "hydra.launcher.wait=false")
    assert slurm._target_ == "hydra_plugins.babybias_launcher.SlurmLauncher"
    assert slurm.partition == "gpu" and slurm.wait is False and slurm.wandb_mode == "offline"
    assert _launcher_cfg("hydra/launcher=slurm_gpu").gpus_per_node == 1
    assert _launcher_cfg("hydra/launcher=local")._target_.endswith("LocalLauncher")
    with pytest.raises(Exception, match="wait"):
        _launcher_cfg("hydra/launcher=slurm", "hydra.launcher.wait=maybe")
    with pytest.raises(Exception, match="partitoin"):
        _launcher_cfg("hydra/launcher=slurm", "hydra.launcher.partitoin=gpu")


def test_sync_finds_offline_runs_and_explains_a_failed_upload(tmp_path, monkeypatch, capsys):
    from babybias.commands import sync

    for run in ("a", "b"):
        (tmp_path / "runs" / run / "pretrain" / "wandb" / "offline-run-2026_x").mkdir(parents=True)
    (tmp_path / "runs" / "a" / "pretrain" / "wandb" / "run-online").mkdir()
    jobs_file.record(tmp_path / "sweep", [{"num": i, "run_dir": str(tmp_path / "runs" / r / "pretrain")}
                                          for i, r in enumerate("ab")])
    assert len(sync.offline_runs(sync.search_roots(tmp_path / "sweep"))) == 2
    sync.main([str(tmp_path / "sweep"), "--dry-run"])
    assert "2 offline run(s)" in capsys.readouterr().out

    fake = tmp_path / "wandb"
    fake.write_text("#!/bin/sh\necho \"$@\" > " + str(tmp_path / "args") + "\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setattr(sync, "wandb_command", lambda: [str(fake), "sync"])
    with pytest.raises(BabybiasError, match="no network, or not logged in"):
        sync.main([str(tmp_path / "sweep")])
    assert (tmp_path / "args").read_text().count("offline-run-2026_x") == 2


@pytest.mark.slow
def test_local_launcher_runs_the_sweep_and_a_rerun_skips_done_runs(tmp_path):
    t = time.time()
    from babybias.hardware import usable_cpus

    run_sweep(tmp_path, "seed=0,1", "steps=3", "step_seconds=0.01", "hydra/launcher=local")
    for seed in (0, 1):
        assert (tmp_path / "runs" / "toy" / f"seed={seed}" / "toy" / "DONE").exists()
        # two jobs at once: each gets half the CPUs (never two threads each on two cores)
        threads = json.loads((tmp_path / "runs" / "toy" / f"seed={seed}" / "toy" / "result.json").read_text())["threads"]
        assert threads["threads"] == max(1, usable_cpus() // 2) and "/ 2 local jobs" in threads["reason"]
    first = json.loads((latest_sweep(tmp_path) / "jobs.json").read_text())
    assert first["cluster"] == "local" and all(e["job_id"] for e in first["jobs"])
    time.sleep(1.1)  # sweep dirs are named by the second
    run_sweep(tmp_path, "seed=0,1,2", "steps=3", "step_seconds=0.01", "hydra/launcher=local")
    rerun = json.loads((latest_sweep(tmp_path) / "jobs.json").read_text())
    assert [e.get("skipped") for e in rerun["jobs"]] == ["DONE", "DONE", None]
    assert Path(rerun["jobs"][2]["run_dir"], "DONE").exists()
    alone = json.loads(Path(rerun["jobs"][2]["run_dir"], "result.json").read_text())["threads"]
    assert alone["threads"] == usable_cpus()  # the only job started: all the CPUs
    print(f"local sweeps: {time.time() - t:.1f} s")
