"""`torchrun --nproc_per_node 2` on CPU (gloo): each rank trains on its shard, ranks end with equal weights,
and the result matches a single process on the same global batch (no dropout, so only rounding differs)."""

from __future__ import annotations

import pytest
import torch
from run_helpers import run_two_ranks
from train_helpers import tiny_overrides


@pytest.mark.ddp
def test_two_process_gloo_run_agrees_with_one_process(tmp_path, tiny_corpus, monkeypatch):
    no_dropout = {"model.hidden_dropout": 0.0, "model.attention_dropout": 0.0, "train.checkpoint_steps": "[]"}
    rank0 = run_two_ranks(tmp_path, tiny_corpus.path, tiny_overrides(tmp_path, name="ddp", steps=3, **no_dropout))

    import babybias.commands.pretrain as pretrain
    from babybias.launch.compose import compose_command

    monkeypatch.setattr(pretrain, "build_corpus_artifact", lambda cfg: tiny_corpus)
    single = pretrain.run(compose_command("pretrain", tiny_overrides(tmp_path, name="single", steps=3, **no_dropout)))
    reference = single.model.state_dict()
    assert all(torch.allclose(rank0[k], reference[k], atol=1e-5) for k in rank0)
    ddp_run = tmp_path / "runs" / "ddp" / "pretrain"
    assert (ddp_run / "DONE").exists() and '"world_size": 2' in (ddp_run / "meta.json").read_text()
    assert not any(p.name.startswith("rank") for p in ddp_run.iterdir())
