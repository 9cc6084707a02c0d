"""Overrides shared by the evaluate tests (a uniquely named module: see tests/train/train_helpers.py)."""

from __future__ import annotations

from pathlib import Path


def overrides(run: Path, data_root: Path, *extra: str) -> list[str]:
    runs_root = run.parent.parent
    return [f"run={run}", f"data.root={data_root}", "data.verify=false", "data.mirror=null",
            "impl.device=cpu", "impl.eval_batch_size=64", f"paths.runs={runs_root}", "blimp.limit=1",
            "pppl.max_texts=5", *extra]
