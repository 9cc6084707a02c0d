"""Sweeps through `hydra/launcher=slurm` on a real single-node Slurm (scripts/slurm_local.sh).

The jobs are tests/launch/toy_app.py: a command with pretraining's run protocol (run dir, DONE, checkpoint,
SIGUSR1 -> checkpoint -> PREEMPTED_EXIT_CODE) whose result has a closed form, so "resumed exactly" is checked
against brute force.
"""

from __future__ import annotations

import json
import subprocess
import time

import pytest
from launch_helpers import babybias, latest_sweep, run_sweep, status_json, wait_for
from toy_app import advance

pytestmark = [pytest.mark.root, pytest.mark.slow]


def expected_value(seed: int, steps: int) -> int:
    value = seed
    for step in range(steps):
        value = advance(value, step)
    return value


def result(run_dir) -> dict:
    return json.loads((run_dir / "result.json").read_text())


def test_sweep_on_slurm_runs_every_job_to_done(slurm_cluster, tmp_path):
    t = time.time()
    run_sweep(tmp_path, "seed=0,1", "steps=5", "step_seconds=0.05", "hydra/launcher=slurm", "wandb.mode=online")
    jobs = json.loads((latest_sweep(tmp_path) / "jobs.json").read_text())
    assert [e["overrides"][0] for e in jobs["jobs"]] == ["seed=0", "seed=1"]
    assert all(e["job_id"] for e in jobs["jobs"]) and jobs["cluster"] == "slurm"
    for seed in (0, 1):
        run_dir = tmp_path / "runs" / "toy" / f"seed={seed}" / "toy"
        assert (run_dir / "DONE").exists()
        assert result(run_dir)["value"] == expected_value(seed, 5)
        assert result(run_dir)["wandb_env"] == "offline"  # wandb=online runs log offline on compute nodes
    print(f"2-job Slurm sweep: {time.time() - t:.1f} s")

    # a rerun submits nothing: both runs are DONE
    out = run_sweep(tmp_path, "seed=0,1", "steps=5", "hydra/launcher=slurm")
    rerun = json.loads((latest_sweep(tmp_path) / "jobs.json").read_text())
    assert [e.get("skipped") for e in rerun["jobs"]] == ["DONE", "DONE"]
    assert all(e["job_id"] is None for e in rerun["jobs"])
    assert "0 job(s) submitted" in out.stdout + out.stderr


def test_detached_sweep_returns_at_once_and_status_follows_it(slurm_cluster, tmp_path):
    t = time.time()
    run_sweep(tmp_path, "seed=2,3", "steps=30", "step_seconds=0.1", "fail_once=false",
              "hydra/launcher=slurm", "hydra.launcher.wait=false")
    submit_s = time.time() - t
    sweep = latest_sweep(tmp_path)
    first = status_json(tmp_path, sweep)["runs"]
    assert {r["state"] for r in first} <= {"queued", "running"}, first  # 3 s of work each: not finished yet
    assert submit_s < 15
    wait_for(lambda: all(r["state"] == "DONE" for r in status_json(tmp_path, sweep)["runs"]), 90, "both DONE")
    table = babybias(tmp_path, "status", str(sweep)).stdout
    assert "2 DONE" in table and "seed=2" in table
    assert result(tmp_path / "runs" / "toy" / "seed=2" / "toy")["wandb_env"] is None  # wandb disabled stays so


def test_status_resubmits_a_failed_run(slurm_cluster, tmp_path):
    run_sweep(tmp_path, "seed=4", "steps=3", "step_seconds=0.05", "fail_once=true", "hydra/launcher=slurm",
              "hydra.launcher.wait=false")
    sweep = latest_sweep(tmp_path)
    runs = wait_for(lambda: [r for r in status_json(tmp_path, sweep)["runs"] if r["state"] == "failed"] or None,
                    60, "the run to fail")
    old_job = runs[0]["job_id"]
    out = status_json(tmp_path, sweep, "--resubmit")
    new_job = out["resubmitted"]["0"]
    assert new_job != old_job
    wait_for(lambda: status_json(tmp_path, sweep)["runs"][0]["state"] == "DONE", 60, "the resubmitted run")
    entry = json.loads((sweep / "jobs.json").read_text())["jobs"][0]
    assert entry["job_id"] == new_job and entry["history"] == [old_job]
    run_dir = tmp_path / "runs" / "toy" / "seed=4" / "toy"
    assert result(run_dir)["value"] == expected_value(4, 3)


def test_preempted_job_is_requeued_and_resumes_exactly(slurm_cluster, tmp_path):
    steps = 40
    run_sweep(tmp_path, "seed=6", f"steps={steps}", "step_seconds=0.1", "hydra/launcher=slurm",
              "hydra.launcher.wait=false")
    sweep = latest_sweep(tmp_path)
    job_id = json.loads((sweep / "jobs.json").read_text())["jobs"][0]["job_id"]
    run_dir = tmp_path / "runs" / "toy" / "seed=6" / "toy"

    def steps_logged() -> int:
        path = run_dir / "metrics.jsonl"
        lines = [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []
        return sum("event" not in x for x in lines)

    wait_for(lambda: steps_logged() >= 5, 60, "the job to be running")
    subprocess.run(["scancel", "--signal=USR1", job_id], check=True)
    wait_for(lambda: (run_dir / "DONE").exists(), 120, "the requeued job to finish")

    events = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    starts = [e for e in events if e.get("event") == "start"]
    preempted = [e for e in events if e.get("event") == "preempted"]
    assert len(preempted) == 1 and preempted[0]["signal"] == 10  # SIGUSR1
    assert len(starts) == 2 and starts[1]["restart"] == 1
    assert starts[1]["step"] == preempted[0]["step"] > 0  # resumed from the checkpoint, not from scratch
    step_numbers = [e["step"] for e in events if "event" not in e]
    assert step_numbers == list(range(1, steps + 1))  # no step lost or repeated
    assert result(run_dir)["value"] == expected_value(6, steps)  # same as an uninterrupted run
