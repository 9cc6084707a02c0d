"""Retrain under the same name, then evaluate: the new model's numbers are computed, never the old ones."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from train_helpers import tiny_overrides

from babybias.launch.compose import run_command

torch.set_num_threads(1)


def _pppl(tmp_path) -> tuple[str, dict]:
    status = run_command("evaluate", ["run=tiny", f"paths.runs={tmp_path / 'runs'}", "eval=[pppl]", "pppl.max_texts=12",
                                      "impl.device=cpu", f"data.root={tmp_path / 'data'}"])["status"]
    ((checkpoint, states),) = status.items()  # the final model: tiny/step-0000003
    return states["pppl"], json.loads((tmp_path / "runs" / checkpoint.replace("/", "/eval/") / "pppl.json").read_text())


def test_retrain_under_the_same_name_then_evaluate_gives_the_new_numbers(tmp_path, use_corpus):
    run_command("pretrain", tiny_overrides(tmp_path, steps=3, **{"train.checkpoint_steps": "[]"}))
    state, first = _pppl(tmp_path)
    assert state.startswith("computed") and _pppl(tmp_path)[0] == "skipped (exists)"
    eval_root = tmp_path / "runs" / "tiny" / "eval"
    kept = shutil.copytree(eval_root, tmp_path / "old_eval")

    # starting over (resume=false) with another seed: the old evaluations go with the old model
    run_command("pretrain", tiny_overrides(tmp_path, steps=3, seed=11, resume="false", force="true",
                                           **{"train.checkpoint_steps": "[]"}))
    assert not eval_root.exists()
    state, second = _pppl(tmp_path)
    assert state.startswith("computed")
    assert second["weights_sha256"] != first["weights_sha256"]
    assert second["summary"]["pppl"] != pytest.approx(first["summary"]["pppl"])

    # even with the old results put back by hand, they are not reused for the new weights
    shutil.rmtree(eval_root)
    shutil.copytree(kept, eval_root)
    state, third = _pppl(tmp_path)
    assert "weights changed" in state
    assert third["summary"]["pppl"] == second["summary"]["pppl"]
