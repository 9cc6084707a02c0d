"""Membership-inference audit: the attacks' AUC on analytic cases, and on a planted over-fitting configuration the
deleted examples look like members before their round (AUC > 0.7) and like never-seen examples after it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from babybias.configs.unlearn import FairnessConfig, FairSisaConfig, SisaConfig, UnlearnConfig, UnlearnRequestsConfig
from babybias.unlearn.membership import attack_rows, auc, lira_offline_scores, loss_scores
from babybias.unlearn.task import ToxicityTask


def test_auc_is_mann_whitney_and_cells_remove_a_planted_shift():
    rng = np.random.default_rng(0)
    scores = np.round(rng.normal(size=300), 1)  # rounded: ties occur
    members = rng.random(300) < 0.3
    assert auc(scores, members) == pytest.approx(roc_auc_score(members, scores), abs=1e-12)
    # members are all label 1 and label 1 scores higher, with no membership signal within a label
    label = np.r_[np.ones(50, int), rng.integers(0, 2, 500)]
    member = np.r_[np.ones(50, bool), np.zeros(500, bool)]
    score = label + rng.normal(size=550)
    assert auc(score, member) > 0.65  # the label shift masquerades as membership
    assert abs(auc(score, member, cells=label) - 0.5) < 0.1
    assert np.isnan(auc(score, member, cells=np.where(member, 0, 1)))  # no non-member in the members' cell


def test_attack_scores_on_a_hand_made_ensemble():
    # 3 constituents; example 0 is a member of shard 0 (its constituent is sure of the true label), example 1 is not
    proba = np.array([[0.99, 0.5, 0.5], [0.5, 0.5, 0.5]])
    y = np.array([1, 1])
    np.testing.assert_allclose(loss_scores(proba, y), np.log([(0.99 + 1.0) / 3, 0.5]))
    z = lira_offline_scores(proba, y, target=np.array([0, 0]))
    assert z[0] > 0 and z[1] == 0.0  # phi_target above the OUT mean only for the member
    assert np.isnan(lira_offline_scores(proba[:, :1], y, np.array([0, 0]))).all()  # one shard: no OUT model
    rows = attack_rows(1, "before", proba, y, np.array([True, False]), np.array([0, 0]), seed=0, n_resamples=50)
    assert [r["attack"] for r in rows] == ["loss", "lira_offline"] and all(r["auc"] == 1.0 for r in rows)


def _planted_task(n_train: int = 240, seed: int = 0) -> tuple[ToxicityTask, np.ndarray]:
    """Random labels and a feature direction of its own per example (a fingerprint): nothing generalizes, and
    a model can only memorize the examples it trains on; on any other example it stays near its init."""
    rng = np.random.default_rng(seed)
    n = n_train + 400
    split = np.r_[np.full(n_train, "train"), np.full(100, "calibration"), np.full(300, "test")]
    frame = pd.DataFrame({"id": np.arange(n, dtype=np.int64) * 7, "text": [f"example {i}" for i in range(n)],
                          "label": rng.integers(0, 2, n), "term": "x", "group": np.where(rng.random(n) < 0.5, "a", "b"),
                          "split": split})
    features = np.eye(n, dtype=np.float32) * 4 + 0.001 * rng.standard_normal((n, n)).astype(np.float32)
    return ToxicityTask(frame=frame, groups=["a", "b"]), features


@pytest.mark.parametrize("seed", [0])  # seeds 1 and 2 pass as well (checked by hand)
def test_planted_overfitting_members_before_forgotten_after(tmp_path, seed):
    from babybias.unlearn.features import FeatureStore
    from babybias.unlearn.rounds import RunSetup, apply_round, initial_round, purge_run
    from babybias.unlearn.setup import trainer_factory
    from babybias.unlearn.sisa import partition

    task, features = _planted_task(seed=seed)
    sisa = SisaConfig(shards=3, slices=1, head="linear", epochs_per_slice=50, batch_size=None, lr=0.05)
    cfg = UnlearnConfig(seed=seed, sisa=sisa, unlearn=UnlearnRequestsConfig(rounds=1, single_model=False),
                        fairness=FairnessConfig(constituents=False, eval_sets=["test"]),
                        fairsisa=FairSisaConfig(methods=["final"], threshold_optimizer=False, single_model=False))
    digest = FeatureStore(tmp_path / "features").save(task.frame["id"].to_numpy(), features)
    setup = RunSetup(run_dir=tmp_path, task=task, make_trainer=trainer_factory(cfg, None), recipe="planted",
                     seed=seed, cfg=cfg, log=lambda *_: None)
    assignment = partition(task.train_ids, 3, 1, seed=seed)
    state = initial_round(setup, assignment, digest)
    deleted = np.concatenate([assignment.shard_ids(s)[:20] for s in range(3)])  # 60 ids, 20 from every shard
    state = purge_run(setup, apply_round(setup, state, deleted, [], "test"))
    table = pd.read_csv(state.path / "rounds" / "round-1" / "membership.csv").set_index(["attack", "phase"])
    for attack in ("loss", "lira_offline"):
        before, after = table.loc[(attack, "before")], table.loc[(attack, "after")]
        assert before["auc"] > 0.7 and before["ci_low"] > 0.5, attack  # memorized: they look like members
        assert before["n_members"] == 60 and before["n_nonmembers"] == 300
        assert abs(after["auc"] - 0.5) < 0.1 and after["ci_low"] < 0.5 < after["ci_high"], attack  # forgotten
    assert (state.path / "membership.png").stat().st_size > 1000
