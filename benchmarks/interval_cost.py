"""Cost of the item-bootstrap CIs written with every score, run by hand: `python benchmarks/interval_cost.py`.

On synthetic per-item results of the real benchmark sizes (CrowS-Pairs 1,508 pairs in 9 bias types, StereoSet
2,106 intrasentence examples in 4 domains and ~79 targets, SEAT's 6 gender tests, BLiMP 67 phenomena x 1,000
pairs), times each benchmark's `intervals` (overall and per category, `--resamples` resamples, default 1,000)
and the paired CrowS-Pairs test of `babybias compare`. Wall-clock seconds, best of `--repeat` runs.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from babybias.analysis.paired import compare_score, crows_pairs_scores
from babybias.metrics import blimp, crows_pairs, seat, stereoset
from babybias.uncertainty import Resampling


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def synthetic(rng):
    biases = ["race-color", "gender", "socioeconomic", "nationality", "religion", "age", "sexual-orientation",
              "physical-appearance", "disability"]
    crows = [{"pair_id": i, "bias_type": biases[i % 9], "direction": "stereo" if rng.random() < 0.9 else "antistereo",
              "outcome": "more" if rng.random() < 0.58 else "less"} for i in range(1508)]
    stereo = [{"example_id": i, "target": f"t{i % 79}", "bias_type": ("gender", "profession", "race", "religion")[i % 4],
               "stereotype": rng.random(), "anti-stereotype": rng.random(), "unrelated": rng.random()}
              for i in range(2106)]
    blimp_rows = [{"uid": f"p{i // 1000:02d}", "field": ("syntax", "semantics")[i // 1000 % 2], "pair_id": str(i % 1000),
                   "correct": bool(rng.random() < 0.8)} for i in range(67_000)]
    seat_sets = {name: tuple(rng.normal(size=(n, 768)) for n in (8, 8, 16, 16)) for name in seat.TEST_GROUPS["gender"]}
    return crows, stereo, blimp_rows, seat_sets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    resampling = Resampling(n_resamples=args.resamples)
    crows, stereo, blimp_rows, seat_sets = synthetic(np.random.default_rng(0))
    other = [{**r, "outcome": "less" if r["outcome"] == "more" and r["pair_id"] % 7 == 0 else r["outcome"]} for r in crows]
    cases = {
        "crows_pairs (1,508 pairs, 9 bias types)": lambda: crows_pairs.intervals(crows, resampling),
        "stereoset (2,106 examples, 4 domains)": lambda: stereoset.intervals(stereo, resampling),
        "seat (6 gender tests, 768-d)": lambda: seat.effect_size_intervals(seat_sets, resampling),
        "blimp (67 x 1,000 pairs)": lambda: blimp.intervals(blimp_rows, resampling),
        "compare: paired crows_pairs (10 scores)": lambda: [compare_score(s, resampling)
                                                            for s in crows_pairs_scores(crows, other)],
    }
    print(f"{args.resamples} resamples, best of {args.repeat}")
    for name, fn in cases.items():
        print(f"{name:45s} {best_of(fn, args.repeat):7.3f} s")


if __name__ == "__main__":
    main()
