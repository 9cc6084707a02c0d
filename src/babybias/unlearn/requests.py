"""Deletion requests: read from a file or sampled, planned and checked for every round before any training.

`plan_requests` returns the ids deleted in each round. Planning is deterministic (sampling is seeded by
(seed, round) and draws from the ids still present), so the whole plan is validated up front: unknown ids,
ids deleted twice, and a deletion that would empty a shard raise a `BabybiasError` before the run directory
gets a ledger or a checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from babybias.errors import BabybiasError
from babybias.runs import child_seed
from babybias.unlearn.sisa import Assignment, partition


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


def not_deletable_error(ids, what: str) -> BabybiasError:
    """The error for requested ids that are neither training nor calibration examples: lists them all."""
    ids = [int(i) for i in ids]
    shown = ", ".join(map(str, ids[:50])) + (f" and {len(ids) - 50} more" if len(ids) > 50 else "")
    return BabybiasError(f"{what} names {len(ids)} id(s) that are not training (or calibration) examples of this "
                         f"run: {shown}", fix="request only ids listed with split=train or split=calibration in "
                                              "the run's examples.csv")


def check_request(ids: np.ndarray, round_: int, assignment: Assignment, known: np.ndarray, deleted: np.ndarray) -> None:
    """Raise if a request names unknown or already-deleted ids, or empties a shard (`known`: the deletable ids:
    training ids, and calibration ids when a file may name them)."""
    unknown = ids[~np.isin(ids, known)]
    if unknown.size:
        raise not_deletable_error(unknown, f"deletion request of round {round_}")
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
                  from_file: dict[int, np.ndarray] | None = None,
                  calibration: np.ndarray | None = None) -> list[np.ndarray]:
    """Ids deleted in rounds 1..R (R = max(rounds, last round in the file)), all checked up front. Sampled
    rounds draw training ids; a file may also name `calibration` ids (removed from the calibration set)."""
    from_file = from_file or {}
    n_rounds = max([rounds, *from_file.keys()])
    known = np.union1d(assignment.all_ids(), calibration if calibration is not None else np.zeros(0, np.int64))
    deleted = np.zeros(0, np.int64)
    plan = []
    for r in range(1, n_rounds + 1):
        remaining = assignment.all_ids()[~np.isin(assignment.all_ids(), deleted)]
        ids = from_file[r] if r in from_file else sample_requests(population, remaining, per_round, seed, r)
        check_request(ids, r, assignment, known, deleted)
        plan.append(ids)
        deleted = np.concatenate([deleted, ids])
    return plan


def _read_forget_file(path: Path) -> np.ndarray:
    """The ids of a forget file: exactly one id per line (`#` comments). A line with two numbers is refused, not
    read as a requests file's `<round> <id>`: that would silently keep the first number's example."""
    values = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        fields = line.split("#", 1)[0].replace(",", " ").split()
        if not fields:
            continue
        if len(fields) != 1:
            raise BabybiasError(f"{path}:{n}: {line.strip()!r} holds {len(fields)} values; a forget file lists one id "
                                "per line (forget applies one round)", fix="write one id per line, without a round number")
        try:
            values.append(int(fields[0]))
        except ValueError:
            raise BabybiasError(f"{path}:{n}: {line.strip()!r} is not an integer id",
                                fix="write one integer id per line") from None
    if not values:
        raise BabybiasError(f"{path} lists no ids", fix="write the ids to delete, one per line")
    return np.unique(np.asarray(values, dtype=np.int64))


def read_forget_ids(ids) -> np.ndarray:
    """`ids=` of `babybias unlearn forget`: a list of ids, one id, a file of ids (one per line, `#` comments),
    or a string of ids separated by commas or spaces. Returns sorted unique int64 ids."""
    if ids is None or (isinstance(ids, (list, tuple)) and not ids):
        raise BabybiasError("`babybias unlearn forget` needs the ids to delete",
                            fix="pass ids=[12,345] or ids=path/to/ids.txt (one id per line)")
    if isinstance(ids, (list, tuple)):
        values = list(ids)
    elif isinstance(ids, int):
        values = [ids]
    elif Path(str(ids)).is_file():
        return _read_forget_file(Path(str(ids)))
    else:
        values = str(ids).replace(",", " ").split()
    try:
        return np.unique(np.asarray([int(str(v).strip()) for v in values], dtype=np.int64))
    except ValueError:
        raise BabybiasError(f"ids={ids!r} is neither a file nor a list of integer ids",
                            fix="pass ids=[12,345] or ids=path/to/ids.txt") from None


@dataclass
class Plan:
    """The partition and every round's deletions, fixed (and validated) before anything is written."""

    assignment: Assignment
    rounds: list
    """Ids deleted in rounds 1..R (training ids, and calibration ids a requests file names)."""
    from_file: dict | None


def plan_run(task, sisa, ucfg, seed: int) -> Plan:
    """Partition the training ids and plan all deletion rounds; raises on bad input (unknown ids, an emptied
    shard, a calibration group left without a label). Deterministic: a resumed run plans the same rounds."""
    from babybias.unlearn.task import ids_in_population, without_ids

    population = ids_in_population(task, ucfg.distribution)
    priority = population if sisa.partition == "distribution" else None
    assignment = partition(task.train_ids, sisa.shards, sisa.slices, seed, priority)
    from_file = read_requests_file(ucfg.requests_file) if ucfg.requests_file else None
    calibration = np.sort(task.split("calibration")["id"].to_numpy(np.int64))
    rounds = plan_requests(assignment, population, ucfg.rounds, ucfg.requests, seed, from_file, calibration)
    if rounds:
        check_calibration_after(without_ids(task, np.concatenate(rounds)))
    return Plan(assignment, rounds, from_file)


def check_calibration_after(task) -> None:
    """`check_calibration` on the task as it would be after the requested deletions."""
    from babybias.unlearn.task import check_calibration

    try:
        check_calibration(task)
    except BabybiasError as err:
        raise BabybiasError(f"after the requested deletions, {err.message}",
                            fix="delete fewer calibration examples of that group") from None
