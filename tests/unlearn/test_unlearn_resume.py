"""A kill at any step of `babybias unlearn` (initial training and planned rounds) or of `forget` leaves the old
state or the new one, and rerunning the same commands gives the same final state as an uninterrupted run;
a resumed run reuses every finished slice checkpoint. In-process kills at every failpoint, and real kill -9s."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from unlearn_helpers import canonical_state, fast_overrides

from babybias.failpoints import ENV, hooked
from babybias.launch.compose import run_command
from babybias.unlearn.state import StateStore

STEPS = ["unlearn.rounds=1", "unlearn.requests=2", "unlearn.single_model=true"]


class Killed(BaseException):
    """Stops a command at a failpoint, like kill -9 (not an Exception: nothing may catch and carry on)."""


KILL_STEPS = [*STEPS, "slices=1", "unlearn.single_model=false"]  # fewer steps; the kill -9 test has the others


@pytest.fixture(scope="module")
def reference(tiny_encoder_run, shared_data, tmp_path_factory):
    """An uninterrupted run (one planned round), a copy of it, then `forget` on it: the states after training and
    after forget, the failpoints each passed, the copy (to kill forgets in) and the ids file."""
    runs = tiny_encoder_run
    training: list[str] = []
    with hooked(training.append):
        run = run_command("unlearn", fast_overrides(runs, shared_data, "resume-ref", *KILL_STEPS)).path
    trained = canonical_state(run)
    state = StateStore(run).current()
    examples = state.examples
    ids = [int(state.assignment.slices[0][0][0]), int(state.assignment.slices[1][0][-1]),
           int(examples.loc[examples["split"] == "calibration", "id"].iloc[0])]
    ids_file = tmp_path_factory.mktemp("ids") / "ids.txt"
    ids_file.write_text("".join(f"{i}\n" for i in ids))
    copy = tmp_path_factory.mktemp("trained") / "unlearn"
    shutil.copytree(run, copy, symlinks=True)
    forgetting: list[str] = []
    with hooked(forgetting.append):
        run_command("unlearn", ["action=forget", f"run={run}", f"ids={ids_file}"])
    return trained, canonical_state(run), training, forgetting, copy, ids_file


def _consistent(run) -> None:
    """The committed state is whole: its ledger ends with the record of its own round and serving models."""
    state = StateStore(run).current()
    if state is not None:
        last = state.ledger.records()[-1]
        assert (last["round"], last["serving"]) == (state.round, state.serving)


def _kill_at(k: int):
    calls = iter(range(10**6))

    def hook(point: str) -> None:
        if next(calls) == k:
            raise Killed(point)

    return hooked(hook)


@pytest.mark.slow
def test_a_kill_between_any_two_steps_of_training_then_a_rerun_gives_the_same_state(reference, tiny_encoder_run,
                                                                                     shared_data):
    trained, _, steps, _, _, _ = reference
    assert {"created", "meta-written", "shard-0/stage-1", "shard-1/stage-1", "round-0/staged", "round-0/renamed",
            "round-0/purged", "round-1/staged", "round-1/renamed", "round-1/purged-checkpoints",
            "round-1/purged-states", "round-1/purged"} <= set(steps)
    for k, step in enumerate(steps):
        args = fast_overrides(tiny_encoder_run, shared_data, f"killtrain{k}", *KILL_STEPS)
        with pytest.raises(Killed), _kill_at(k):
            run_command("unlearn", args)
        _consistent(tiny_encoder_run / f"killtrain{k}" / "unlearn")
        assert canonical_state(run_command("unlearn", args).path) == trained, f"killed at step {k} ({step})"


@pytest.mark.slow
def test_a_kill_between_any_two_steps_of_forget_then_a_rerun_gives_the_same_state(reference, tmp_path):
    _, forgot, _, steps, trained_copy, ids_file = reference
    assert {"round-2/staged", "round-2/renamed", "round-2/purged-checkpoints", "round-2/purged-states",
            "round-2/purged"} <= set(steps)
    for k, step in enumerate(steps):
        run = tmp_path / f"killforget{k}" / "unlearn"
        shutil.copytree(trained_copy, run, symlinks=True)
        forget = ["action=forget", f"run={run}", f"ids={ids_file}"]
        with pytest.raises(Killed), _kill_at(k):
            run_command("unlearn", forget)
        _consistent(run)
        assert StateStore(run).current().round in (1, 2)  # the old state or the new one
        run_command("unlearn", forget)
        assert canonical_state(run) == forgot, f"killed at step {k} ({step})"


def _killed_subprocess(args: list[str], failpoint: str) -> None:
    code = "import sys; from babybias.launch.compose import run_command; run_command('unlearn', sys.argv[1:])"
    env = {**os.environ, ENV: failpoint}
    out = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == -9, out.stderr[-3000:]


@pytest.mark.slow
def test_real_kill9_in_training_and_in_forget_then_rerun(tiny_encoder_run, shared_data, tmp_path):
    runs = tiny_encoder_run
    ids_file = tmp_path / "ids.txt"
    reference = run_command("unlearn", fast_overrides(runs, shared_data, "kill9-ref", *STEPS)).path
    state = StateStore(reference).current()
    ids_file.write_text(f"{int(state.assignment.slices[0][1][0])}\n{int(state.assignment.slices[1][0][0])}\n")
    run_command("unlearn", ["action=forget", f"run={reference}", f"ids={ids_file}"])

    args = fast_overrides(runs, shared_data, "kill9", *STEPS)
    _killed_subprocess(args, "shard-1/stage-1")  # round 0: shard 0 done, shard 1 half done
    run = runs / "kill9" / "unlearn"
    assert len(list((run / "checkpoints").glob("shard-*/*/model.pt"))) == 3  # shard 0's 2 stages, shard 1's first
    steps: list[str] = []
    with hooked(steps.append):
        run_command("unlearn", args)  # resumes
    # round 0 trained only what the kill cut: every finished slice checkpoint was reused (stage failpoints fire
    # only when a stage is trained)
    assert steps[: steps.index("round-0/staged")] == ["shard-1/stage-2", "shard-single/stage-1", "single-trained"]
    _killed_subprocess(["action=forget", f"run={run}", f"ids={ids_file}"], "round-2/staged")
    assert any((run / "states").glob(".next.*"))  # a real kill leaves the half-written state behind
    _consistent(run)
    assert StateStore(run).current().round == 1  # the old state
    run_command("unlearn", ["action=forget", f"run={run}", f"ids={ids_file}"])
    assert canonical_state(run) == canonical_state(reference)


def test_a_kill_right_after_a_commit_leaves_the_run_views_to_the_rerun(tmp_path):
    """The `state` link is swapped, then the run directory's links to its tables (fairness.csv, ledger.jsonl, ...)
    are made: a kill in between must not leave a finished run without them."""
    import numpy as np
    import pandas as pd

    from babybias.configs.unlearn import (
        FairnessConfig,
        FairSisaConfig,
        SisaConfig,
        UnlearnConfig,
        UnlearnRequestsConfig,
    )
    from babybias.unlearn.features import FeatureStore
    from babybias.unlearn.rounds import RunSetup, initial_round, purge_run
    from babybias.unlearn.setup import trainer_factory
    from babybias.unlearn.sisa import partition
    from babybias.unlearn.task import ToxicityTask

    rng = np.random.default_rng(0)
    n = 120
    frame = pd.DataFrame({"id": np.arange(n, dtype=np.int64), "text": [f"t{i}" for i in range(n)],
                          "label": np.arange(n) % 2, "term": "x", "group": np.where(np.arange(n) % 4 < 2, "a", "b"),
                          "split": np.r_[np.full(60, "train"), np.full(30, "calibration"), np.full(30, "test")]})
    cfg = UnlearnConfig(sisa=SisaConfig(shards=2, slices=1, epochs_per_slice=2),
                        unlearn=UnlearnRequestsConfig(rounds=0, single_model=False),
                        fairness=FairnessConfig(constituents=False, eval_sets=["test"]),
                        fairsisa=FairSisaConfig(methods=["final"], threshold_optimizer=False, single_model=False))
    digest = FeatureStore(tmp_path / "features").save(frame["id"].to_numpy(), rng.standard_normal((n, 8)))
    task = ToxicityTask(frame=frame, groups=["a", "b"])
    setup = RunSetup(run_dir=tmp_path, task=task, make_trainer=trainer_factory(cfg, None), recipe="r", seed=0, cfg=cfg,
                     log=lambda *_: None)

    def kill(point: str) -> None:
        if point == "round-0/committed":
            raise Killed(point)

    with pytest.raises(Killed), hooked(kill):
        initial_round(setup, partition(task.train_ids, 2, 1, seed=0), digest)
    state = StateStore(tmp_path).current()
    assert state is not None and state.round == 0  # committed
    purge_run(setup, state)  # what every rerun (and forget) starts with
    for name in ("ledger.jsonl", "fairness.csv", "costs.csv", "serving.json"):
        assert (tmp_path / name).is_symlink() and (tmp_path / name).read_bytes() == (state.path / name).read_bytes()
