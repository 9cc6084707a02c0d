"""Shared fixtures: the offline reference data (../shared/data) and quiet, deterministic test settings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO_ROOT = Path(__file__).resolve().parents[1]


def _shared_data_dir() -> Path | None:
    env = os.environ.get("BABYBIAS_DATA_MIRROR")
    candidates = [Path(env)] if env else []
    candidates.append(REPO_ROOT.parent / "shared" / "data")
    for c in candidates:
        if c.is_dir():
            return c
    return None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The reference-data mirror (../shared/data or $BABYBIAS_DATA_MIRROR); skips only when it is absent."""
    path = _shared_data_dir()
    if path is None:
        pytest.skip("reference data mirror ../shared/data is absent (set BABYBIAS_DATA_MIRROR)")
    return path
