"""`babybias unlearn forget`: one round on a finished run equals the same round run inside one invocation, bit
for bit; calibration examples can be deleted (the post-processors are refit without them); already-deleted ids
are skipped and ids that are not training or calibration examples are refused with their list."""

from __future__ import annotations

import pandas as pd
import pytest
from unlearn_helpers import canonical_state, fast_overrides

from babybias.errors import BabybiasError
from babybias.launch.compose import run_command
from babybias.unlearn.state import StateStore


@pytest.fixture(scope="module")
def runs(tiny_encoder_run):
    return tiny_encoder_run


@pytest.fixture(scope="module")
def forgotten(runs, shared_data, tmp_path_factory):
    """Run B trained with no deletion round, then `forget` of 2 training ids (two shards) and 4 calibration ids;
    run A: the same ids as its one planned round. Returns (A, B, training ids, calibration ids)."""
    b = run_command("unlearn", fast_overrides(runs, shared_data, "forgetB", "unlearn.rounds=0")).path
    state = StateStore(b).current()
    train = [int(state.assignment.slices[0][1][0]), int(state.assignment.slices[1][0][0])]
    examples = state.examples
    calibration = examples.loc[examples["split"] == "calibration", "id"].astype(int).tolist()[:4]
    ids_file = tmp_path_factory.mktemp("ids") / "ids.txt"
    ids_file.write_text("".join(f"{i}\n" for i in train + calibration))
    run_command("unlearn", ["action=forget", f"run={b}", f"ids={ids_file}"])
    a = run_command("unlearn", fast_overrides(runs, shared_data, "forgetA", "unlearn.rounds=1",
                                              f"unlearn.requests_file={ids_file}")).path
    return a, b, train, calibration


def test_forget_equals_the_same_round_run_in_one_invocation(forgotten):
    a, b, _, _ = forgotten
    state_a, state_b = canonical_state(a), canonical_state(b)
    assert state_a["round"] == state_b["round"] == 1
    for key in state_a:
        assert state_a[key] == state_b[key], key
    ledger = StateStore(b).current().ledger.records()
    assert ledger[-1]["source"].startswith("forget") and ledger[-1]["retrained"].keys() == {"0", "1", "single"}


def test_calibration_deletion_is_recorded_and_the_postprocessors_are_refit(forgotten):
    from babybias.runs import RunDir
    from babybias.unlearn.evaluate import evaluate_round
    from babybias.unlearn.setup import load_saved_config, open_existing
    from babybias.unlearn.task import without_ids

    _, b, train, calibration = forgotten
    state = StateStore(b).current()
    record = state.ledger.records()[-1]
    assert record["calibration"] == {"removed": 4, "before": record["calibration"]["before"],
                                     "after": record["calibration"]["before"] - 4, "postprocessors_refit": True}
    assert len(record["calibration_ids"]) == 4 and len(record["ids"]) == 2 and len(record["texts"]) == 6
    assert not set(calibration + train) & set(state.examples["id"].astype(int))
    # the round's table is what post-processors fitted without the deleted calibration examples give
    cfg = load_saved_config(RunDir(b))
    setup = open_existing(cfg, RunDir(b), log=lambda *_: None)
    task = setup.current_task(state)
    ens = setup.ensemble(task, state.features)
    args = (ens, state.serving, cfg.sisa.shards, 1, cfg.fairness, cfg.fairsisa, cfg.seed, cfg.sisa.vote_ties)
    table = pd.read_csv(b / "rounds" / "round-1" / "fairness.csv")
    refit = pd.DataFrame(evaluate_round(task, *args))
    pd.testing.assert_frame_equal(table, refit, check_dtype=False)
    # not vacuous: the table depends on which calibration examples the post-processors are fitted on
    cal_left = task.split("calibration")["id"].to_numpy()
    fewer = pd.DataFrame(evaluate_round(without_ids(task, cal_left[:4]), *args))
    assert not fewer.equals(refit)


def test_already_deleted_ids_are_skipped_and_other_ids_refused(forgotten, runs, capsys):
    _, b, train, calibration = forgotten
    before = canonical_state(b)
    run_command("unlearn", ["action=forget", f"run={b}", f"ids=[{train[0]},{calibration[0]}]"])
    assert f"already deleted, skipped: 2 id(s): {sorted([train[0], calibration[0]])}" in capsys.readouterr().out
    examples = StateStore(b).current().examples
    test_id = int(examples.loc[examples["split"] == "test", "id"].iloc[0])
    with pytest.raises(BabybiasError, match=f"2 id\\(s\\) that are not training.*{test_id}, 99999999"):
        run_command("unlearn", ["action=forget", f"run={b}", f"ids=[{train[1]},{test_id},99999999]"])
    with pytest.raises(BabybiasError, match="neither a file nor a list"):
        run_command("unlearn", ["action=forget", f"run={b}", "ids=no_such_file.txt"])
    assert canonical_state(b) == before  # nothing changed


def test_forget_needs_a_finished_run(runs, shared_data, tmp_path):
    run = tmp_path / "x" / "unlearn"
    run.mkdir(parents=True)
    with pytest.raises(BabybiasError, match="no unlearning run"):
        run_command("unlearn", ["action=forget", f"run={run}", "ids=[1]"])


def test_forget_ids_come_as_a_list_a_number_a_file_or_a_string(tmp_path):
    from babybias.unlearn.requests import read_forget_ids

    path = tmp_path / "ids.txt"
    path.write_text("# to forget\n7\n5\n7  # twice\n")
    assert read_forget_ids([7, 5]).tolist() == [5, 7]
    assert read_forget_ids(5).tolist() == [5]
    assert read_forget_ids(str(path)).tolist() == [5, 7]
    assert read_forget_ids("5, 7").tolist() == [5, 7]
    for bad, match in ((None, "needs the ids"), ([], "needs the ids"), ("5,x", "neither a file")):
        with pytest.raises(BabybiasError, match=match):
            read_forget_ids(bad)
    path.write_text("2 7\n")
    with pytest.raises(BabybiasError, match="forget applies one round"):
        read_forget_ids(str(path))
    # two ids on a line are not a requests file's `<round> <id>` (round 1, id 7 would keep example 1)
    for content in ("1 7\n", "5\n1, 7\n"):
        path.write_text(content)
        with pytest.raises(BabybiasError, match="holds 2 values"):
            read_forget_ids(str(path))
    path.write_text("# nothing\n")
    with pytest.raises(BabybiasError, match="lists no ids"):
        read_forget_ids(str(path))


def test_forget_keeps_no_copy_of_its_overrides():
    """Hydra saves a command's overrides in .hydra/overrides.yaml; for forget they name the deleted ids."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from babybias.cli import config_dir
    from babybias.configs import register_all

    register_all()
    for action, subdir in (("forget", None), ("audit", ".hydra"), ("run", ".hydra")):
        with initialize_config_dir(version_base="1.3", config_dir=str(config_dir()), job_name="unlearn"):
            cfg = compose("unlearn", overrides=[f"action={action}", "run=x", "ids=[1]"], return_hydra_config=True)
        assert OmegaConf.select(cfg, "hydra.output_subdir") == subdir
