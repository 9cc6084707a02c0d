"""Deletion cost accounting (Bourtoule et al. 2021, Sec. 4).

"Samples" are examples passed through a model while training (ids x epochs, summed over trained stages).
Full retraining of the ensemble is counted exactly from the assignment (`sisa.full_retrain_samples`); its
wall time is estimated from the round's own training throughput. The single model (all remaining ids,
epochs_per_slice x slices epochs) is actually retrained each round, so its time is measured.
"""

from __future__ import annotations

from babybias.unlearn.sisa import full_retrain_samples


def cost_row(round_, n_requests, results, single, assignment, epochs, single_epochs, seconds, base_rate) -> dict:
    """One row of costs.csv: what round `round_` retrained against full retraining (see the module docstring)."""
    retrained = [r for r in results if r.stages_trained]
    samples = sum(r.samples_processed for r in results)
    full = full_retrain_samples(assignment, epochs)
    single_samples = len(assignment.all_ids()) * single_epochs
    return {
        "round": round_, "requests": n_requests,
        "shards_retrained": " ".join(str(r.shard) for r in retrained) or "-",
        "slices_retrained": sum(len(r.stages_trained) for r in retrained),
        "samples_processed": samples, "seconds": round(seconds, 3),
        "full_ensemble_samples": full, "ratio_vs_full_ensemble": samples / full if full else float("nan"),
        "full_ensemble_seconds_est": round(full * base_rate, 3) if base_rate else float("nan"),
        "single_model_samples": single_samples, "ratio_vs_single_model": samples / single_samples,
        "single_model_seconds": round(single.seconds, 3) if single else float("nan"),
    }
