"""Resubmit the failed runs of a sweep (`babybias status <sweep dir> --resubmit`).

Each job's folder holds submitit's pickled call (the launcher and that job's overrides). Resubmitting loads
it and submits it again with the launcher's own parameters, from the directory the sweep was launched in, so
the job keeps its number, its Hydra output dir and its run directory, and resumes from its last checkpoint.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Iterable, List

from babybias.errors import BabybiasError
from babybias.launch import jobs as jobs_file
from babybias.launch.state import RunState


@contextlib.contextmanager
def _cwd(path: str | None):
    old = os.getcwd()
    if path:
        os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def resubmit(sweep_dir: str | Path, states: Iterable[RunState]) -> List[dict]:
    """Submit again every resubmittable run; returns the updated jobs.json entries."""
    from submitit.core.utils import DelayedSubmission

    jobs = jobs_file.read(sweep_dir)
    by_num = {e["num"]: e for e in jobs["jobs"]}
    updated = []
    for state in states:
        if not state.resubmittable:
            continue
        entry = by_num[state.num]
        pickled = Path(entry.get("submitted_pickle") or "")
        if not pickled.is_file():
            raise BabybiasError(f"job {entry['job_id']} has no {pickled}",
                                fix="rerun the sweep command with hydra/launcher=slurm (DONE runs are skipped)")
        delayed = DelayedSubmission.load(pickled)
        launcher = delayed.function
        with _cwd(jobs.get("cwd")):
            job = launcher._executor().submit(launcher, *delayed.args, **delayed.kwargs)
        updated.append({**entry, "job_id": str(job.job_id), "submitted_at": time.time(), **jobs_file.submitit_paths(job)})
    if updated:
        jobs_file.record(sweep_dir, updated)
    return updated
