"""`babybias unlearn` end to end on a tiny saved encoder, the audit, tampering, resuming, and bad inputs."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
from unlearn_helpers import _unhash, fast_overrides, overrides

from babybias.errors import BabybiasError
from babybias.launch.compose import run_command
from babybias.unlearn.audit import audit_run


@pytest.fixture(scope="module")
def run_dir(tiny_encoder_run, shared_data):
    run = run_command("unlearn", overrides(tiny_encoder_run, shared_data, "e2e"))
    return run.path


def test_run_writes_tables_costs_and_done(run_dir):
    assert (run_dir / "DONE").is_file()
    for r in range(3):
        table = pd.read_csv(run_dir / "rounds" / f"round-{r}" / "fairness.csv")
        methods = set(table["method"])
        assert {"single", "sisa_vote", "fairsisa_final", "fairsisa_constituent", "fairsisa_joint",
                "threshold_optimizer", "constituent_0"} <= methods
        assert set(table["eval_set"]) == {"test", "real"}
        assert (run_dir / "rounds" / f"round-{r}" / "fairness.md").read_text().startswith("## Round")
    costs = pd.read_csv(run_dir / "costs.csv")
    assert costs["round"].tolist() == [0, 1, 2]
    assert costs.loc[0, "ratio_vs_full_ensemble"] == 1.0
    assert (costs.loc[1:, "ratio_vs_full_ensemble"] <= 1.0).all()
    assert (run_dir / "tradeoff.png").stat().st_size > 1000
    membership = pd.read_csv(run_dir / "membership.csv")
    assert set(zip(membership["round"], membership["attack"], membership["phase"])) == {
        (r, a, p) for r in (1, 2) for a in ("loss", "lira_offline") for p in ("before", "after")}
    assert (membership["n_members"] == 3).all() and (run_dir / "membership.png").stat().st_size > 1000
    assert (run_dir / "rounds" / "round-2" / "membership.csv").is_file()
    cfg = (run_dir / "config.yaml").read_text()
    assert "shards: 3" in cfg and "seed: 0" in cfg


def test_only_shards_holding_deleted_ids_were_retrained(run_dir):
    from babybias.data.store import require
    from babybias.runs import RunDir
    from babybias.unlearn.requests import plan_run
    from babybias.unlearn.setup import load_saved_config
    from babybias.unlearn.state import StateStore
    from babybias.unlearn.task import DATASET, build_task

    cfg = load_saved_config(RunDir(run_dir))
    planned = plan_run(build_task(require(DATASET, cfg.data), cfg.task, cfg.seed), cfg.sisa, cfg.unlearn, cfg.seed)
    state = StateStore(run_dir).current()
    unlearned = [rec for rec in state.ledger.records() if rec["event"] == "unlearned"]
    assignment = planned.assignment
    for rec, ids in zip(unlearned, planned.rounds):
        assert _unhash(state.salt, rec["ids"]) == sorted(ids.tolist())  # the ledger holds hashes of the plan's ids
        holding = {str(s) for s in assignment.shards_holding(ids)}
        assert set(rec["retrained"]) == holding | {"single"}
        assert {r["shard"] for r in rec["removed"]} == holding | {"single"}
        assignment = assignment.without(ids)
    assert state.assignment.to_json() == assignment.to_json()
    ledger_text = (run_dir / "ledger.jsonl").read_text()
    assert not any(f'"ids": [{i}' in ledger_text or f" {i}," in ledger_text for ids in planned.rounds for i in ids)


def test_audit_passes_then_fails_on_tampering(run_dir, tmp_path):
    result = run_command("unlearn", ["action=audit", f"run={run_dir}"])
    assert result.ok and result.deleted == 6 and result.rounds == 2

    def tampered(edit) -> list[str]:
        copy = tmp_path / f"copy{len(list(tmp_path.iterdir()))}"
        shutil.copytree(run_dir, copy, symlinks=True)
        edit(copy)
        res = audit_run(copy)
        assert not res.ok
        return res.problems

    def edit_record(d):
        lines = (d / "state" / "ledger.jsonl").read_text().splitlines()
        rec = json.loads(lines[1])
        rec["ids"] = rec["ids"][1:]  # pretend one id was never requested
        lines[1] = json.dumps(rec, sort_keys=True)
        (d / "state" / "ledger.jsonl").write_text("\n".join(lines) + "\n")

    assert any("hash chain" in p for p in tampered(edit_record))

    def drop_last_record(d):
        lines = (d / "state" / "ledger.jsonl").read_text().splitlines()
        (d / "state" / "ledger.jsonl").write_text("\n".join(lines[:-1]) + "\n")

    assert any("does not describe the committed state" in p for p in tampered(drop_last_record))

    def edit_lineage(d):
        serving = json.loads((d / "serving.json").read_text())["serving"]
        path = d / "checkpoints" / "shard-0" / serving["0"] / "lineage.json"
        lineage = json.loads(path.read_text())
        lineage["slices"][0] = lineage["slices"][0][1:]
        path.write_text(json.dumps(lineage))

    assert any("do not hash to its key" in p for p in tampered(edit_lineage))

    def edit_weights(d):
        serving = json.loads((d / "serving.json").read_text())["serving"]
        with open(d / "checkpoints" / "shard-1" / serving["1"] / "model.pt", "ab") as fh:
            fh.write(b"\0")

    assert any("weights" in p for p in tampered(edit_weights))

    copy = tmp_path / "cli"
    shutil.copytree(run_dir, copy, symlinks=True)
    drop_last_record(copy)
    with pytest.raises(BabybiasError, match="audit FAILED"):
        run_command("unlearn", ["action=audit", f"run={copy}"])


@pytest.mark.parametrize("content,match", [("5\n999999\n", "not training"),
                                           ("five\n", "not an id")])
def test_bad_request_file_writes_nothing(tiny_encoder_run, shared_data, tmp_path, content, match):
    path = tmp_path / "requests.txt"
    path.write_text(content)
    name = f"bad{len(content)}"
    with pytest.raises(BabybiasError, match=match):
        run_command("unlearn", overrides(tiny_encoder_run, shared_data, name, f"unlearn.requests_file={path}"))
    assert not (tiny_encoder_run / name / "unlearn" / "ledger.jsonl").exists()
    assert not (tiny_encoder_run / name / "unlearn" / "config.yaml").exists()


def test_rerun_of_a_finished_run_changes_nothing_and_other_settings_are_refused(run_dir, tiny_encoder_run,
                                                                               shared_data, capsys):
    before = (run_dir / "state" / "ledger.jsonl").read_text()
    run_command("unlearn", overrides(tiny_encoder_run, shared_data, "e2e"))
    assert "already DONE" in capsys.readouterr().out
    assert (run_dir / "state" / "ledger.jsonl").read_text() == before
    with pytest.raises(BabybiasError, match="other settings.*sisa.lr"):
        run_command("unlearn", overrides(tiny_encoder_run, shared_data, "e2e", "sisa.lr=0.5"))


def test_missing_encoder_is_a_clear_error(tiny_encoder_run, shared_data):
    with pytest.raises(BabybiasError, match="no pretrain run"):
        run_command("unlearn", overrides(tiny_encoder_run, shared_data, "noenc", "encoder=nosuchrun"))


def test_a_run_trained_on_an_encoder_that_was_retrained_since_is_refused(tiny_encoder_run, shared_data, tmp_path):
    """A finished run of the same name and settings was skipped even when `encoder=` had been retrained (a study
    reran after its encoder was redone): the old encoder's numbers were reported as the new one's."""
    from safetensors.torch import load_file, save_file

    runs = tmp_path / "runs"
    shutil.copytree(tiny_encoder_run / "tinyenc", runs / "tinyenc")
    args = fast_overrides(runs, shared_data, "retrained", "unlearn.rounds=0")
    run_command("unlearn", args)
    run_command("unlearn", args)  # the same encoder: a finished run is skipped
    weights = runs / "tinyenc" / "pretrain" / "model" / "model.safetensors"
    tensors = load_file(weights)
    save_file({k: v + 0.01 for k, v in tensors.items()}, weights, metadata={"format": "pt"})  # retrained
    with pytest.raises(BabybiasError, match="another encoder"):
        run_command("unlearn", args)
