"""SISA exactness: deleting ids and resuming equals training from scratch without them, bit for bit."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from babybias.configs.unlearn import SisaConfig, UnlearnRequestsConfig
from babybias.errors import BabybiasError, ConfigError
from babybias.runs import child_seed
from babybias.unlearn.requests import plan_requests, read_requests_file
from babybias.unlearn.rounds import Ensemble
from babybias.unlearn.sisa import Assignment, CheckpointStore, majority_vote, partition, stage_key
from babybias.unlearn.trainers import HeadTrainer

N = 240


def synthetic(seed: int = 0):
    rng = np.random.default_rng(seed)
    ids = np.arange(1000, 1000 + N, dtype=np.int64)  # ids need not be row numbers
    y = rng.integers(0, 2, N)
    x = rng.standard_normal((N, 16)).astype(np.float32) + y[:, None] * 0.7
    return ids, x, y


def test_partition_is_seeded_disjoint_and_complete():
    ids = np.arange(N)
    a, b = partition(ids, 4, 3, seed=7), partition(ids, 4, 3, seed=7)
    assert a.to_json() == b.to_json()
    assert partition(ids, 4, 3, seed=8).to_json() != a.to_json()
    assert np.array_equal(a.all_ids(), ids)
    assert sorted(len(a.shard_ids(s)) for s in range(4)) == [60] * 4
    assert Assignment.from_json(a.to_json()).to_json() == a.to_json()


def test_distribution_partition_packs_likely_deletions():
    ids = np.arange(N)
    likely = ids[ids % 4 == 0]  # 60 ids = exactly one shard of 4
    a = partition(ids, 4, 3, seed=0, priority=likely)
    assert a.shards_holding(likely) == [0]


def test_key_depends_on_slice_boundaries():
    assert stage_key("r", 0, [[1, 2], [3]], 2) != stage_key("r", 0, [[1], [2, 3]], 2)
    assert stage_key("r", 0, [[2, 1], [3]], 2) == stage_key("r", 0, [[1, 2], [3]], 2)
    assert stage_key("r", 0, [[1, 2], []], 2) != stage_key("r", 0, [[1, 2]], 1)


@pytest.mark.parametrize("head,batch_size", [("linear", None), ("mlp", 16)])
def test_unlearning_equals_retraining_from_scratch(tmp_path, head, batch_size):
    ids, x, y = synthetic()
    cfg = SisaConfig(shards=3, slices=4, head=head, batch_size=batch_size, epochs_per_slice=3, lr=0.05)
    trainer = HeadTrainer(ids, x, y, cfg)
    assignment = partition(ids, 3, 4, seed=1)
    served = Ensemble(trainer, tmp_path / "served", "recipe", seed=3)
    before = served.train(assignment)
    assert all(r.resumed_from == 0 and r.stages_trained == [1, 2, 3, 4] for r in before)

    # delete two ids from slice 3 of shard 1: stages 1-2 stay valid, 3-4 are retrained; shards 0, 2 untouched
    deleted = assignment.slices[1][2][:2]
    after_assignment = assignment.without(deleted)
    after = served.train(after_assignment)
    assert [r.stages_trained for r in after] == [[], [3, 4], []]
    assert after[1].resumed_from == 2
    assert after[0].key == before[0].key and after[2].key == before[2].key
    assert after[1].key != before[1].key

    scratch = Ensemble(trainer, tmp_path / "scratch", "recipe", seed=3).train(after_assignment)
    for a, b in zip(after, scratch):
        assert a.key == b.key
        wa = served.store(a.shard).load(a.key)
        wb = CheckpointStore(tmp_path / "scratch" / f"shard-{b.shard}").load(b.key)
        assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    keys = [r.key for r in after]
    p_served = served.proba(keys, ids)
    p_scratch = Ensemble(trainer, tmp_path / "scratch", "recipe", seed=3).proba(keys, ids)
    assert np.array_equal(p_served, p_scratch)
    assert np.array_equal(majority_vote(p_served >= 0.5), majority_vote(p_scratch >= 0.5))
    # and the deleted ids really changed shard 1 (the test would be vacuous otherwise)
    old = served.store(1).load(before[1].key)
    new = served.store(1).load(after[1].key)
    assert not all(torch.equal(old[k], new[k]) for k in old)


def test_deleting_a_whole_first_slice_is_served_and_equals_retraining_from_scratch(tmp_path):
    """A request may empty slice 1 of a shard while later slices keep ids (e.g. a group's examples packed together
    by sisa.partition=distribution): stage 1 then trains on nothing and later stages go on from the initial model."""
    ids, x, y = synthetic()
    cfg = SisaConfig(shards=2, slices=3, epochs_per_slice=3, lr=0.05)
    trainer = HeadTrainer(ids, x, y, cfg)
    assignment = partition(ids, 2, 3, seed=1)
    served = Ensemble(trainer, tmp_path / "served", "recipe", seed=3)
    served.train(assignment)
    after_assignment = assignment.without(assignment.slices[1][0])
    after = served.train(after_assignment)
    assert [r.stages_trained for r in after] == [[], [1, 2, 3]]
    assert after[1].samples_processed == 3 * (len(after_assignment.shard_ids(1)) + len(assignment.slices[1][2]))
    first = served.store(1).load(after[1].keys[0])
    init = trainer.init_state(child_seed(3, "shard/1/init"))
    assert all(torch.equal(first[k], init[k]) for k in init)  # trained on nothing
    scratch = Ensemble(trainer, tmp_path / "scratch", "recipe", seed=3).train(after_assignment)
    wa, wb = served.store(1).load(after[1].key), CheckpointStore(tmp_path / "scratch" / "shard-1").load(scratch[1].key)
    assert after[1].key == scratch[1].key and all(torch.equal(wa[k], wb[k]) for k in wa)


def test_full_finetune_unlearning_is_exact(tmp_path, tiny_encoder_run):
    from babybias.unlearn.trainers import FullTrainer

    model_dir = tiny_encoder_run / "tinyenc" / "pretrain" / "model"
    words = ["nice", "vile", "great", "awful", "gay", "straight", "muslim", "christian"]
    ids = np.arange(24, dtype=np.int64)
    texts = [f"{words[i % 8]} person {words[(i * 3) % 8]}" for i in ids]
    y = np.array([1 if words[i % 8] in ("vile", "awful") else 0 for i in ids])
    cfg = SisaConfig(shards=2, slices=2, finetune="full", epochs_per_slice=1, batch_size=4, max_length=8)
    trainer = FullTrainer(ids, texts, y, model_dir, cfg)
    assignment = partition(ids, 2, 2, seed=0)
    served = Ensemble(trainer, tmp_path / "served", "full", seed=0)
    served.train(assignment)
    deleted = assignment.slices[0][1][:1]
    after = served.train(assignment.without(deleted))
    assert [r.stages_trained for r in after] == [[2], []]
    scratch = Ensemble(trainer, tmp_path / "scratch", "full", seed=0)
    again = scratch.train(assignment.without(deleted))
    wa, wb = served.store(0).load(after[0].key), scratch.store(0).load(again[0].key)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_requests_bad_inputs(tmp_path):
    ids = np.arange(N)
    assignment = partition(ids, 3, 2, seed=0)
    with pytest.raises(BabybiasError, match=r"names 1 id\(s\) that are not training.*: 99999:"):
        plan_requests(assignment, ids, 1, 0, 0, {1: np.array([5, 99999])})
    with pytest.raises(BabybiasError, match="every example of shard 2"):
        plan_requests(assignment, ids, 1, 0, 0, {1: assignment.shard_ids(2)})
    with pytest.raises(BabybiasError, match="repeats ids"):
        plan_requests(assignment, ids, 2, 0, 0, {1: np.array([5]), 2: np.array([5])})
    with pytest.raises(BabybiasError, match="only 3 ids"):
        plan_requests(assignment, ids[:3], 1, 10, 0)
    path = tmp_path / "req.txt"
    path.write_text("# ids to forget\n5\n2 7\n2 9  # second round\n")
    rounds = read_requests_file(path)
    assert {k: v.tolist() for k, v in rounds.items()} == {1: [5], 2: [7, 9]}
    plan = plan_requests(assignment, ids, 3, 4, 0, rounds)
    assert [p.tolist()[:2] for p in plan[:2]] == [[5], [7, 9]] and len(plan[2]) == 4
    path.write_text("five\n")
    with pytest.raises(BabybiasError, match="not an id"):
        read_requests_file(path)


def test_config_errors_name_the_override():
    with pytest.raises(ConfigError, match="sisa.finetune"):
        SisaConfig(finetune="lora")
    with pytest.raises(ConfigError, match="unlearn.distribution"):
        UnlearnRequestsConfig(distribution="label:maybe")
    with pytest.raises(ConfigError, match="shards"):
        partition(np.arange(5), 3, 2, seed=0)
    assert dataclasses.replace(SisaConfig(), shards=2).shards == 2
