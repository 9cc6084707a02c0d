"""SISA deletion cost: examples retrained after deletion requests / examples of a full retrain.

`python benchmarks/sisa_cost.py` trains a SISA ensemble (linear heads on synthetic 64-d features, CPU),
deletes `requests` ids drawn uniformly in one round, retrains only the affected constituents from their last
clean checkpoint, and prints the cost ratio against retraining the whole ensemble (and the wall times).
Bourtoule et al. (2021) predict, for uniform requests, that the expected cost falls with more shards and
slices; with K requests over S shards and R slices it is roughly min(K, S)/S x (a bit more than half) of a
full retrain.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np


def bench_deletion_cost(shards: int = 5, slices: int = 4, requests: int = 10, seed: int = 0,
                        n_examples: int = 10_000, epochs_per_slice: int = 5) -> dict:
    """Train, delete `requests` uniform ids in one round, retrain; return counts, ratio and seconds."""
    from babybias.configs.unlearn import SisaConfig
    from babybias.unlearn.requests import sample_requests
    from babybias.unlearn.rounds import Ensemble
    from babybias.unlearn.sisa import full_retrain_samples, partition
    from babybias.unlearn.trainers import HeadTrainer

    rng = np.random.default_rng(seed)
    ids = np.arange(n_examples, dtype=np.int64)
    y = rng.integers(0, 2, n_examples)
    x = (rng.standard_normal((n_examples, 64)) + 0.5 * y[:, None]).astype(np.float32)
    cfg = SisaConfig(shards=shards, slices=slices, epochs_per_slice=epochs_per_slice, lr=0.01)
    trainer = HeadTrainer(ids, x, y, cfg)
    assignment = partition(ids, shards, slices, seed)
    trainer.train_stage(trainer.init_state(0), ids[:64], 0, epochs=1)  # warm-up: first-call costs untimed
    with tempfile.TemporaryDirectory() as tmp:
        ensemble = Ensemble(trainer, Path(tmp), "bench", seed)
        t0 = time.perf_counter()
        ensemble.train(assignment)
        full_seconds = time.perf_counter() - t0
        deleted = sample_requests(ids, ids, requests, seed, 1)
        after = assignment.without(deleted)
        t0 = time.perf_counter()
        results = ensemble.train(after)
        seconds = time.perf_counter() - t0
    retrained = sum(r.samples_processed for r in results)
    full = full_retrain_samples(after, epochs_per_slice)
    return {
        "shards": shards, "slices": slices, "requests": requests, "n_examples": n_examples,
        "shards_retrained": sum(bool(r.stages_trained) for r in results),
        "slice_stages_retrained": sum(len(r.stages_trained) for r in results),
        "samples_retrained": retrained, "full_retrain_samples": full, "ratio": retrained / full,
        "seconds": seconds, "full_retrain_seconds": full_seconds,
    }


def main(shards: int = 5, slices: int = 4, requests: int = 10, seed: int = 0) -> None:
    r = bench_deletion_cost(shards=shards, slices=slices, requests=requests, seed=seed)
    print(f"SISA deletion cost, {r['shards']} shards x {r['slices']} slices, {r['requests']} uniform requests "
          f"on {r['n_examples']} examples: {r['shards_retrained']}/{r['shards']} shards, "
          f"{r['slice_stages_retrained']} slice stages retrained")
    print(f"  samples retrained / full retrain = {r['samples_retrained']} / {r['full_retrain_samples']} "
          f"= {r['ratio']:.3f}   (wall {r['seconds']:.2f} s vs {r['full_retrain_seconds']:.2f} s)")


if __name__ == "__main__":
    main()
