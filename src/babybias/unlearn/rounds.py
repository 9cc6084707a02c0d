"""Orchestration of one unlearning run: train the SISA ensemble, apply deletion rounds, evaluate each round.

Round 0 trains every constituent (and the single-model baseline) from scratch; round r >= 1 logs its
request in the ledger, retrains only the constituents whose shards held deleted ids (from their last clean
checkpoint), retrains the single model from scratch on the remaining ids, logs `applied` with the new
serving checkpoints, then refits the post-processors and writes the round's fairness table.

Cost accounting lives in `costs.py` (examples processed, against full retraining of the ensemble and of a
single model).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from babybias.configs.unlearn import FairnessConfig, FairSisaConfig, SisaConfig, UnlearnRequestsConfig
from babybias.runs import atomic_write_json
from babybias.unlearn.costs import cost_row
from babybias.unlearn.evaluate import Scored, fairness_table, fit_postprocessors
from babybias.unlearn.ledger import Ledger
from babybias.unlearn.report import plot_tradeoff, write_round_tables, write_table
from babybias.unlearn.requests import plan_requests, read_requests_file
from babybias.unlearn.sisa import SINGLE, Assignment, CheckpointStore, ConstituentResult, partition, train_constituent
from babybias.unlearn.task import ToxicityTask, ids_in_population


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
class RoundState:
    serving: dict = field(default_factory=dict)
    costs: list = field(default_factory=list)
    fairness: list = field(default_factory=list)


def _serving(ens: Ensemble, results: list[ConstituentResult], single: ConstituentResult | None) -> tuple[dict, dict]:
    named = {shard_name(r.shard): r for r in results + ([single] if single else [])}
    serving = {n: r.key for n, r in named.items()}
    weights = {n: ens.store(r.shard).lineage(r.key)["weights_sha256"] for n, r in named.items()}
    return serving, weights


def _scored(task: ToxicityTask, split: str, ens: Ensemble, serving: dict, n_shards: int) -> Scored | None:
    part = task.split(split)
    part = part[part["group"].isin(task.groups)]
    if part.empty:
        return None
    ids = part["id"].to_numpy(np.int64)
    keys = [serving[str(s)] for s in range(n_shards)]
    single = ens.single_proba(serving["single"], ids) if "single" in serving else None
    return Scored(y=part["label"].to_numpy(np.int64), groups=part["group"].to_numpy(object),
                  proba=ens.proba(keys, ids), single=single)


def evaluate_round(task, ens, serving, n_shards, round_, fcfg: FairnessConfig, fscfg: FairSisaConfig,
                   seed, ties: str = "negative") -> list[dict]:
    """Refit the post-processors on the calibration split; one fairness row per method and evaluation set."""
    cal = _scored(task, "calibration", ens, serving, n_shards)
    fitted = fit_postprocessors(cal, fscfg, ties)
    rows = []
    for eval_set in fcfg.eval_sets:
        data = _scored(task, eval_set, ens, serving, n_shards)
        if data is None:
            continue
        for row in fairness_table(data, fitted, fcfg, seed=seed + round_, ties=ties):
            rows.append({"round": round_, "eval_set": eval_set, **row})
    return rows


@dataclass
class Plan:
    """The partition and every round's deletions, fixed (and validated) before anything is written."""

    assignment: Assignment
    rounds: list
    """Ids deleted in rounds 1..R."""
    from_file: dict | None


def plan_run(task: ToxicityTask, sisa: SisaConfig, ucfg: UnlearnRequestsConfig, seed: int) -> Plan:
    """Partition the training ids and plan all deletion rounds; raises on bad input (unknown ids, empty shard)."""
    population = ids_in_population(task, ucfg.distribution)
    priority = population if sisa.partition == "distribution" else None
    assignment = partition(task.train_ids, sisa.shards, sisa.slices, seed, priority)
    from_file = read_requests_file(ucfg.requests_file) if ucfg.requests_file else None
    return Plan(assignment, plan_requests(assignment, population, ucfg.rounds, ucfg.requests, seed, from_file),
                from_file)


def run_unlearning(run_dir: Path, task: ToxicityTask, planned: Plan, trainer, recipe: str, seed: int,
                   sisa: SisaConfig, ucfg: UnlearnRequestsConfig, fcfg: FairnessConfig, fscfg: FairSisaConfig,
                   log=print) -> RoundState:
    """The whole run (see the module docstring), from a validated `plan_run` result."""
    assignment, plan, from_file = planned.assignment, planned.rounds, planned.from_file
    assignment.save(run_dir / "assignment.json")
    atomic_write_json(run_dir / "requests.json", {"distribution": ucfg.distribution, "file": ucfg.requests_file,
                                                  "rounds": [ids.tolist() for ids in plan]})
    ens = Ensemble(trainer, run_dir / "checkpoints", recipe, seed)
    ledger = Ledger(run_dir / "ledger.jsonl")
    state = RoundState()
    deleted = np.zeros(0, np.int64)
    base_rate = None
    # warm-up (untimed, nothing saved) so round 0's wall time holds no first-call costs
    trainer.train_stage(trainer.init_state(0), assignment.slices[0][0][:8], 0, epochs=1)
    single_epochs = sisa.epochs_per_slice * sisa.slices
    for round_ in range(len(plan) + 1):
        t0 = time.perf_counter()
        if round_:
            ids = plan[round_ - 1]
            from_this_file = from_file and round_ in from_file
            ledger.append("request", round=round_, ids=ids.tolist(),
                          source=ucfg.requests_file if from_this_file else f"sampled {ucfg.distribution}")
            deleted = np.concatenate([deleted, ids])
        current = assignment.without(deleted)
        results = ens.train(current)
        seconds = time.perf_counter() - t0
        # the single model gets as many epochs as a constituent's first slice: epochs_per_slice x slices
        single = ens.train_single(current.all_ids(), single_epochs) if ucfg.single_model else None
        processed = sum(r.samples_processed for r in results)
        if processed:  # throughput of this round's training estimates a full retrain's wall time
            base_rate = seconds / processed
        serving, weights = _serving(ens, results, single)
        ledger.append("trained" if round_ == 0 else "applied", round=round_, serving=serving, weights=weights,
                      retrained={shard_name(r.shard): r.stages_trained
                                 for r in results + ([single] if single else []) if r.stages_trained})
        atomic_write_json(run_dir / "serving.json", {"round": round_, "serving": serving})
        state.serving = serving
        row = cost_row(round_, len(plan[round_ - 1]) if round_ else 0, results, single, current,
                        sisa.epochs_per_slice, single_epochs, seconds, base_rate)
        state.costs.append(row)
        log(f"round {round_}: retrained shards [{row['shards_retrained']}], {row['slices_retrained']} slice stages, "
            f"{row['samples_processed']} samples ({row['ratio_vs_full_ensemble']:.3f} of full retraining), "
            f"{row['seconds']:.2f} s")
        rows = evaluate_round(task, ens, serving, sisa.shards, round_, fcfg, fscfg, seed, sisa.vote_ties)
        write_round_tables(rows, run_dir / "rounds" / f"round-{round_}", round_)
        state.fairness.extend(rows)
    costs = pd.DataFrame(state.costs)
    write_table(costs, run_dir / "costs", title="Deletion cost per round")
    fairness = pd.DataFrame(state.fairness)
    write_table(fairness, run_dir / "fairness", title="Fairness per round, method and evaluation set")
    if not fairness.empty:
        plot_tradeoff(fairness, run_dir / "tradeoff.png")
    atomic_write_json(run_dir / "summary.json", {"rounds": len(plan), "deleted": int(len(deleted)),
                                                 "serving": state.serving})
    return state
