"""A small data root (a few rows of the real benchmark files) and a tiny saved pretrain run."""

from __future__ import annotations

from pathlib import Path

import pytest

from babybias.scoring.testing import save_tiny_run


def _head(src: Path, dst: Path, n_lines: int) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    lines = src.read_text(encoding="utf-8").splitlines(keepends=True)
    dst.write_text("".join(lines[:n_lines]), encoding="utf-8")


@pytest.fixture(scope="session")
def small_data(shared_data, tmp_path_factory) -> Path:
    """CrowS-Pairs (8 pairs) and StereoSet (20 lines) cut from the real files; SEAT and BLiMP linked whole.

    Cut files fail the checksums, so tests compose with `data.verify=false` (presence is still checked).
    """
    root = tmp_path_factory.mktemp("data")
    _head(shared_data / "crows_pairs" / "crows_pairs_anonymized.csv", root / "crows_pairs" / "crows_pairs_anonymized.csv", 9)
    _head(shared_data / "stereoset" / "stereoset_dev_flat.jsonl", root / "stereoset" / "stereoset_dev_flat.jsonl", 20)
    for name in ("seat", "blimp"):
        (root / name).symlink_to(shared_data / name, target_is_directory=True)
    return root


@pytest.fixture()
def tiny_run(tmp_path) -> Path:
    """runs/toy/pretrain with checkpoints at steps 0, 50, 100 and model/ (= step 100)."""
    return save_tiny_run(tmp_path / "runs" / "toy" / "pretrain", steps=(0, 50, 100))
