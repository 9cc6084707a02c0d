"""Deletion cost accounting (Bourtoule et al. 2021, Sec. 4).

"Samples" are examples passed through a model while training (ids x epochs, summed over trained stages).
A round's cost is what it *must* retrain: for each shard, the stages from the first slice that lost an id
onwards (`changed_stages`), counted from the assignment, so a round resumed after a kill reports the same
cost as an uninterrupted one. Full retraining of the ensemble is counted the same way; its wall time is
estimated from the round's own training throughput. The single model (all remaining ids, epochs_per_slice x
slices epochs) is actually retrained each round, so its time is measured.
"""

from __future__ import annotations

import numpy as np

from babybias.unlearn.sisa import Assignment, full_retrain_samples


def changed_stages(before: list, after: list) -> list[int]:
    """Stages (1-based) of one shard that must be retrained when its slices go from `before` to `after`:
    stage k trains on slices 1..k, so every stage from the first changed slice on."""
    first = next((k for k, (b, a) in enumerate(zip(before, after)) if not np.array_equal(b, a)), len(before))
    return list(range(first + 1, len(before) + 1))


def stage_samples(slices: list, stages: list[int], epochs: int) -> int:
    """Examples processed to train `stages` of a shard with these slices."""
    sizes = np.cumsum([len(sl) for sl in slices])
    return int(sum(int(sizes[k - 1]) for k in stages)) * epochs


def cost_row(round_: int, n_requests: int, retrained: dict, assignment: Assignment, epochs: int,
             single_epochs: int, seconds: float, base_rate: float | None, single_seconds: float | None) -> dict:
    """One row of costs.csv: what round `round_` retrained (`retrained`: shard -> stages) against full retraining."""
    samples = sum(stage_samples(assignment.slices[s], stages, epochs) for s, stages in retrained.items())
    full = full_retrain_samples(assignment, epochs)
    single_samples = len(assignment.all_ids()) * single_epochs
    shards = [s for s in sorted(retrained) if retrained[s]]
    return {
        "round": round_, "requests": n_requests,
        "shards_retrained": " ".join(str(s) for s in shards) or "-",
        "slices_retrained": sum(len(retrained[s]) for s in shards),
        "samples_processed": samples, "seconds": round(seconds, 3),
        "full_ensemble_samples": full, "ratio_vs_full_ensemble": samples / full if full else float("nan"),
        "full_ensemble_seconds_est": round(full * base_rate, 3) if base_rate else float("nan"),
        "single_model_samples": single_samples, "ratio_vs_single_model": samples / single_samples,
        "single_model_seconds": round(single_seconds, 3) if single_seconds is not None else float("nan"),
    }
