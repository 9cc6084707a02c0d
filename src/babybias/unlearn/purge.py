"""After a round commits: remove everything derived from the deleted examples (and finish a purge a kill cut).

What goes, in order (each step idempotent, so a rerun after a kill anywhere completes it):

1. every checkpoint whose lineage names an id that is no longer trained on (the retrained shards' old
   stages, the old single model), and any checkpoint folder without a readable lineage;
2. every state folder but the committed one (they hold the deleted examples' rows and ids) and every
   feature copy the committed state does not use;
3. half-written files any interrupted atomic write left under the run directory;
4. once anything has been deleted, the shared feature-cache entry the run computed its features into (it
   holds the deleted rows; other runs that used it recompute it on their next miss; the run itself trains
   from its own copy).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

from babybias.failpoints import failpoint
from babybias.unlearn.features import FeatureStore
from babybias.unlearn.state import State, StateStore

ATOMIC_LEFTOVER = re.compile(r"^\.[^/]+\.(tmp-.+|old-\d+-\d+|link-\d+|[a-z0-9_]{8})$")
"""Names `runs.atomic_path` (`.<name>.tmp-*`, `.<name>.old-*`; older versions `.<name>.<8 random>`), the state
staging folder and the state link swap give their temporary files."""


def lineage_ids(checkpoint: Path) -> set[int] | None:
    """Every id a checkpoint was trained on (its lineage's slices), or None when unreadable."""
    try:
        lineage = json.loads((checkpoint / "lineage.json").read_text())
        return {int(i) for sl in lineage["slices"] for i in sl}
    except (OSError, ValueError, KeyError, TypeError):
        return None


def checkpoint_dirs(run_dir: Path) -> list[Path]:
    root = Path(run_dir) / "checkpoints"
    return [c for shard in sorted(root.glob("shard-*")) for c in sorted(shard.iterdir())
            if not ATOMIC_LEFTOVER.match(c.name)] if root.is_dir() else []


def tainted_checkpoints(run_dir: Path, remaining: set[int]) -> list[Path]:
    """Checkpoints trained on an id outside `remaining` (or whose lineage cannot be read)."""
    out = []
    for checkpoint in checkpoint_dirs(run_dir):
        ids = lineage_ids(checkpoint)
        if ids is None or not ids <= remaining:
            out.append(checkpoint)
    return out


def atomic_leftovers(run_dir: Path) -> list[Path]:
    found = []
    for folder, dirs, files in os.walk(run_dir):
        for name in [*dirs, *files]:
            if ATOMIC_LEFTOVER.match(name):
                found.append(Path(folder) / name)
        dirs[:] = [d for d in dirs if not ATOMIC_LEFTOVER.match(d)]
    return found


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def purge(run_dir: str | Path, state: State, cache_files: list[Path]) -> list[Path]:
    """Remove what the module docstring lists; returns the removed paths."""
    run_dir = Path(run_dir)
    removed = tainted_checkpoints(run_dir, {int(i) for i in state.assignment.all_ids()})
    for path in removed:
        _remove(path)
    failpoint(f"round-{state.round}/purged-checkpoints")
    stale = StateStore(run_dir).stale()
    for path in stale:
        _remove(path)
    removed += stale + FeatureStore(run_dir / "features").remove_except(state.features)
    failpoint(f"round-{state.round}/purged-states")
    leftovers = atomic_leftovers(run_dir)
    for path in leftovers:
        _remove(path)
    removed += leftovers
    if state.round > 0:
        for path in cache_files:
            _remove(path)
        removed += cache_files
    failpoint(f"round-{state.round}/purged")
    return removed
