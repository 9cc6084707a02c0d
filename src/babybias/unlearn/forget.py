"""`babybias unlearn forget run=<unlearn run> ids=<file or list>`: one deletion round on a finished run.

Requests arrive one at a time, long after training. `forget_ids` (called with the run's lock held) first
finishes any purge a kill interrupted, then sorts the requested ids: training ids (their shards are
retrained from the last clean slice checkpoint), calibration ids (removed from the calibration set; the
post-processors are refit without them), ids deleted earlier (recognised by their salted hash in the
ledger; reported and skipped) and anything else (an error listing them, before anything changes). The round
itself is `rounds.apply_round`, the same code a planned round runs, so the result equals the same round run
inside one `babybias unlearn` invocation bit for bit. A kill at any point leaves the old state or the new
one; rerunning the same command completes it.
"""

from __future__ import annotations

import numpy as np

from babybias.errors import BabybiasError
from babybias.runs import RunDir
from babybias.unlearn import salted


def sort_request(state, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(training ids, calibration ids, ids deleted earlier, ids that are none of these) among `ids`."""
    from babybias.unlearn.rounds import deleted_id_hashes

    ids = np.unique(np.asarray(ids, dtype=np.int64))
    examples = state.examples
    train = np.intersect1d(ids, state.assignment.all_ids())
    calibration = np.intersect1d(ids, examples.loc[examples["split"] == "calibration", "id"].to_numpy(np.int64))
    rest = np.setdiff1d(ids, np.union1d(train, calibration))
    earlier = np.asarray(salted.hashed_members(state.salt, rest, deleted_id_hashes(state)), dtype=np.int64)
    return train, calibration, earlier, np.setdiff1d(rest, earlier)


def forget_ids(run: RunDir, ids: np.ndarray, source: str = "forget", log=print):
    """Delete `ids` from the finished unlearning run `run` (the caller holds its lock); returns the new state."""
    from babybias.unlearn.requests import check_calibration_after, not_deletable_error
    from babybias.unlearn.rounds import apply_round, purge_run
    from babybias.unlearn.setup import load_saved_config, open_existing
    from babybias.unlearn.task import without_ids

    if not run.done:
        raise BabybiasError(f"{run.path} has not finished its planned rounds",
                            fix="rerun `babybias unlearn` with its config to finish it (it resumes), then forget")
    cfg = load_saved_config(run)
    setup = open_existing(cfg, run, log=log)
    state = setup.store.current()
    if state is None:
        raise BabybiasError(f"{run.path} has no committed state", fix="retrain the run from scratch")
    purge_run(setup, state)
    train, calibration, earlier, unknown = sort_request(state, ids)
    if unknown.size:
        raise not_deletable_error(unknown, "the forget request")
    if earlier.size:
        log(f"already deleted, skipped: {len(earlier)} id(s): {earlier.tolist()[:20]}")
    if not train.size and not calibration.size:
        log("nothing left to delete; the run is unchanged")
        return state
    after = state.assignment.without(train)
    empty = [s for s in range(after.n_shards) if len(after.shard_ids(s)) == 0]
    if empty:
        raise BabybiasError(f"deleting these ids would empty shard(s) {empty}; an empty constituent cannot be trained",
                            fix="delete fewer ids from those shards")
    check_calibration_after(without_ids(setup.current_task(state), calibration))
    state = apply_round(setup, state, train, calibration, source)
    purge_run(setup, state)
    log(f"forgot {len(train)} training and {len(calibration)} calibration example(s) in round {state.round}; "
        f"ledger: {run.path / 'ledger.jsonl'}")
    return state
