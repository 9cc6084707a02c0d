"""One unlearning run, round by round: round 0 trains the SISA ensemble, round r >= 1 deletes examples.

Every round runs the same way, whether it was planned by `babybias unlearn` or asked for later by
`babybias unlearn forget` (`apply_round`): train the constituents whose shards lost ids (from their last
clean slice checkpoint; content-addressed, so work a killed attempt finished is reused) and the single model,
attack the deleted examples' membership with the models before and after, refit the post-processors on the
calibration examples left, evaluate, stage the next state folder (`state.py`) and commit it with one atomic
rename; then purge everything derived from the deleted examples (`purge.py`). A kill at any point leaves the
old state or the new one, and a rerun completes the round or the purge.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from babybias.failpoints import failpoint
from babybias.runs import child_seed
from babybias.unlearn import salted
from babybias.unlearn.costs import changed_stages, cost_row
from babybias.unlearn.evaluate import evaluate_round
from babybias.unlearn.features import FeatureStore
from babybias.unlearn.ledger import LEDGER, Ledger
from babybias.unlearn.membership import attack_rows
from babybias.unlearn.purge import purge
from babybias.unlearn.report import write_round_outputs
from babybias.unlearn.sisa import SINGLE, Assignment, CheckpointStore, ConstituentResult, train_constituent
from babybias.unlearn.state import State, StateStore, write_state_files
from babybias.unlearn.task import ToxicityTask, without_ids


def shard_name(shard: int) -> str:
    return "single" if shard == SINGLE else str(shard)


@dataclass
class Ensemble:
    """The constituents of one run: a trainer, the checkpoint root, the recipe hash and the seed."""

    trainer: object
    root: Path
    recipe: str
    seed: int

    def store(self, shard: int) -> CheckpointStore:
        return CheckpointStore(self.root / f"shard-{shard_name(shard)}")

    def train(self, assignment: Assignment) -> list[ConstituentResult]:
        return [train_constituent(self.trainer, self.store(s), s, assignment.slices[s], self.recipe, self.seed)
                for s in range(assignment.n_shards)]

    def train_single(self, ids: np.ndarray, epochs: int) -> ConstituentResult:
        """One model on all `ids` for `epochs` epochs, from scratch (one slice: nothing to resume from)."""
        return train_constituent(self.trainer, self.store(SINGLE), SINGLE, [np.sort(ids)], self.recipe, self.seed,
                                 epochs=epochs)

    def proba(self, keys: list[str], ids: np.ndarray) -> np.ndarray:
        """(n, S) P(toxic) of the constituents serving under `keys` (shard order)."""
        return np.column_stack([self.trainer.predict_proba(self.store(s).load(k), ids) for s, k in enumerate(keys)])

    def single_proba(self, key: str, ids: np.ndarray) -> np.ndarray:
        return self.trainer.predict_proba(self.store(SINGLE).load(key), ids)


@dataclass
class RunSetup:
    """What every round of one run needs, fixed for the life of the run."""

    run_dir: Path
    task: ToxicityTask
    """The task as its config builds it: every example, the deleted ones included (texts are never stored)."""
    make_trainer: Callable
    """(examples in use: a frame with id, text, label; features (ids, rows) or None) -> trainer."""
    recipe: str
    seed: int
    cfg: object
    """The run's `UnlearnConfig` (sisa, unlearn, fairness, fairsisa)."""
    cache_files: Callable[[], list] = field(default=lambda: [])
    """The shared feature-cache entry the run computed its features into (purged once anything is deleted)."""
    log: Callable = print

    @property
    def store(self) -> StateStore:
        return StateStore(self.run_dir)

    @property
    def features(self) -> FeatureStore:
        return FeatureStore(self.run_dir / "features")

    def ensemble(self, state_task: ToxicityTask, features: str | None) -> Ensemble:
        frame = state_task.frame[state_task.frame["split"] != "unused"]
        rows = self.features.load(features) if features else None
        return Ensemble(self.make_trainer(frame, rows), self.run_dir / "checkpoints", self.recipe, self.seed)

    def current_task(self, state: State) -> ToxicityTask:
        """The task without every example deleted before `state` (those missing from its examples.csv)."""
        kept = set(state.examples["id"].astype(np.int64))
        return without_ids(self.task, [i for i in self.task.frame["id"] if i not in kept])


def _serving(ens: Ensemble, results: list, single) -> tuple[dict, dict]:
    named = {shard_name(r.shard): r for r in results + ([single] if single else [])}
    return ({n: r.key for n, r in named.items()},
            {n: ens.store(r.shard).lineage(r.key)["weights_sha256"] for n, r in named.items()})


def _train_all(setup: RunSetup, ens: Ensemble, assignment: Assignment):
    """Train (or reuse) every constituent and the single model; returns (results, single, seconds, trained samples)."""
    sisa = setup.cfg.sisa
    t0 = time.perf_counter()
    results = ens.train(assignment)
    seconds = time.perf_counter() - t0
    single = None
    if setup.cfg.unlearn.single_model:
        single = ens.train_single(assignment.all_ids(), sisa.epochs_per_slice * sisa.slices)
        failpoint("single-trained")
    return results, single, seconds, sum(r.samples_processed for r in results)


def _cost(setup, round_, n_requests, retrained, assignment, seconds, trained, single, base: State | None) -> dict:
    rate = seconds / trained if trained else None
    if rate is None and base is not None and (base.path / "costs.csv").is_file():  # all reused: last known rate
        import pandas as pd

        last = pd.read_csv(base.path / "costs.csv").iloc[-1]
        rate = last["full_ensemble_seconds_est"] / last["full_ensemble_samples"]
        rate = rate if np.isfinite(rate) else None
    sisa = setup.cfg.sisa
    return cost_row(round_, n_requests, retrained, assignment, sisa.epochs_per_slice,
                    sisa.epochs_per_slice * sisa.slices, seconds, rate, single.seconds if single else None)


def initial_round(setup: RunSetup, assignment: Assignment, features: str | None) -> State:
    """Round 0: train every constituent and the single model, evaluate, commit state 0."""
    cfg = setup.cfg
    ens = setup.ensemble(setup.task, features)
    # warm-up (untimed, nothing saved) so round 0's wall time holds no first-call costs
    ens.trainer.train_stage(ens.trainer.init_state(0), assignment.slices[0][0][:8], 0, epochs=1)
    results, single, seconds, trained = _train_all(setup, ens, assignment)
    serving, weights = _serving(ens, results, single)
    retrained = {s: list(range(1, len(assignment.slices[s]) + 1)) for s in range(assignment.n_shards)}
    cost = _cost(setup, 0, 0, retrained, assignment, seconds, trained, single, None)
    fairness = evaluate_round(setup.task, ens, serving, assignment.n_shards, 0, cfg.fairness, cfg.fairsisa,
                              setup.seed, cfg.sisa.vote_ties)
    setup.log(f"round 0: trained {assignment.n_shards} constituents x {len(assignment.slices[0])} slices, "
              f"{cost['samples_processed']} samples, {cost['seconds']:.2f} s")
    with setup.store.staging(None) as staged:
        write_state_files(staged, 0, serving, weights, features, assignment, setup.task.frame)
        Ledger(staged / LEDGER).append("trained", round=0, salt=salted.new_salt(), serving=serving, weights=weights,
                                       retrained={**{str(s): v for s, v in retrained.items()},
                                                  **({"single": [1]} if single else {})})
        write_round_outputs(staged, 0, cost, fairness, [], {"round": 0, "deleted": 0, "serving": serving})
        failpoint("round-0/staged")
        return setup.store.commit(staged, 0)


def _membership(setup: RunSetup, ens: Ensemble, task: ToxicityTask, old: Assignment, train_ids: np.ndarray,
                before: dict, after: dict, round_: int) -> list[dict]:
    """Attack rows for the round's deleted training ids vs the never-trained test examples, before and after."""
    heldout = np.sort(task.split("test")["id"].to_numpy(np.int64))
    shard_of = {int(i): s for s in range(old.n_shards) for i in old.shard_ids(s)}
    rng = np.random.default_rng(child_seed(setup.seed, "membership/heldout-shards"))
    target = np.concatenate([np.asarray([shard_of[int(i)] for i in train_ids], dtype=np.int64),
                             rng.integers(old.n_shards, size=len(heldout))])
    ids = np.concatenate([train_ids, heldout]).astype(np.int64)
    frame = task.frame.set_index("id").loc[ids]
    labels = frame["label"].to_numpy(np.int64)
    cells = (frame["group"].astype(str) + "/" + frame["label"].astype(str)).to_numpy()
    members = np.arange(len(ids)) < len(train_ids)
    rows = []
    for phase, serving in (("before", before), ("after", after)):
        proba = ens.proba([serving[str(s)] for s in range(old.n_shards)], ids)
        rows += attack_rows(round_, phase, proba, labels, members, target,
                            child_seed(setup.seed, f"membership/{round_}/{phase}"), cells)
    return rows


def _removed(ens: Ensemble, old: Assignment, retrained: dict, state: State, retrained_single: dict) -> list[dict]:
    """The checkpoints this round makes obsolete (they were trained on deleted ids), with their weight digests."""
    from babybias.unlearn.sisa import stage_key

    out = []
    for s, stages in sorted(retrained.items()):
        for k in stages:
            key = stage_key(ens.recipe, s, old.slices[s], k)
            digest = ens.store(s).lineage(key)["weights_sha256"] if ens.store(s).has(key) else None
            out.append({"shard": shard_name(s), "key": key, "weights_sha256": digest})
    if "single" in retrained_single:
        out.append({"shard": "single", "key": state.serving["single"], "weights_sha256": state.weights["single"]})
    return out


def apply_round(setup: RunSetup, state: State, train_ids, calibration_ids, source: str) -> State:
    """Delete `train_ids` (retrain their shards) and `calibration_ids` (refit the post-processors without them)
    from the run in `state`; commit and return the next state. Ids must be validated by the caller."""
    cfg, round_ = setup.cfg, state.round + 1
    train_ids = np.sort(np.asarray(train_ids, dtype=np.int64))
    calibration_ids = np.sort(np.asarray(calibration_ids, dtype=np.int64))
    deleted = np.concatenate([train_ids, calibration_ids])
    task = setup.current_task(state)
    ens = setup.ensemble(task, state.features)
    old = state.assignment
    new = old.without(train_ids)
    results, single, seconds, trained = _train_all(setup, ens, new)
    serving, weights = _serving(ens, results, single)
    retrained = {s: changed_stages(old.slices[s], new.slices[s]) for s in range(old.n_shards)}
    retrained = {s: v for s, v in retrained.items() if v}
    # the single model is retrained from scratch on the remaining ids: a new model only if training ids went
    single_new = {"single": [1]} if single and serving["single"] != state.serving.get("single") else {}
    membership = _membership(setup, ens, task, old, train_ids, state.serving, serving, round_)
    next_task = without_ids(task, deleted)
    fairness = evaluate_round(next_task, ens, serving, old.n_shards, round_, cfg.fairness, cfg.fairsisa,
                              setup.seed, cfg.sisa.vote_ties)
    cost = _cost(setup, round_, len(deleted), retrained, new, seconds, trained, single, state)
    salt = state.salt
    texts = task.frame.set_index("id").loc[deleted, "text"].tolist()
    features, rows = setup.features.without(state.features, deleted) if state.features else (None, np.zeros((0, 0)))
    n_cal = int((task.frame["split"] == "calibration").sum())
    record = {
        "round": round_, "source": source,
        "ids": salted.id_hashes(salt, train_ids), "calibration_ids": salted.id_hashes(salt, calibration_ids),
        "texts": salted.text_hashes(salt, texts), "feature_rows": salted.row_hashes(salt, rows),
        "retrained": {**{shard_name(s): v for s, v in retrained.items()}, **single_new},
        "removed": _removed(ens, old, retrained, state, single_new),
        "serving_before": state.serving, "weights_before": state.weights, "serving": serving, "weights": weights,
        "calibration": {"removed": len(calibration_ids), "before": n_cal, "after": n_cal - len(calibration_ids),
                        "postprocessors_refit": True},
    }
    setup.log(f"round {round_}: deleted {len(train_ids)} training and {len(calibration_ids)} calibration examples; "
              f"retrained shards [{cost['shards_retrained']}], {cost['slices_retrained']} slice stages, "
              f"{cost['samples_processed']} samples ({cost['ratio_vs_full_ensemble']:.3f} of full retraining), "
              f"{cost['seconds']:.2f} s")
    total = len(setup.task.frame) - len(next_task.frame)
    with setup.store.staging(state) as staged:
        write_state_files(staged, round_, serving, weights, features, new, next_task.frame)
        Ledger(staged / LEDGER).append("unlearned", **record)
        write_round_outputs(staged, round_, cost, fairness, membership,
                            {"round": round_, "deleted": total, "serving": serving})
        failpoint(f"round-{round_}/staged")
        return setup.store.commit(staged, round_)


def purge_run(setup: RunSetup, state: State) -> State:
    """Finish the round in `state`: remove everything derived from deleted examples (see `purge.py`)."""
    setup.store.ensure_views()  # links a kill between a commit and their update left missing
    removed = purge(setup.run_dir, state, setup.cache_files())
    if removed and state.round > 0:
        setup.log(f"round {state.round}: purged {len(removed)} checkpoint(s), state folder(s) and cached file(s) "
                  "derived from deleted examples")
    return state


def deleted_id_hashes(state: State) -> set[str]:
    """Salted hashes of every id deleted so far (training and calibration), from the ledger."""
    out: set[str] = set()
    for rec in state.ledger.records():
        out |= set(rec.get("ids", [])) | set(rec.get("calibration_ids", []))
    return out


def summary_line(state: State) -> str:
    info = json.loads((state.path / "summary.json").read_text())
    return f"round {state.round}: {info['deleted']} example(s) deleted so far"


def run_plan(setup: RunSetup, plan, features: str | None) -> State:
    """Round 0 and every planned deletion round, resuming from the committed state (a rerun after a kill)."""
    from babybias.errors import BabybiasError

    state = setup.store.current()
    if state is None:
        state = initial_round(setup, plan.assignment, features)
    purge_run(setup, state)
    done = [np.intersect1d(ids, plan.assignment.all_ids()) for ids in plan.rounds[: state.round]]
    expected = plan.assignment.without(np.concatenate(done)) if done else plan.assignment
    if state.round > len(plan.rounds) or state.assignment.to_json() != expected.to_json():
        raise BabybiasError(f"{setup.run_dir} holds a state (round {state.round}) that its config's plan does not "
                            "lead to", fix="rerun with the run's saved config, or choose another name=")
    for round_ in range(state.round + 1, len(plan.rounds) + 1):
        ids = plan.rounds[round_ - 1]
        train = np.intersect1d(ids, state.assignment.all_ids())
        from_file = plan.from_file and round_ in plan.from_file
        source = setup.cfg.unlearn.requests_file if from_file else f"sampled {setup.cfg.unlearn.distribution}"
        state = apply_round(setup, state, train, np.setdiff1d(ids, train), source)
        purge_run(setup, state)
    return state
