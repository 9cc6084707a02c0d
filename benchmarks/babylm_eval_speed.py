"""What the BabyLM temperature sweep costs: the same fast-set items scored at T = 1 only and at every T of a sweep.

    python benchmarks/babylm_eval_speed.py --checkpoint runs/demo/pretrain/model [--items 2000] [--data data]

Prints variants/s for `ScoringEngine.score` and for `score_temperatures` over the default sweep (1.0 to 2.0 by
0.05, 21 temperatures): the sweep reuses each forward pass, so the difference is the extra log-softmaxes only.
Run it on a quiet machine; timings on a shared CPU say little.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--checkpoint", required=True, help="a checkpoint folder (HF files), e.g. runs/demo/pretrain/model")
    parser.add_argument("--data", default="data", help="data root holding babylm_eval_fast/")
    parser.add_argument("--items", type=int, default=2000, help="BLiMP fast pairs to score (every 67 x 200 / items-th)")
    args = parser.parse_args()

    from babybias.configs.common import ImplConfig
    from babybias.configs.evaluate import temperature_grid
    from babybias.metrics import babylm
    from babybias.scoring import ScoringEngine

    items = babylm.load_suite(Path(args.data) / "babylm_eval_fast", "blimp_fast")
    items = items[:: max(1, len(items) // args.items)][: args.items]
    requests = babylm.requests_for(items)
    engine = ScoringEngine.from_checkpoint(args.checkpoint, ImplConfig(device="auto"), progress=False)
    n_variants = sum(len(s) for s in engine.score(requests[:8]))  # warm-up
    sweep = temperature_grid(1.0, 2.0, 0.05)
    for label, call in (("T = 1 only", lambda: engine.score(requests)),
                        (f"{len(sweep)} temperatures", lambda: engine.score_temperatures(requests, sweep))):
        start = time.perf_counter()
        out = call()
        seconds = time.perf_counter() - start
        scores = out if isinstance(out, list) else out[1.0]
        n_variants = sum(len(s) for s in scores)
        print(f"{label:>16}: {n_variants} variants in {seconds:.1f} s ({n_variants / seconds:.0f} variants/s)")


if __name__ == "__main__":
    main()
