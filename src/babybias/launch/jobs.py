"""`<sweep dir>/jobs.json`: which job of a sweep ran where (Slurm job id, run directory, Hydra output dir).

Written by the launcher when it submits (detached or not) and updated by `babybias status --resubmit`.
One entry per Hydra job number:

    {"num": 0, "overrides": ["seed=0"], "job_id": "12_0", "run_dir": "/abs/runs/x/seed=0/pretrain",
     "output_dir": "/abs/runs/sweeps/pretrain_.../0", "submitit_folder": "/abs/.../.submitit/12_0",
     "history": ["11_0"]}
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Optional

from babybias.errors import BabybiasError
from babybias.runs import atomic_write_json, to_jsonable

JOBS_FILE = "jobs.json"
NO_RUN_DIR_COMMANDS = ("evaluate", "compare", "report", "debias")
"""Commands that write into runs named by their arguments, not into runs/<name>/<command> (see `run_dir_of`)."""


def jsonable(obj: Any) -> Any:
    from omegaconf import OmegaConf

    if OmegaConf.is_config(obj):
        obj = OmegaConf.to_container(obj, resolve=True)
    return json.loads(json.dumps(to_jsonable(obj), default=str))


def run_dir_of(cfg: Any) -> Optional[Path]:
    """The run directory whose DONE marks a job's composed config as finished (None where the command writes none
    of its own: `evaluate` writes into the evaluated run, `debias fit` beside the fitted model, `unlearn forget|audit`
    into the run given as run=).

    Uses `babybias.runs.run_dir_for` itself, with this job's Hydra config made current for the call, so the
    answer cannot drift from what the job does. A study names its folder itself: runs/<name>/study.
    """
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    from babybias.runs import run_dir_for

    command = OmegaConf.select(cfg, "command", default=None)
    name = OmegaConf.select(cfg, "name", default=None)
    runs = OmegaConf.select(cfg, "paths.runs", default=None)
    if not (command and name and runs) or command in NO_RUN_DIR_COMMANDS:
        return None
    if command == "study":
        return (Path(str(runs)) / str(name) / "study").absolute()
    if command == "unlearn" and OmegaConf.select(cfg, "action", default="run") != "run":
        return None
    if command == "pretrain" and OmegaConf.select(cfg, "dryrun", default=False):
        command = "pretrain-dryrun"
    holder = HydraConfig.instance()
    previous = holder.cfg
    try:
        holder.set_config(cfg)
        return run_dir_for(str(runs), str(name), str(command)).path.absolute()
    finally:
        holder.cfg = previous


def submitit_paths(job: Any) -> dict:
    """Where a submitit job keeps its pickled call, its result and its logs (absolute paths)."""
    paths = job.paths
    return {
        "submitit_folder": str(Path(paths.folder).absolute()),
        "submitted_pickle": str(Path(paths.submitted_pickle).absolute()),
        "result_pickle": str(Path(paths.result_pickle).absolute()),
        "stdout": str(Path(paths.stdout).absolute()),
    }


def record(sweep_dir: Path, entries: Iterable[dict], **info: Any) -> Path:
    """Merge `entries` (by job number) into <sweep_dir>/jobs.json, keeping earlier job ids as history."""
    path = Path(sweep_dir) / JOBS_FILE
    data = read(sweep_dir) if path.exists() else {"jobs": []}
    by_num = {e["num"]: e for e in data["jobs"]}
    for entry in entries:
        old = by_num.get(entry["num"])
        if old and old.get("job_id") and old.get("job_id") != entry.get("job_id"):
            entry["history"] = [*old.get("history", []), old["job_id"]]
        by_num[entry["num"]] = {**(old or {}), **entry}
    data.update(info)
    data["sweep_dir"] = str(Path(sweep_dir).absolute())
    data["jobs"] = [by_num[n] for n in sorted(by_num)]
    return atomic_write_json(path, data)


def read(sweep_dir: str | Path) -> dict:
    """The parsed jobs.json of a sweep directory (or of the jobs.json path itself)."""
    path = Path(sweep_dir)
    if path.name != JOBS_FILE:
        path = path / JOBS_FILE
    if not path.exists():
        raise BabybiasError(
            f"no {JOBS_FILE} in {path.parent} (not a sweep directory)",
            fix="pass the sweep directory printed by `babybias <command> -m ... hydra/launcher=slurm`",
        )
    from babybias.integrity import read_json

    return read_json(path, what="the sweep's job list")
