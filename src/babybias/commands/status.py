"""`babybias status <sweep dir> [--resubmit] [--json]`: the state of each run of a (detached) sweep."""

from __future__ import annotations

import argparse
import json
from collections import Counter


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="babybias status",
        description="State of each run of a sweep launched with hydra/launcher=slurm|local "
                    "(from Slurm and the run directories).",
    )
    p.add_argument("sweep_dir", help="the sweep directory holding jobs.json (printed at submission)")
    p.add_argument("--resubmit", action="store_true", help="submit failed runs that are not DONE again")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    return p


def main(argv: list[str]) -> None:
    from babybias.launch import jobs as jobs_file
    from babybias.launch.state import sweep_states

    args = _parser().parse_args(argv)
    jobs = jobs_file.read(args.sweep_dir)
    states = sweep_states(jobs)
    resubmitted: list[dict] = []
    if args.resubmit:
        from babybias.launch.resubmit import resubmit

        resubmitted = resubmit(args.sweep_dir, states)
    if args.json:
        print(json.dumps({"runs": [vars(s) for s in states],
                          "resubmitted": {str(e["num"]): e["job_id"] for e in resubmitted}}, indent=2))
        return
    overrides = {e["num"]: " ".join(e.get("overrides", [])) for e in jobs["jobs"]}
    rows = [("#", "state", "job", "overrides", "run dir / detail")]
    for s in states:
        rows.append((str(s.num), s.state, s.job_id or "-", overrides.get(s.num, ""),
                     s.run_dir if not s.detail else f"{s.run_dir}  ({s.detail})"))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r[:4], widths)) + "  " + (r[4] or ""))
    counts = Counter(s.state for s in states)
    print("\n" + ", ".join(f"{n} {state}" for state, n in sorted(counts.items())))
    for e in resubmitted:
        print(f"resubmitted #{e['num']} as job {e['job_id']}")
    if not args.resubmit and any(s.resubmittable for s in states):
        print(f"`babybias status {args.sweep_dir} --resubmit` submits the failed runs again")
