"""The state of each run of a sweep: queued | running | DONE | failed | completed | unknown.

Sources, most trusted first: the run directory's DONE marker; Slurm's live queue (`squeue`, which keeps
finished jobs for MinJobAge seconds); Slurm accounting (`sacct`, where the cluster has it); the tag submitit
writes first into the job's result pickle ("success" or "error"). The pickle is never unpickled (loading it
would run whatever code it names: a read-only command must not): its opcodes are only scanned for that tag.
`derive_state` combines them and is a pure function, so it is tested without Slurm.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, Optional

QUEUED = {"PENDING", "REQUEUED", "REQUEUE_FED", "REQUEUE_HOLD", "RESV_DEL_HOLD", "CONFIGURING", "SUSPENDED",
          "RESIZING", "STOPPED"}
RUNNING = {"RUNNING", "COMPLETING", "STAGE_OUT", "SIGNALING"}
FAILED = {"FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "PREEMPTED", "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE",
          "SPECIAL_EXIT", "REVOKED"}


@dataclass
class RunState:
    num: int
    state: str
    """queued | running | DONE | failed | completed (finished, no DONE marker) | skipped | unknown"""
    job_id: Optional[str]
    run_dir: Optional[str]
    detail: str = ""

    @property
    def resubmittable(self) -> bool:
        return self.state in ("failed", "unknown") and self.job_id is not None


def derive_state(done: bool, slurm_state: Optional[str], result: Optional[str]) -> tuple[str, str]:
    """(state, detail) from the DONE marker, the Slurm state (squeue or sacct) and submitit's result tag.

    `result` is "success", "error" or None (no result pickle yet).
    """
    if done:
        return "DONE", ""
    if slurm_state:
        word = slurm_state.split()[0].upper()  # sacct says e.g. "CANCELLED by 0"
        if word in QUEUED:
            return "queued", word
        if word in RUNNING:
            return "running", word
        if word in FAILED:
            return "failed", word
    if result == "error":
        return "failed", "the job raised (see its submitit log)"
    if result == "success":
        return "completed", "finished without writing DONE"
    if slurm_state:
        return "failed", f"{slurm_state} without DONE"
    return "unknown", "not in the queue and no result: lost, or Slurm forgot it (MinJobAge)"


def _run(cmd: list[str]) -> Optional[str]:
    if shutil.which(cmd[0]) is None:
        return None
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout if out.returncode == 0 else None


def slurm_states(job_ids: Iterable[str]) -> Dict[str, str]:
    """job id ("12" or "12_3") -> Slurm state, from squeue (live) then sacct (history) where available."""
    wanted = {j for j in job_ids if j}
    if not wanted:
        return {}
    states: Dict[str, str] = {}
    bases = sorted({j.split("_")[0] for j in wanted})
    acct = _run(["sacct", "-n", "-P", "-X", "-o", "JobID,State", "-j", ",".join(bases)])
    for line in (acct or "").splitlines():
        job, _, state = line.partition("|")
        if job in wanted:
            states[job] = state.strip()
    queue = _run(["squeue", "-h", "-r", "-t", "all", "-o", "%i|%T"])
    for line in (queue or "").splitlines():
        job, _, state = line.partition("|")
        if job in wanted:
            states[job] = state.strip()  # the live queue wins over accounting
    return states


def submitit_result(result_pickle: Optional[str]) -> Optional[str]:
    """"success" / "error" from submitit's result pickle (None when the job has not finished or the file says
    neither), read without unpickling: submitit writes `(tag, value)`, so the tag is the first string in the
    pickle's opcode stream. `pickletools.genops` only parses opcodes; nothing is imported or called."""
    import pickletools

    if not result_pickle:
        return None
    path = Path(result_pickle)
    if not path.is_file():
        return None
    try:
        with open(path, "rb") as fh:
            for opcode, arg, _ in pickletools.genops(fh):
                if isinstance(arg, str) and "UNICODE" in opcode.name:
                    return arg if arg in ("success", "error") else None
    except Exception:  # truncated or not a pickle: no verdict
        return None
    return None


def _done(entry: dict) -> bool:
    """The job's run directory holds DONE, and (for a `force=true` job, which runs a finished run again) one that
    was written after the job was submitted: the earlier run's DONE stays there until the job clears it."""
    if not entry.get("run_dir"):
        return False
    marker = Path(entry["run_dir"]) / "DONE"
    try:
        written = marker.stat().st_mtime
    except OSError:
        return False
    return not (entry.get("force") and entry.get("job_id") and written < float(entry.get("submitted_at") or 0))


def sweep_states(jobs: dict) -> list[RunState]:
    """The state of every entry of a parsed jobs.json."""
    entries = jobs["jobs"]
    slurm = slurm_states(e.get("job_id") for e in entries) if jobs.get("cluster") == "slurm" else {}
    out = []
    for e in entries:
        done = _done(e)
        if e.get("skipped") and not e.get("job_id"):
            state, detail = ("DONE", "skipped at submission") if done else ("skipped", e["skipped"])
        else:
            state, detail = derive_state(done, slurm.get(e.get("job_id") or ""),
                                         submitit_result(e.get("result_pickle")))
        out.append(RunState(e["num"], state, e.get("job_id"), e.get("run_dir"), detail))
    return out
