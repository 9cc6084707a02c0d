"""LTG-BERT through babybias' pretraining: the MLM objective, exact resume, compatibility checks, Dropout debiasing."""

from __future__ import annotations

import json
import os
import signal

import pytest
import torch
from ltg_helpers import tiny_ltg_model, tiny_ltg_overrides
from run_helpers import run_two_ranks
from safetensors.torch import load_file

from babybias.errors import BabybiasError
from babybias.launch.compose import compose_command
from babybias.train.data import mask_tokens

torch.set_num_threads(1)


def _pretrain(overrides, on_step_end=None):
    from babybias.commands import pretrain

    return pretrain.run(compose_command("pretrain", overrides), on_step_end=on_step_end)


def _losses(run):
    return [r["loss"] for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()) if "loss" in r]


def _weights(folder):
    return load_file(str(folder / "model.safetensors"))


def test_masked_only_objective_equals_the_full_head_and_the_models_own_loss():
    from babybias.model import MaskedLMObjective

    model = tiny_ltg_model(seed=0)
    ids = torch.randint(5, 100, (4, 24), generator=torch.Generator().manual_seed(0))
    inputs, labels = mask_tokens(ids, torch.Generator().manual_seed(1), 0.15, 4, 100, [0, 1, 2, 3, 4])
    fast, n_fast = MaskedLMObjective(model, masked_only=True)(inputs, labels)
    full, n_full = MaskedLMObjective(model, masked_only=False)(inputs, labels)
    assert n_fast == n_full == (labels != -100).sum() > 0
    assert (fast / n_fast).item() == pytest.approx((full / n_full).item(), abs=1e-6)
    assert (fast / n_fast).item() == pytest.approx(model(input_ids=inputs, labels=labels).loss.item(), abs=1e-6)


def test_ltg_pretrain_resumes_exactly_after_a_signal(tmp_path, ltg_corpus):
    """6 steps straight == 3 steps, SIGTERM, automatic resume: the same losses and weights bit for bit."""
    straight = tmp_path / "runs" / "straight" / "pretrain"
    _pretrain(tiny_ltg_overrides(tmp_path, name="straight", steps=6))
    config = json.loads((straight / "model" / "config.json").read_text())
    assert config["model_type"] == "ltg_bert" and config["architectures"] == ["LtgBertForMaskedLM"]
    assert (straight / "model" / "modeling_ltg_bert.py").is_file()

    def kill_at_3(step):
        if step == 3:
            os.kill(os.getpid(), signal.SIGTERM)

    resumed = tmp_path / "runs" / "resumed" / "pretrain"
    with pytest.raises(SystemExit):
        _pretrain(tiny_ltg_overrides(tmp_path, name="resumed", steps=6), on_step_end=kill_at_3)
    assert len(_losses(resumed)) == 3 and not (resumed / "DONE").exists()
    _pretrain(tiny_ltg_overrides(tmp_path, name="resumed", steps=6))
    assert _losses(resumed) == _losses(straight)
    a, b = _weights(straight / "model"), _weights(resumed / "model")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_bert_checkpoint_does_not_resume_as_ltg_bert(tmp_path, ltg_corpus):
    def crash_at_3(step):
        if step == 3:
            raise RuntimeError("simulated kill")

    bert = {"model": "tiny", "model.hidden_size": 32, "model.num_layers": 2, "model.intermediate_size": 48}
    with pytest.raises(RuntimeError):
        _pretrain(tiny_ltg_overrides(tmp_path, name="mixed", steps=4, **bert), on_step_end=crash_at_3)
    with pytest.raises(BabybiasError, match="model_type=bert \\(config wants ltg_bert\\)"):
        _pretrain(tiny_ltg_overrides(tmp_path, name="mixed", steps=4))


def test_dropout_debiasing_reaches_every_ltg_bert_dropout(tmp_path, ltg_corpus, monkeypatch):
    """`debias=dropout init_from=<LTG-BERT run>`: hidden 0.2 on embeddings, feed-forward and head; attention 0.15 on
    the relative embeddings, attention probabilities and attention output; weights continue from the parent."""
    from babybias.debias.dropout import pretrain_overrides, saved_dropout
    from babybias.train.loop import Pretrainer

    parent = tmp_path / "runs" / "parent" / "pretrain"
    _pretrain(tiny_ltg_overrides(tmp_path, name="parent", steps=2))
    start, fit = {}, Pretrainer.fit

    def fit_and_record_start(self, on_step_end=None):  # train.lr must be > 0: record the weights it starts from
        start.update({k: v.detach().clone() for k, v in self.model.state_dict().items()})
        return fit(self, on_step_end)

    monkeypatch.setattr(Pretrainer, "fit", fit_and_record_start)
    child = _pretrain(tiny_ltg_overrides(tmp_path, name="child", steps=1) + pretrain_overrides(str(parent), steps=1))
    model = child.model
    assert saved_dropout(tmp_path / "runs" / "child" / "pretrain" / "model") == (0.2, 0.15)
    hidden = [model.ltg_bert.embedding.dropout, model.lm_head.dropout] + [layer.mlp.dropout for layer in model.ltg_bert.layers]
    attention = [layer.attention.dropout for layer in model.ltg_bert.layers]
    assert {d.p for d in hidden} == {0.2} and {d.p for d in attention} == {0.15}
    a = _weights(parent / "model")
    assert all(torch.equal(a[k], start[k]) for k in a)  # continued exactly from the parent's weights


def test_compiled_encoder_gives_the_eager_loss_and_gradients():
    """`impl.compile=true` compiles the encoder: LTG-BERT traces through dynamo and AOT autograd without change.
    (aot_eager backend: the same graph capture as the trainer's default inductor backend, minus ~60 s of codegen.)"""
    from babybias.model import MaskedLMObjective, encoder_of

    model = tiny_ltg_model(seed=4).train()
    ids = torch.randint(5, 100, (4, 24), generator=torch.Generator().manual_seed(0))
    labels = torch.where(torch.rand(4, 24, generator=torch.Generator().manual_seed(1)) < 0.2, ids, -100)
    objective = MaskedLMObjective(model)
    eager, _ = objective(ids, labels)
    eager.backward()
    eager_grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    object.__setattr__(objective, "_encoder", torch.compile(encoder_of(model), backend="aot_eager", fullgraph=True))
    compiled, _ = objective(ids, labels)
    compiled.backward()
    assert compiled.item() == pytest.approx(eager.item(), rel=1e-6)
    for name, param in model.named_parameters():
        torch.testing.assert_close(param.grad, eager_grads[name], atol=1e-6, rtol=1e-5)


@pytest.mark.ddp
@pytest.mark.slow
def test_two_process_ltg_bert_run_agrees_with_one_process(tmp_path, ltg_corpus):
    no_dropout = {"model.hidden_dropout": 0.0, "model.attention_dropout": 0.0, "train.checkpoint_steps": "[]"}
    rank0 = run_two_ranks(tmp_path, ltg_corpus.path, tiny_ltg_overrides(tmp_path, name="ddp", steps=3, **no_dropout))
    single = _pretrain(tiny_ltg_overrides(tmp_path, name="single", steps=3, **no_dropout)).model.state_dict()
    assert all(torch.allclose(rank0[k], single[k], atol=1e-5) for k in rank0)


def test_gpu_benchmark_script_runs_ltg_bert(monkeypatch, capsys):
    """benchmarks/gpu_pretrain.py --models ltg_bert (CPU smoke mode): the trainer's LTG-BERT FLOP count is used."""
    import runpy
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_pretrain.py"
    monkeypatch.setattr(sys, "argv", [str(script), "--device", "cpu", "--smoke", "--no-compile", "--models", "ltg_bert",
                                      "--steps", "2", "--warmup", "1", "--batch", "4", "--seq-len", "16"])
    runpy.run_path(str(script), run_name="__main__")
    line = next(row for row in capsys.readouterr().out.splitlines() if row.startswith("ltg_bert"))
    assert float(line.split("tok/s")[0].split()[-1]) > 0
