"""Deletion requests: read from a file or sampled, planned and checked for every round before any training.

`plan_requests` returns the ids deleted in each round. Planning is deterministic (sampling is seeded by
(seed, round) and draws from the ids still present), so the whole plan is validated up front: unknown ids,
ids deleted twice, and a deletion that would empty a shard raise a `BabybiasError` before the run directory
gets a ledger or a checkpoint.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from babybias.errors import BabybiasError
from babybias.runs import child_seed
from babybias.unlearn.sisa import Assignment


def read_requests_file(path: str | Path) -> dict[int, np.ndarray]:
    """Lines `<id>` (round 1) or `<round> <id>`; `#` starts a comment. Returns round -> sorted unique ids."""
    path = Path(path)
    if not path.is_file():
        raise BabybiasError(f"requests file {path} does not exist",
                            fix="pass unlearn.requests_file=PATH to a file of ids")
    rounds: dict[int, list[int]] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        fields = line.split("#", 1)[0].replace(",", " ").split()
        if not fields:
            continue
        try:
            values = [int(f) for f in fields]
        except ValueError:
            raise BabybiasError(f"{path}:{n}: {line.strip()!r} is not an id or `<round> <id>`",
                                fix="write one integer training id per line (optionally preceded by a round)") from None
        if len(values) > 2 or (len(values) == 2 and values[0] < 1):
            raise BabybiasError(f"{path}:{n}: expected `<id>` or `<round> <id>` (round >= 1), got {line.strip()!r}",
                                fix="write one id per line")
        rnd, ident = (1, values[0]) if len(values) == 1 else values
        rounds.setdefault(rnd, []).append(ident)
    return {r: np.unique(np.asarray(v, dtype=np.int64)) for r, v in rounds.items()}


def sample_requests(population: np.ndarray, remaining: np.ndarray, n: int, seed: int, round_: int) -> np.ndarray:
    """`n` ids drawn without replacement from the population ids still present (seeded by round)."""
    pool = np.intersect1d(population, remaining)
    if n > len(pool):
        raise BabybiasError(f"round {round_} asks for {n} deletions but only {len(pool)} ids of the request "
                            "distribution remain", fix="lower unlearn.requests or unlearn.rounds")
    rng = np.random.default_rng(child_seed(seed, f"requests/round/{round_}"))
    return np.sort(rng.choice(pool, size=n, replace=False))


def check_request(ids: np.ndarray, round_: int, assignment: Assignment, known: np.ndarray, deleted: np.ndarray) -> None:
    """Raise if a request names unknown or already-deleted ids, or empties a shard."""
    unknown = ids[~np.isin(ids, known)]
    if unknown.size:
        raise BabybiasError(f"deletion request of round {round_} names {unknown.size} id(s) that are not training "
                            f"examples of this run, e.g. {unknown[:5].tolist()}",
                            fix="request only training ids (listed in the run's task.csv with split=train)")
    again = ids[np.isin(ids, deleted)]
    if again.size:
        raise BabybiasError(f"deletion request of round {round_} repeats ids deleted earlier: {again[:5].tolist()}",
                            fix="remove them from the request")
    after = assignment.without(np.concatenate([deleted, ids]))
    for s in range(after.n_shards):
        if len(after.shard_ids(s)) == 0:
            raise BabybiasError(f"round {round_} would delete every example of shard {s}; an empty constituent "
                                "cannot be trained", fix="delete fewer ids, or use fewer shards")


def plan_requests(assignment: Assignment, population: np.ndarray, rounds: int, per_round: int, seed: int,
                  from_file: dict[int, np.ndarray] | None = None) -> list[np.ndarray]:
    """Ids deleted in rounds 1..R (R = max(rounds, last round in the file)), all checked up front."""
    from_file = from_file or {}
    n_rounds = max([rounds, *from_file.keys()])
    known = assignment.all_ids()
    deleted = np.zeros(0, np.int64)
    plan = []
    for r in range(1, n_rounds + 1):
        remaining = known[~np.isin(known, deleted)]
        ids = from_file[r] if r in from_file else sample_requests(population, remaining, per_round, seed, r)
        check_request(ids, r, assignment, known, deleted)
        plan.append(ids)
        deleted = np.concatenate([deleted, ids])
    return plan
