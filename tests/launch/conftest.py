"""Fixtures for the launcher tests: a real single-node Slurm (scripts/slurm_local.sh) and sweep helpers."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SLURM_SCRIPT = REPO / "scripts" / "slurm_local.sh"


@pytest.fixture(scope="session")
def slurm_cluster():
    """A running single-node Slurm; started (and stopped at the end) by scripts/slurm_local.sh.

    Skips, saying why, only where the cluster cannot be started: not root, or the Debian packages
    cannot be installed. A cluster that was already up before the tests is left running.
    """
    if os.geteuid() != 0:
        pytest.skip("needs root: scripts/slurm_local.sh starts munged, slurmctld and slurmd")
    was_up = subprocess.run([str(SLURM_SCRIPT), "status"], capture_output=True).returncode == 0
    t = time.time()
    out = subprocess.run([str(SLURM_SCRIPT), "start"], capture_output=True, text=True)
    if out.returncode != 0:
        if "could not install" in out.stderr:
            pytest.skip(f"Slurm packages could not be installed: {out.stderr.strip()}")
        pytest.fail(f"scripts/slurm_local.sh start failed:\n{out.stderr}")
    print(f"slurm up in {time.time() - t:.1f} s")
    yield
    if not was_up:
        subprocess.run([str(SLURM_SCRIPT), "stop"], capture_output=True, text=True)
