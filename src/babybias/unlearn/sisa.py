"""SISA training (Bourtoule et al. 2021): Sharded, Isolated, Sliced, Aggregated.

Training ids are split into `shards` disjoint shards and each shard into `slices` (`partition`, seeded; the
`Assignment` is saved in the run directory). Constituent s is trained stage by stage: stage k trains on
slices 1..k, starting from the stage k-1 checkpoint, and is checkpointed under a key that hashes the training
recipe, the shard, and the exact sorted id set of every slice trained so far (`stage_key`). Checkpoints are
therefore content-addressed: after a deletion, the longest stage prefix whose key still exists is exactly the
last checkpoint whose lineage holds no deleted id, and training resumes from there (`train_constituent`).
Stage k's randomness (batch order, dropout) is seeded by (seed, shard, k) only and each stage starts a fresh
optimizer, so a resumed constituent is bit-identical to one trained from scratch without the deleted ids.
A stage whose slices 1..k were all emptied by deletions trains on nothing: its checkpoint is the model as it
started (the request is served; only a shard left with no id at all is refused, by the request checks).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from babybias.errors import BabybiasError, ConfigError
from babybias.failpoints import failpoint
from babybias.fairness.fairsisa import majority_vote  # noqa: F401 - re-exported
from babybias.runs import atomic_path, atomic_write_json, child_seed, file_sha256

SINGLE = -1
"""Shard index of the single-model baseline (all remaining training ids, one slice)."""


# ---------------------------------------------------------------- partition
@dataclass
class Assignment:
    """slices[s][k]: sorted int64 ids of slice k of shard s."""

    slices: list

    @property
    def n_shards(self) -> int:
        return len(self.slices)

    def shard_ids(self, shard: int) -> np.ndarray:
        return np.sort(np.concatenate(self.slices[shard])) if self.slices[shard] else np.zeros(0, np.int64)

    def all_ids(self) -> np.ndarray:
        return np.sort(np.concatenate([self.shard_ids(s) for s in range(self.n_shards)]))

    def shards_holding(self, ids: np.ndarray) -> list[int]:
        return [s for s in range(self.n_shards) if np.isin(ids, self.shard_ids(s)).any()]

    def without(self, deleted: np.ndarray) -> "Assignment":
        deleted = np.asarray(deleted, dtype=np.int64)
        return Assignment([[sl[~np.isin(sl, deleted)] for sl in shard] for shard in self.slices])

    def to_json(self) -> dict:
        return {"n_shards": self.n_shards, "slices": [[sl.tolist() for sl in shard] for shard in self.slices]}

    @classmethod
    def from_json(cls, data: dict) -> "Assignment":
        return cls([[np.asarray(sl, dtype=np.int64) for sl in shard] for shard in data["slices"]])

    def save(self, path: str | Path) -> None:
        atomic_write_json(path, self.to_json())

    @classmethod
    def load(cls, path: str | Path) -> "Assignment":
        return cls.from_json(json.loads(Path(path).read_text()))


def partition(ids, n_shards: int, n_slices: int, seed: int, priority=None) -> Assignment:
    """Seeded uniform partition into shards x slices; `priority` ids (likely deletions) fill the first shards.

    With `priority`, ids are shuffled, then stably ordered priority-first before being cut into equal
    shards, so likely deletions touch as few shards as possible (Bourtoule et al. Sec. 5.2).
    """
    ids = np.sort(np.asarray(ids, dtype=np.int64))
    if len(np.unique(ids)) != len(ids):
        raise BabybiasError("training ids are not unique", fix="check the task builder")
    if len(ids) < n_shards * n_slices:
        raise ConfigError(f"{len(ids)} training examples cannot fill {n_shards} shards x {n_slices} slices",
                          fix="use fewer shards/slices or more data (task.max_examples)")
    order = np.random.default_rng(child_seed(seed, "sisa/partition")).permutation(ids)
    if priority is not None:
        order = order[np.argsort(~np.isin(order, priority), kind="stable")]
    return Assignment([[np.sort(sl) for sl in np.array_split(shard, n_slices)]
                       for shard in np.array_split(order, n_shards)])


# ---------------------------------------------------------------- checkpoints
def stage_key(recipe: str, shard: int, slices, upto: int) -> str:
    """Hash of the recipe, the shard and the sorted id set of slices 1..upto (slice boundaries included)."""
    h = hashlib.sha256(f"{recipe}/shard={shard}".encode())
    for sl in slices[:upto]:
        h.update(b"|")
        h.update(np.sort(np.asarray(sl, dtype=np.int64)).astype("<i8").tobytes())
    return h.hexdigest()[:24]


class CheckpointStore:
    """Content-addressed checkpoints: `<root>/<key>/{model.pt, lineage.json}`, each written atomically."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def path(self, key: str) -> Path:
        return self.root / key

    def has(self, key: str) -> bool:
        return (self.path(key) / "lineage.json").is_file()

    def save(self, key: str, state: dict, lineage: dict) -> str:
        """Write the checkpoint; returns the sha256 of its weight file."""
        import torch

        with atomic_path(self.path(key), keep_existing=True) as tmp:
            tmp.mkdir()
            torch.save(state, tmp / "model.pt")
            digest = file_sha256(tmp / "model.pt")
            (tmp / "lineage.json").write_text(json.dumps({**lineage, "key": key, "weights_sha256": digest}))
        return file_sha256(self.path(key) / "model.pt")  # another writer may have published this key first

    def load(self, key: str) -> dict:
        import torch

        return torch.load(self.path(key) / "model.pt", weights_only=True)

    def lineage(self, key: str) -> dict:
        return json.loads((self.path(key) / "lineage.json").read_text())


# ---------------------------------------------------------------- training one constituent
@dataclass
class ConstituentResult:
    shard: int
    keys: list
    """Checkpoint key of every stage; keys[-1] serves the shard."""
    resumed_from: int
    """Stages reused from existing checkpoints (0 = trained from scratch)."""
    stages_trained: list = field(default_factory=list)
    samples_processed: int = 0
    """Examples passed through the model while training (ids x epochs, summed over trained stages)."""
    seconds: float = 0.0

    @property
    def key(self) -> str:
        return self.keys[-1]


def train_constituent(trainer, store: CheckpointStore, shard: int, slices, recipe: str, seed: int,
                      epochs: int | None = None) -> ConstituentResult:
    """Train (or resume) one constituent slice by slice; see the module docstring for exactness.

    `epochs` per stage overrides the trainer's `epochs_per_slice` (the single-model baseline uses it).
    """
    t0 = time.perf_counter()
    keys = [stage_key(recipe, shard, slices, k + 1) for k in range(len(slices))]
    reused = next((k + 1 for k in reversed(range(len(slices))) if store.has(keys[k])), 0)
    result = ConstituentResult(shard=shard, keys=keys, resumed_from=reused)
    if reused == len(slices):
        return result
    state = store.load(keys[reused - 1]) if reused else trainer.init_state(child_seed(seed, f"shard/{shard}/init"))
    for k in range(reused, len(slices)):
        ids = np.sort(np.concatenate(slices[: k + 1]))
        processed = 0
        if len(ids):  # slices 1..k all emptied by deletions: trained on nothing, the model stays as it starts
            state, processed = trainer.train_stage(state, ids, child_seed(seed, f"shard/{shard}/stage/{k}"), epochs)
        lineage = {"shard": shard, "stage": k + 1, "parent": keys[k - 1] if k else None, "recipe": recipe,
                   "epochs": epochs,
                   "slices": [np.sort(np.asarray(sl)).tolist() for sl in slices[: k + 1]]}
        store.save(keys[k], state, lineage)
        failpoint(f"shard-{'single' if shard == SINGLE else shard}/stage-{k + 1}")
        result.stages_trained.append(k + 1)
        result.samples_processed += processed
    result.seconds = time.perf_counter() - t0
    return result


def full_retrain_samples(assignment: Assignment, epochs_per_slice: int) -> int:
    """Examples processed to train every constituent from scratch (each stage k sees slices 1..k)."""
    total = 0
    for shard in assignment.slices:
        sizes = np.cumsum([len(sl) for sl in shard])
        total += int(sizes.sum()) * epochs_per_slice
    return total


# ---------------------------------------------------------------- aggregation
# majority_vote (re-exported): the fairness module's, with its tie rule (`sisa.vote_ties`, default: class 0 as
# in the SISA reference).
def mean_probability(proba: np.ndarray) -> np.ndarray:
    """Mean over constituents of P(toxic), (n, S) -> (n,)."""
    return np.asarray(proba, dtype=float).mean(axis=1)
