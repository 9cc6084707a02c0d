"""Helpers for the launcher tests: run the toy sweep app and `babybias status` in a subprocess, poll."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

TOY_APP = Path(__file__).resolve().parent / "toy_app.py"


def run_sweep(cwd: Path, *overrides: str, timeout: float = 240) -> subprocess.CompletedProcess:
    """`python tests/launch/toy_app.py -m <overrides>` in `cwd` (runs/ and the sweep dir go there)."""
    env = {k: v for k, v in os.environ.items() if k != "WANDB_MODE"}  # the toy app never starts wandb
    env["BABYBIAS_RUNS"] = str(cwd / "runs")
    out = subprocess.run([sys.executable, str(TOY_APP), "-m", *overrides], cwd=cwd, env=env,
                         capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, out.stdout + out.stderr
    return out


def babybias(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    out = subprocess.run([sys.executable, "-m", "babybias.cli", *args], cwd=cwd, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    return out


def latest_sweep(cwd: Path) -> Path:
    sweeps = sorted((cwd / "runs" / "sweeps").iterdir(), key=lambda p: p.stat().st_mtime)
    return sweeps[-1]


def status_json(cwd: Path, sweep: Path, *extra: str) -> dict:
    return json.loads(babybias(cwd, "status", str(sweep), "--json", *extra).stdout)


def wait_for(predicate, timeout: float, what: str, interval: float = 0.5):
    end = time.time() + timeout
    while time.time() < end:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
