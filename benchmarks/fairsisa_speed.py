"""FairSISA speed benchmarks, run by hand: `python benchmarks/fairsisa_speed.py --n 1000000 --shards 5 --groups 4`.

`bench_lp`: fit time of the exact joint equalized-odds LP (`FairSISA(method="joint")`, vote patterns) against
fairlearn's `ThresholdOptimizer(constraints="equalized_odds")` on the ensemble's mean vote, on one synthetic
calibration set (`babybias.fairness.fairsisa.synthetic_votes`). One run each; wall-clock seconds.
Then the SISA deletion cost (samples retrained / full retrain) from `benchmarks/sisa_cost.py`
(`--skip-sisa` leaves it out).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from babybias.fairness.fairsisa import FairSISA, fit_threshold_optimizer, synthetic_votes, threshold_optimizer_proba


def _timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def bench_lp(args: argparse.Namespace) -> dict:
    """Fit the joint LP and fairlearn's ThresholdOptimizer once on the same data; print and return times."""
    votes, y, groups = synthetic_votes(args.n, args.shards, args.groups, random_state=args.seed)
    joint, joint_s = _timed(lambda: FairSISA(method="joint").fit(votes, y, groups))
    optimizer, fairlearn_s = _timed(lambda: fit_threshold_optimizer(votes, y, groups))
    proba = threshold_optimizer_proba(optimizer, votes, groups)
    fairlearn_loss = float(np.mean(np.where(y == 1, 1 - proba, proba)))
    print(f"n={args.n} shards={args.shards} groups={args.groups} "
          f"patterns={len(joint.postprocessors_[0].signals_)}")
    print(f"joint LP (HiGHS)        fit {joint_s:8.3f} s   expected loss {joint.expected_loss_:.5f}   "
          f"max EO violation {joint.postprocessors_[0].max_violation_:.1e}")
    print(f"fairlearn ThresholdOpt. fit {fairlearn_s:8.3f} s   expected loss {fairlearn_loss:.5f}")
    print(f"ratio fairlearn / joint LP: {fairlearn_s / joint_s:.2f}x")
    return {"joint_fit_s": joint_s, "fairlearn_fit_s": fairlearn_s, "joint_loss": joint.expected_loss_,
            "fairlearn_loss": fairlearn_loss}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="calibration examples")
    parser.add_argument("--shards", type=int, default=5, help="SISA constituents (one per shard)")
    parser.add_argument("--groups", type=int, default=4, help="sensitive groups")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic data")
    parser.add_argument("--slices", type=int, default=4, help="SISA slices per shard (deletion-cost part)")
    parser.add_argument("--requests", type=int, default=10, help="uniform deletion requests (deletion-cost part)")
    parser.add_argument("--skip-sisa", action="store_true", help="only the LP timing")
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    bench_lp(args)
    if not args.skip_sisa:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import sisa_cost

        sisa_cost.main(shards=args.shards, slices=args.slices, requests=args.requests, seed=args.seed)


if __name__ == "__main__":
    main()
