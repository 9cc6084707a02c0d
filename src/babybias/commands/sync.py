"""`babybias sync <sweep dir | run dir>... [--dry-run]`: upload the offline wandb runs of a sweep.

Jobs log to wandb offline on compute nodes (no network there, often); each run keeps its wandb files under
its run directory (`<run dir>/wandb/offline-run-*`). This finds them (through the sweep's jobs.json, or below
the folders given) and runs `wandb sync` on them from a machine with network.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Iterable, List

from babybias.errors import BabybiasError


def offline_runs(folders: Iterable[Path]) -> List[Path]:
    """Every wandb offline run folder (`offline-run-*`) below the given folders, once each, sorted."""
    found = set()
    for folder in folders:
        if folder.name.startswith("offline-run-") and folder.is_dir():
            found.add(folder.resolve())
            continue
        found.update(p.resolve() for p in folder.rglob("offline-run-*") if p.is_dir())
    return sorted(found)


def search_roots(target: Path) -> List[Path]:
    """A sweep dir's run directories (from jobs.json) plus the sweep dir itself; any other folder as is."""
    roots = [target]
    if (target / "jobs.json").exists():
        from babybias.launch import jobs as jobs_file

        roots += [Path(e["run_dir"]) for e in jobs_file.read(target)["jobs"]
                  if e.get("run_dir") and Path(e["run_dir"]).is_dir()]
    return roots


def wandb_command() -> List[str]:
    exe = shutil.which("wandb") or str(Path(sys.executable).with_name("wandb"))
    if not Path(exe).exists():
        raise BabybiasError("the wandb command line is not installed", fix="pip install wandb")
    return [exe, "sync"]


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser(prog="babybias sync", description=__doc__.splitlines()[0])
    p.add_argument("targets", nargs="+", help="sweep directories (with jobs.json) or run directories")
    p.add_argument("--dry-run", action="store_true", help="list the offline runs, upload nothing")
    p.add_argument("--timeout", type=float, default=3600, help="seconds before giving up on wandb sync")
    args = p.parse_args(argv)

    roots: List[Path] = []
    for target in map(Path, args.targets):
        if not target.exists():
            raise BabybiasError(f"{target} does not exist", fix="pass a sweep directory or a run directory")
        roots += search_roots(target)
    runs = offline_runs(roots)
    if not runs:
        print(f"no wandb offline runs (offline-run-*) below {', '.join(args.targets)}: nothing to sync")
        return
    for run in runs:
        print(run)
    if args.dry_run:
        print(f"{len(runs)} offline run(s); --dry-run: nothing uploaded")
        return
    cmd = wandb_command() + [str(r) for r in runs]
    env = {**os.environ}
    env.pop("WANDB_MODE", None)  # offline/disabled in the environment would make sync a no-op
    try:
        out = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, timeout=args.timeout)
    except subprocess.TimeoutExpired:
        raise BabybiasError(f"wandb sync did not finish within {args.timeout:.0f} s (no network?)",
                            fix="rerun `babybias sync` on a machine that reaches api.wandb.ai") from None
    if out.returncode != 0:
        raise BabybiasError(
            f"wandb sync exited with status {out.returncode} (no network, or not logged in?)",
            fix="run `wandb login` on a machine with network and rerun `babybias sync`; the runs stay on disk",
        )
    print(f"synced {len(runs)} offline run(s)")
