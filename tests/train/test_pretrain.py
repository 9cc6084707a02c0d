"""End-to-end tiny pretraining: run dir layout, loading, exact resume, micro-batching, bad checkpoints."""

from __future__ import annotations

import json
import os
import signal

import pytest
import torch
from safetensors.torch import load_file
from train_helpers import tiny_overrides, write_sentences

from babybias.errors import BabybiasError
from babybias.launch.compose import compose_command, run_command
from babybias.train.signals import PREEMPTED_EXIT_CODE

torch.set_num_threads(1)


def _pretrain(overrides, on_step_end=None):
    from babybias.commands import pretrain

    return pretrain.run(compose_command("pretrain", overrides), on_step_end=on_step_end)


def _losses(run_path):
    return [r["loss"] for r in map(json.loads, (run_path / "metrics.jsonl").read_text().splitlines()) if "loss" in r]


def _weights(folder):
    return load_file(str(folder / "model.safetensors"))


def test_tiny_run_end_to_end_and_loads_with_auto_classes(tmp_path, use_corpus):
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    result = run_command("pretrain", tiny_overrides(tmp_path, steps=8, **{"model.hidden_dropout": 0.0}))
    run = tmp_path / "runs" / "tiny" / "pretrain"
    for name in ("config.yaml", "meta.json", "corpus.json", "metrics.jsonl", "DONE", "tokenizer/tokenizer.json",
                 "data_order/order-epoch0000.npy", "model/model.safetensors"):
        assert (run / name).exists(), name
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step-0000002", "step-0000008"]
    state = json.loads((run / "checkpoints" / "step-0000002" / "state.json").read_text())
    assert state["step"] == 2 and state["total_steps"] == 8 and state["fraction"] == 0.25
    assert state["tokens_seen"] == 2 * 8 * 32
    meta = json.loads((run / "meta.json").read_text())
    assert meta["inputs"]["corpus_key"] == use_corpus.key
    assert "seed: 3" in (run / "config.yaml").read_text()
    losses = _losses(run)
    assert len(losses) == 8 and result.final_loss == losses[-1]

    # the checkpoint folder is self-contained and gives the trained model's logits
    ckpt = run / "checkpoints" / "step-0000008"
    tok = AutoTokenizer.from_pretrained(str(ckpt))
    model = AutoModelForMaskedLM.from_pretrained(str(ckpt)).eval()
    assert tok.model_max_length == 64 and len(tok) == model.config.vocab_size
    enc = tok(["The doctor reads a book today."], return_tensors="pt")
    assert enc["input_ids"][0, 0] == tok.cls_token_id
    final = AutoModelForMaskedLM.from_pretrained(str(run / "model")).eval()
    with torch.no_grad():
        assert torch.equal(model(**enc).logits, final(**enc).logits)
    for key, value in _weights(run / "model").items():
        assert torch.equal(value, _weights(ckpt)[key])


def test_rerun_of_done_run_is_skipped(tmp_path, use_corpus, capsys):
    run_command("pretrain", tiny_overrides(tmp_path, steps=2))
    assert run_command("pretrain", tiny_overrides(tmp_path, steps=2)) is None
    assert "already DONE" in capsys.readouterr().out


def test_resume_after_signal_is_exact(tmp_path, use_corpus):
    """6 steps straight == 3 steps, SIGTERM (checkpoint + exit code, no DONE), then an automatic resume."""
    straight = tmp_path / "runs" / "straight" / "pretrain"
    _pretrain(tiny_overrides(tmp_path, name="straight", steps=6))

    def kill_at_3(step):
        if step == 3:
            os.kill(os.getpid(), signal.SIGTERM)

    interrupted = tmp_path / "runs" / "resumed" / "pretrain"
    with pytest.raises(SystemExit) as exit_info:
        _pretrain(tiny_overrides(tmp_path, name="resumed", steps=6), on_step_end=kill_at_3)
    assert exit_info.value.code == PREEMPTED_EXIT_CODE
    assert not (interrupted / "DONE").exists()
    assert (interrupted / "checkpoints" / "step-0000003" / "training_state.pt").exists()
    assert len(_losses(interrupted)) == 3

    _pretrain(tiny_overrides(tmp_path, name="resumed", steps=6))  # resume=null: picks up step 3
    assert (interrupted / "DONE").exists()
    assert json.loads((interrupted / "meta.json").read_text())["config_changes_on_resume"] == {}
    assert _losses(interrupted) == _losses(straight)  # exactly equal floats
    a, b = _weights(straight / "model"), _weights(interrupted / "model")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_resume_with_changed_settings_is_reported(tmp_path, use_corpus, capsys):
    """Speed settings may change on resume silently; a result-changing one is warned about and recorded."""
    def kill_at_2(step):
        if step == 2:
            os.kill(os.getpid(), signal.SIGTERM)

    run = tmp_path / "runs" / "changed" / "pretrain"
    with pytest.raises(SystemExit):
        _pretrain(tiny_overrides(tmp_path, name="changed", steps=4), on_step_end=kill_at_2)
    capsys.readouterr()
    _pretrain(tiny_overrides(tmp_path, name="changed", steps=4, **{"train.lr": 1e-3, "impl.num_threads": 2}))
    warning = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("warning: resuming"))
    assert "train.lr: 0.003 -> 0.001" in warning and "num_threads" not in warning
    events = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert {"step": 2, "event": "config_changed", "changes": {"train.lr": [0.003, 0.001]}} in events
    assert json.loads((run / "meta.json").read_text())["config_changes_on_resume"] == {"train.lr": [0.003, 0.001]}
    assert "lr: 0.001" in (run / "config.yaml").read_text()


def test_resume_from_periodic_checkpoint_after_hard_kill_is_exact(tmp_path, use_corpus):
    """A kill without a signal (here: an exception after step 4) resumes from the step-2 checkpoint."""
    _pretrain(tiny_overrides(tmp_path, name="straight", steps=5))

    def crash_at_4(step):
        if step == 4:
            raise RuntimeError("simulated kill")

    with pytest.raises(RuntimeError):
        _pretrain(tiny_overrides(tmp_path, name="crashed", steps=5), on_step_end=crash_at_4)
    crashed = tmp_path / "runs" / "crashed" / "pretrain"
    assert not (crashed / "DONE").exists()
    _pretrain(tiny_overrides(tmp_path, name="crashed", steps=5, resume="true"))
    straight = tmp_path / "runs" / "straight" / "pretrain"
    assert _losses(crashed) == _losses(straight)
    a, b = _weights(straight / "model"), _weights(crashed / "model")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_micro_batches_do_not_change_results(tmp_path, use_corpus):
    no_dropout = {"model.hidden_dropout": 0.0, "model.attention_dropout": 0.0}
    _pretrain(tiny_overrides(tmp_path, name="whole", steps=3, **no_dropout))
    _pretrain(tiny_overrides(tmp_path, name="split", steps=3, **{"impl.micro_batch_size": 3}, **no_dropout))
    whole = _losses(tmp_path / "runs" / "whole" / "pretrain")
    split = _losses(tmp_path / "runs" / "split" / "pretrain")
    assert whole == pytest.approx(split, abs=1e-5)
    a = _weights(tmp_path / "runs" / "whole" / "pretrain" / "model")
    b = _weights(tmp_path / "runs" / "split" / "pretrain" / "model")
    assert all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)


def test_dataloader_workers_change_nothing(tmp_path, use_corpus):
    """Batches prepared ahead in background threads: the same losses and weights, bit for bit (dropout on)."""
    _pretrain(tiny_overrides(tmp_path, name="inline", steps=4))
    _pretrain(tiny_overrides(tmp_path, name="ahead", steps=4, **{"impl.dataloader_workers": 2}))
    assert _losses(tmp_path / "runs" / "inline" / "pretrain") == _losses(tmp_path / "runs" / "ahead" / "pretrain")
    a = _weights(tmp_path / "runs" / "inline" / "pretrain" / "model")
    b = _weights(tmp_path / "runs" / "ahead" / "pretrain" / "model")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_rerun_from_saved_config_reproduces_the_run(tmp_path, shared_data):
    """`babybias rerun <run dir> name=again` from config.yaml alone: the same losses and weights (dropout on),
    corpus and tokenizer rebuilt from scratch in a fresh process."""
    import shutil
    import subprocess
    import sys

    from babybias.configs.common import DataConfig
    from babybias.data import store

    for name in ("bias_attribute_words", "debiaswe_word_lists", "winobias"):  # gender counts in the manifest
        store.prepare(name, DataConfig(root=str(tmp_path / "data"), mirror=str(shared_data), verify=True))
    text = write_sentences(tmp_path / "sentences.txt", 600, seed=1)
    _pretrain(tiny_overrides(tmp_path, name="first", steps=4, **{"corpus.sources": f"[{text}]",
                                                                  "corpus.validation_fraction": 0.1}))
    shutil.rmtree(tmp_path / "cache")  # the rerun rebuilds corpus, tokenizer and token blocks
    first = tmp_path / "runs" / "first" / "pretrain"
    env = {**os.environ, "WANDB_MODE": "disabled"}
    out = subprocess.run([sys.executable, "-m", "babybias.cli", "rerun", str(first), "name=again"],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    again = tmp_path / "runs" / "again" / "pretrain"
    assert (again / "DONE").exists()
    assert _losses(again) == _losses(first)
    a, b = _weights(first / "model"), _weights(again / "model")
    assert all(torch.equal(a[k], b[k]) for k in a)
    changed = (again / "config.yaml").read_text().replace("name: again", "name: first")
    assert changed == (first / "config.yaml").read_text()  # nothing but the name differs

    # group and value overrides apply over the saved values, and are type-checked
    cfg = subprocess.run([sys.executable, "-m", "babybias.cli", "rerun", str(first), "impl=cpu_bf16",
                          "train.steps=9", "--cfg", "job"], capture_output=True, text=True, env=env, timeout=120)
    assert "precision: bf16" in cfg.stdout and "steps: 9" in cfg.stdout and "hidden_size: 32" in cfg.stdout
    bad = subprocess.run([sys.executable, "-m", "babybias.cli", "rerun", str(first), "train.steps=many"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert bad.returncode != 0 and "could not be converted to Integer" in bad.stderr


def test_checkpoint_of_other_model_config_is_a_clear_error(tmp_path, use_corpus):
    def crash_at_3(step):
        if step == 3:
            raise RuntimeError("simulated kill")

    with pytest.raises(RuntimeError):
        _pretrain(tiny_overrides(tmp_path, name="mixed", steps=4), on_step_end=crash_at_3)
    with pytest.raises(BabybiasError, match="different model config.*hidden_size=32") as err:
        _pretrain(tiny_overrides(tmp_path, name="mixed", steps=4, **{"model.hidden_size": 48}))
    assert "\n" not in str(err.value) and "resume=false" in str(err.value)
    run = tmp_path / "runs" / "mixed" / "pretrain"
    assert not (run / "DONE").exists()
    assert "hidden_size: 32" in (run / "config.yaml").read_text()  # nothing was overwritten
    # resume=false starts over with the new config
    _pretrain(tiny_overrides(tmp_path, name="mixed", steps=4, resume="false", **{"model.hidden_size": 48}))
    assert (run / "DONE").exists() and len(_losses(run)) == 4


def test_resume_true_without_checkpoint_is_an_error(tmp_path, use_corpus):
    with pytest.raises(BabybiasError, match="no checkpoint"):
        _pretrain(tiny_overrides(tmp_path, name="fresh", resume="true"))


def test_dryrun_makes_one_step(tmp_path, use_corpus):
    result = _pretrain(tiny_overrides(tmp_path, dryrun="true"))
    assert result.steps == 1
    assert (tmp_path / "runs" / "tiny" / "pretrain-dryrun" / "DONE").exists()
    assert not (tmp_path / "runs" / "tiny" / "pretrain" / "DONE").exists()


def test_init_from_starts_from_another_runs_weights(tmp_path, use_corpus, monkeypatch):
    from babybias.train.loop import Pretrainer

    _pretrain(tiny_overrides(tmp_path, name="parent", steps=2))
    parent = tmp_path / "runs" / "parent" / "pretrain"
    start = {}
    fit = Pretrainer.fit

    def fit_and_record_start(self, on_step_end=None):
        start.update({k: v.detach().clone() for k, v in self.model.state_dict().items()})
        return fit(self, on_step_end)

    monkeypatch.setattr(Pretrainer, "fit", fit_and_record_start)
    _pretrain(tiny_overrides(tmp_path, name="child", steps=1, init_from=str(parent)))
    a = _weights(parent / "model")  # the child's first step starts exactly where the parent ended
    assert all(torch.equal(a[k], start[k]) for k in a)
    with pytest.raises(BabybiasError, match="init_from"):
        _pretrain(tiny_overrides(tmp_path, name="orphan", steps=1, init_from=str(tmp_path / "nowhere")))


def test_a_child_of_a_retrained_parent_is_neither_skipped_nor_resumed(tmp_path, use_corpus):
    """init_from=<run name> after that run was retrained under the same name: a DONE child would be skipped and an
    interrupted one resumed, keeping numbers of the old parent's continuation under the new parent's name."""
    from babybias.results import weights_sha256

    _pretrain(tiny_overrides(tmp_path, name="parent", steps=2))
    parent = tmp_path / "runs" / "parent" / "pretrain"
    first = weights_sha256(parent / "model")
    child = tiny_overrides(tmp_path, name="child", steps=3, init_from="parent", **{"train.checkpoint_steps": "[1]"})
    _pretrain(child)
    meta = json.loads((tmp_path / "runs" / "child" / "pretrain" / "meta.json").read_text())
    assert meta["inputs"]["init_weights_sha256"] == first
    assert _pretrain(child) is None  # same parent: the finished child is skipped as before

    def crash_at_2(step):
        if step == 2:
            raise RuntimeError("simulated kill")

    interrupted = tiny_overrides(tmp_path, name="interrupted", steps=3, init_from="parent",
                                 **{"train.checkpoint_steps": "[1]"})
    with pytest.raises(RuntimeError):
        _pretrain(interrupted, on_step_end=crash_at_2)
    _pretrain(tiny_overrides(tmp_path, name="parent", steps=2, seed=5, force="true"))  # retrained, other weights
    assert weights_sha256(parent / "model") != first
    with pytest.raises(BabybiasError, match="DONE, but it was continued from other weights"):
        _pretrain(child)
    with pytest.raises(BabybiasError, match="init_weights_sha256"):
        _pretrain(interrupted)
    assert _pretrain([*child, "force=true"]).steps == 3  # force=true redoes it from the new weights


def test_wandb_mode_from_environment_wins(monkeypatch):
    from babybias.configs.common import WandbConfig
    from babybias.train.logger import wandb_mode

    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert wandb_mode(WandbConfig(mode="online")) == "disabled"
    monkeypatch.delenv("WANDB_MODE")
    assert wandb_mode(WandbConfig(mode="offline")) == "offline"


def test_continued_pretraining_keeps_the_parents_tokenizer(tmp_path, use_corpus, monkeypatch):
    """init_from on a changed corpus (e.g. debias=cda) must reuse the parent's token ids, not train new ones."""
    import babybias.commands.pretrain as pretrain
    import babybias.tokenizer as tokenizer_module

    _pretrain(tiny_overrides(tmp_path, name="parent", steps=2))
    parent = tmp_path / "runs" / "parent" / "pretrain"

    def refuse(*args, **kwargs):
        raise AssertionError("continued pretraining trained a new tokenizer")

    monkeypatch.setattr(tokenizer_module, "build_tokenizer", refuse)
    _pretrain(tiny_overrides(tmp_path, name="child", steps=1, init_from=str(parent)))
    child_tok = tmp_path / "runs" / "child" / "pretrain" / "tokenizer" / "tokenizer.json"
    assert child_tok.read_bytes() == (parent / "tokenizer" / "tokenizer.json").read_bytes()
    assert pretrain._init_tokenizer(pretrain_cfg_stub(str(parent), str(tmp_path / "runs"))) is not None


def pretrain_cfg_stub(init_from: str, runs: str):
    from types import SimpleNamespace

    return SimpleNamespace(init_from=init_from, paths=SimpleNamespace(runs=runs))


def test_a_given_tokenizer_is_used_as_is(tmp_path, use_corpus, monkeypatch):
    """tokenizer.path reruns a run with its exact tokenizer (e.g. one trained by an older babybias)."""
    import babybias.tokenizer as tokenizer_module

    _pretrain(tiny_overrides(tmp_path, name="first", steps=1))
    saved = tmp_path / "runs" / "first" / "pretrain" / "tokenizer"

    def refuse(*args, **kwargs):
        raise AssertionError("trained a tokenizer although tokenizer.path was given")

    monkeypatch.setattr(tokenizer_module, "build_tokenizer", refuse)
    _pretrain(tiny_overrides(tmp_path, name="second", steps=1, **{"tokenizer.path": str(saved)}))
    again = tmp_path / "runs" / "second" / "pretrain" / "tokenizer" / "tokenizer.json"
    assert again.read_bytes() == (saved / "tokenizer.json").read_bytes()
    with pytest.raises(BabybiasError, match="tokenizer.path"):
        _pretrain(tiny_overrides(tmp_path, name="third", steps=1, **{"tokenizer.path": str(tmp_path / "nowhere")}))
