"""Shared helpers of the unlearning tests: overrides for tiny runs, a run's state as comparable values, byte scans."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pandas as pd

from babybias.unlearn import salted
from babybias.unlearn.state import StateStore

# fewer fairness rows (fairlearn's MetricFrame dominates a tiny run's time); every code path still runs
FAST = ["fairness.constituents=false", "fairness.eval_sets=[test]", "fairsisa.methods=[final]",
        "fairsisa.threshold_optimizer=false", "fairsisa.single_model=false", "task.real_comments=false"]


def overrides(runs: Path, shared_data: Path, name: str, *extra: str, cache: str | None = None) -> list[str]:
    return [f"name={name}", "encoder=tinyenc", f"paths.runs={runs}", f"paths.cache={cache or runs / 'cache'}",
            f"data.root={shared_data}", "data.mirror=null", "wandb=off", "task.max_examples=600", "shards=3",
            "slices=2", "sisa.epochs_per_slice=5", "unlearn.requests=3", "unlearn.rounds=2", *extra]


def fast_overrides(runs: Path, shared_data: Path, name: str, *extra: str) -> list[str]:
    """A smaller run with its own feature cache (so one run's purge never touches another's audit)."""
    return overrides(runs, shared_data, name, "task.max_examples=300", "shards=2", "sisa.epochs_per_slice=10",
                     "sisa.lr=0.1", *FAST, *extra, cache=str(runs / f"cache-{name}"))


_CANDIDATES = range(0, 80_000)  # every template id (76,564 rows)


def _unhash(salt: str, hashes: list[str]) -> list[int]:
    return salted.hashed_members(salt, _CANDIDATES, set(hashes))


def _ledger(state) -> list[dict]:
    """Ledger records without what differs between equal runs (times, the chain, the random salt, the source);
    id hashes turned back into ids, text and row hashes into their counts."""
    salt, out = state.salt, []
    for rec in state.ledger.records():
        rec = {k: v for k, v in rec.items() if k not in ("time", "hash", "prev", "salt", "source")}
        for key in ("ids", "calibration_ids"):
            if key in rec:
                rec[key] = _unhash(salt, rec[key])
        for key in ("texts", "feature_rows"):
            if key in rec:
                rec[key] = len(rec[key])
        out.append(rec)
    return out


TIMING_COLUMNS = ["seconds", "full_ensemble_seconds_est", "single_model_seconds"]


def _tree(root: Path) -> dict:
    """sha256 of every regular file under `root` (relative path -> digest)."""
    out = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = Path(folder) / name
            if not path.is_symlink():
                out[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def canonical_state(run_dir: Path) -> dict:
    """Everything a run's committed state holds, as comparable values (wall times and the salt left out)."""
    state = StateStore(run_dir).current()
    costs = pd.read_csv(state.path / "costs.csv").drop(columns=TIMING_COLUMNS)
    folder = state.path
    tables = {str(p.relative_to(folder)): p.read_text() for p in sorted(folder.rglob("*.csv")) if p.name != "costs.csv"}
    return {
        "round": state.round, "serving": state.serving, "weights": state.weights, "features": state.features,
        "assignment": (folder / "assignment.json").read_text(), "tables": tables,
        "costs": costs.to_csv(index=False), "ledger": _ledger(state),
        "checkpoints": _tree(run_dir / "checkpoints"), "feature_files": _tree(run_dir / "features"),
        "state_folders": sorted(p.name for p in (run_dir / "states").iterdir()),
    }


def files_containing(roots: list[Path], needle: bytes) -> list[Path]:
    """Every regular file under `roots` whose bytes contain `needle` (an independent check of traces.scan)."""
    hits = []
    for root in roots:
        for folder, _, files in os.walk(root):
            for name in files:
                path = Path(folder) / name
                if path.is_file() and not path.is_symlink() and needle in path.read_bytes():
                    hits.append(path)
    return hits
