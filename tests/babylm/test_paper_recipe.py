"""`experiment=paper_ltgbert`: the seed paper's pretraining recipe, its BERT-base arm, epochs -> steps, dry run."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest
import torch
import yaml

from babybias.launch.compose import compose_command, run_command

torch.set_num_threads(1)

RECIPE_TRAIN = {"epochs": 20.0, "batch_size": 256, "seq_len": 128, "lr": 5e-4, "adam_beta1": 0.9, "adam_beta2": 0.999,
                "adam_eps": 1e-8, "weight_decay": 0.0, "warmup_steps": 0, "schedule": "linear", "min_lr_ratio": 0.0,
                "grad_clip": 1.0, "mlm_probability": 0.15, "checkpoint_every": 10000, "checkpoint_steps": []}
LTG_BERT_BASE = {"architecture": "ltg_bert", "hidden_size": 768, "num_layers": 12, "num_heads": 12,
                 "intermediate_size": 2048, "position_bucket_size": 32, "max_position_embeddings": 512,
                 "layer_norm_eps": 1e-7, "hidden_dropout": 0.1, "attention_dropout": 0.1}


def test_cfg_job_shows_the_recipe():
    env = {**os.environ, "WANDB_MODE": "disabled"}
    out = subprocess.run([sys.executable, "-m", "babybias.cli", "pretrain", "experiment=paper_ltgbert", "--cfg", "job"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    cfg = yaml.safe_load(out.stdout)
    assert {k: cfg["train"][k] for k in RECIPE_TRAIN} == RECIPE_TRAIN
    assert {k: cfg["model"][k] for k in LTG_BERT_BASE} == LTG_BERT_BASE
    assert cfg["tokenizer"]["vocab_size"] == 16384 and cfg["tokenizer"]["lowercase"] is False
    assert cfg["corpus"]["sources"] == ["babylm_100m"] and cfg["corpus"]["validation_fraction"] == 0.05
    assert cfg["corpus"]["mutation"] == "original" and cfg["corpus"]["deduplicate"] is False


def test_bert_base_arm_differs_in_the_model_only():
    ltg = compose_command("pretrain", ["experiment=paper_ltgbert"])
    bert = compose_command("pretrain", ["experiment=paper_ltgbert", "model=bert_base"])
    assert (bert.model.architecture, bert.model.hidden_size, bert.model.num_layers, bert.model.intermediate_size) == \
        ("bert", 768, 12, 3072)
    assert bert.train == ltg.train and bert.corpus == ltg.corpus and bert.tokenizer == ltg.tokenizer


def test_epochs_set_the_step_count_from_the_packed_corpus(tmp_path, babylm_data):
    tiny = ["model.hidden_size=32", "model.num_layers=2", "model.num_heads=2", "model.intermediate_size=48",
            "model.max_position_embeddings=64", "model.position_bucket_size=8", "tokenizer.vocab_size=200",
            "tokenizer.model_max_length=64", "train.seq_len=32", "train.batch_size=16", "train.epochs=1.5",
            "train.validation_blocks=4", "impl=cpu", "wandb=off"]
    common = [f"data.root={babylm_data.root}", "data.mirror=null", f"paths.runs={tmp_path / 'runs'}",
              f"paths.cache={tmp_path / 'cache'}"]
    result = run_command("pretrain", ["experiment=paper_ltgbert", "name=epochs", *tiny, *common])
    run = tmp_path / "runs" / "epochs" / "pretrain"
    n_blocks = json.loads((run / "data_order" / "order.json").read_text())["n_blocks"]
    assert result.steps == math.ceil(1.5 * n_blocks / 16) > 1
    saved = yaml.safe_load((run / "config.yaml").read_text())["train"]
    assert saved["steps"] == result.steps and saved["epochs"] == 1.5
    last = [r for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()) if "epoch" in r][-1]
    assert 1.5 <= last["epoch"] < 1.5 + 16 / n_blocks


def test_budget_estimate_is_the_flop_count_at_the_stated_mfu():
    from babybias.train import budget

    found = budget.estimate(2e9, 5e8, "ltg_bert", gpu_name=None, peak_flops=None)
    assert found.gpu == "H100/H200" and found.flops == 1e18
    assert found.gpu_hours == pytest.approx(1e18 / (0.40 * 989e12) / 3600)
    assert "no GPU throughput of babybias measured yet" in found.describe() and "40% MFU" in found.describe()
    measured = {("H200", "ltg_bert"): 1e6}
    budget.MEASURED_TOKENS_PER_S.update(measured)
    try:
        timed = budget.estimate(2e9, 5e8, "ltg_bert", gpu_name="NVIDIA H200", peak_flops=989e12)
        assert timed.gpu_hours == pytest.approx(2e9 / 1e6 / 3600) and "measured" in timed.basis
    finally:
        for key in measured:
            budget.MEASURED_TOKENS_PER_S.pop(key)


@pytest.mark.slow
def test_dryrun_runs_the_recipe_at_full_size(tmp_path, babylm_data, capsys):
    """One optimizer step of LTG-BERT base (12 x 768) on the synthetic babylm_100m: corpus, tokenizer, blocks,
    model, step, checkpoint and final model, through the recipe's own config."""
    common = [f"data.root={babylm_data.root}", "data.mirror=null", f"paths.runs={tmp_path / 'runs'}",
              f"paths.cache={tmp_path / 'cache'}", "impl=cpu", "wandb=off"]
    result = run_command("pretrain", ["experiment=paper_ltgbert", "dryrun=true", "name=paper", *common])
    run = tmp_path / "runs" / "paper" / "pretrain-dryrun"
    assert result.steps == 1 and (run / "DONE").exists()
    config = json.loads((run / "model" / "config.json").read_text())
    assert (config["model_type"], config["hidden_size"], config["num_hidden_layers"]) == ("ltg_bert", 768, 12)
    corpus = json.loads((run / "corpus.json").read_text())
    assert corpus["manifest"]["sources"][0]["name"] == "babylm_100m"


def test_long_runs_announce_their_gpu_hours_and_short_ones_stay_quiet(capsys):
    from types import SimpleNamespace

    from babybias.train import budget

    def trainer(steps, done=0):
        cfg = SimpleNamespace(train=SimpleNamespace(steps=steps, batch_size=256, seq_len=128),
                              model=SimpleNamespace(name="ltg_bert"))
        return SimpleNamespace(cfg=cfg, step=done, device=torch.device("cpu"), _flops_per_token=5.768e8,
                               _peak_flops=None, dist=SimpleNamespace(world_size=1))

    found = budget.announce(trainer(80_000, done=20_000))  # ~ 20 epochs of BabyLM 100M, resumed at a quarter
    out = capsys.readouterr().out
    tokens = 60_000 * 256 * 128
    assert found.tokens == tokens and found.gpu_hours == pytest.approx(tokens * 5.768e8 / (0.4 * 989e12) / 3600)
    assert out.startswith("60000 steps: expected compute:") and "GPU-hours on H100/H200" in out
    assert budget.announce(trainer(10)) is None and capsys.readouterr().out == ""
