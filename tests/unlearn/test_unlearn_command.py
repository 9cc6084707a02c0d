"""`babybias unlearn` end to end on a tiny saved encoder, the audit, tampering, and bad inputs."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from babybias.errors import BabybiasError
from babybias.launch.compose import run_command
from babybias.unlearn.ledger import audit_run


def overrides(runs, shared_data, name, *extra):
    return [f"name={name}", "encoder=tinyenc", f"paths.runs={runs}", f"paths.cache={runs}/cache",
            f"data.root={shared_data}", "data.mirror=null", "wandb=off", "task.max_examples=600", "shards=3",
            "slices=2", "sisa.epochs_per_slice=5", "unlearn.requests=3", "unlearn.rounds=2", *extra]


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
    cfg = (run_dir / "config.yaml").read_text()
    assert "shards: 3" in cfg and "seed: 0" in cfg


def test_only_shards_holding_deleted_ids_were_retrained(run_dir):
    from babybias.unlearn.sisa import Assignment

    assignment = Assignment.load(run_dir / "assignment.json")
    rounds = json.loads((run_dir / "requests.json").read_text())["rounds"]
    ledger = [json.loads(line) for line in (run_dir / "ledger.jsonl").read_text().splitlines()]
    applied = [rec for rec in ledger if rec["event"] == "applied"]
    for rec, ids in zip(applied, rounds):
        holding = {str(s) for s in assignment.shards_holding(pd.Series(ids).to_numpy())}
        assert set(rec["retrained"]) == holding | {"single"}


def test_audit_passes_then_fails_on_tampering(run_dir, tmp_path):
    result = run_command("unlearn", ["action=audit", f"run={run_dir}"])
    assert result.ok and result.deleted == 6 and result.rounds == 2

    def tampered(edit) -> list[str]:
        copy = tmp_path / f"copy{len(list(tmp_path.iterdir()))}"
        shutil.copytree(run_dir, copy)
        edit(copy)
        res = audit_run(copy)
        assert not res.ok
        return res.problems

    def edit_request(d):
        lines = (d / "ledger.jsonl").read_text().splitlines()
        rec = json.loads(lines[1])
        rec["ids"] = rec["ids"][1:]  # pretend one id was never requested
        lines[1] = json.dumps(rec, sort_keys=True)
        (d / "ledger.jsonl").write_text("\n".join(lines) + "\n")

    assert any("hash chain" in p for p in tampered(edit_request))

    def drop_last_applied(d):
        lines = (d / "ledger.jsonl").read_text().splitlines()
        (d / "ledger.jsonl").write_text("\n".join(lines[:-1]) + "\n")

    assert any("never applied" in p for p in tampered(drop_last_applied))

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

    def serve_old_model(d):
        # swap a serving model back to the pre-deletion checkpoint, ledger rewritten consistently
        from babybias.unlearn.ledger import record_hash

        lines = [json.loads(x) for x in (d / "ledger.jsonl").read_text().splitlines()]
        first, last = lines[0], lines[-1]
        changed = [s for s in first["serving"] if first["serving"][s] != last["serving"][s] and s != "single"]
        s = changed[0]
        last["serving"][s], last["weights"][s] = first["serving"][s], first["weights"][s]
        last["hash"] = record_hash(last)
        (d / "ledger.jsonl").write_text("\n".join(json.dumps(x, sort_keys=True) for x in lines) + "\n")
        (d / "serving.json").unlink()

    assert any("deleted ids" in p and "lineage" in p for p in tampered(serve_old_model))

    copy = tmp_path / "cli"
    shutil.copytree(run_dir, copy)
    drop_last_applied(copy)
    with pytest.raises(BabybiasError, match="audit FAILED"):
        run_command("unlearn", ["action=audit", f"run={copy}"])


@pytest.mark.parametrize("content,match", [("5\n999999\n", "not training examples"),
                                           ("five\n", "not an id")])
def test_bad_request_file_writes_nothing(tiny_encoder_run, shared_data, tmp_path, content, match):
    path = tmp_path / "requests.txt"
    path.write_text(content)
    name = f"bad{len(content)}"
    with pytest.raises(BabybiasError, match=match):
        run_command("unlearn", overrides(tiny_encoder_run, shared_data, name, f"unlearn.requests_file={path}"))
    assert not (tiny_encoder_run / name / "unlearn" / "ledger.jsonl").exists()
    assert not (tiny_encoder_run / name / "unlearn" / "config.yaml").exists()


def test_rerun_into_existing_run_is_refused(run_dir, tiny_encoder_run, shared_data):
    with pytest.raises(BabybiasError, match="already holds"):
        run_command("unlearn", overrides(tiny_encoder_run, shared_data, "e2e"))


def test_missing_encoder_is_a_clear_error(tiny_encoder_run, shared_data):
    with pytest.raises(BabybiasError, match="no pretrain run"):
        run_command("unlearn", overrides(tiny_encoder_run, shared_data, "noenc", "encoder=nosuchrun"))
