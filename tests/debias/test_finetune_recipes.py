"""`debias=cds` and `debias=orthogonal_ewc`: the seed's settings, data, objectives by brute force, and runs that
change the weights and nothing else."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from babybias.debias import cds, finetune, orthogonal
from babybias.launch.compose import compose_command
from babybias.runs import to_jsonable
from babybias.scoring import HFMaskedLM
from babybias.scoring.model import load_masked_lm
from babybias.scoring.testing import save_tiny_checkpoint, tiny_model, tiny_tokenizer

BASE = ["model=tiny", "init_from=runs/base/pretrain"]


def _flat(obj, prefix: str = "") -> dict:
    out = {}
    for key, value in obj.items():
        out.update(_flat(value, f"{prefix}{key}.") if isinstance(value, dict) else {f"{prefix}{key}": value})
    return out


@pytest.mark.parametrize("method, expected", [
    ("cds", {"epochs": 3, "batch_size": 16, "lr": 2e-5, "adam_eps": 1e-8, "grad_clip": 1.0}),
    ("orthogonal_ewc", {"epochs": 4, "batch_size": 6, "lr": 4e-5, "adam_eps": 1e-8, "grad_clip": 1.0,
                        "orthogonal_weight": 1.0, "ewc_importance": 0.5}),
])
def test_overlays_set_the_seeds_settings_and_nothing_else(method, expected):
    plain = _flat(to_jsonable(compose_command("pretrain", BASE)))
    changed = compose_command("pretrain", [*BASE, f"debias={method}"])
    diff = {k for k, v in _flat(to_jsonable(changed)).items() if plain[k] != v}
    assert diff <= {"seed"} | {f"debias.{k}" for k in to_jsonable(changed.debias)}
    assert changed.seed == 42 and changed.debias.method == method and changed.debias.is_finetuned
    assert {k: getattr(changed.debias, k) for k in expected} == expected
    assert compose_command("pretrain", [*BASE, f"debias={method}", "seed=3"]).seed == 3


def test_cds_sentences_and_the_sequence_length_rule(shared_data):
    passages = cds.gap_passages(shared_data / "gap_flipped" / cds.FILE)
    assert len(passages) == 4454
    sentences = cds.training_texts(passages[:20])
    assert len(sentences) > 20 and all(any(s in " ".join(p.split()) for p in passages[:20]) for s in sentences)
    assert cds.training_texts(passages[:20], "passage") == [" ".join(p.split()) for p in passages[:20]]
    words = ["one two three", "one two three four five"]
    assert cds.seq_len_for(words, limit=128) == 8  # the next power of two >= 5 words
    assert cds.seq_len_for(words, limit=4) == 4 and cds.seq_len_for(words, limit=128, configured=16) == 16
    assert [finetune.next_power_of_two(n) for n in (1, 2, 3, 64, 65)] == [1, 2, 4, 64, 128]


def test_cds_masks_real_tokens_only_and_alike_for_a_step():
    tokenizer = tiny_tokenizer()
    texts = ["the cat runs home and the dog runs", "he ran"]
    examples = finetune.Examples([list(i) for i in tokenizer(texts)["input_ids"]])
    batch = examples.batch([0, 1], tokenizer.pad_token_id)
    assert batch["attention_mask"][1].tolist() == [1, 1, 1, 1] + [0] * 6
    objective = cds.MaskedLMObjective(tokenizer, seed=7, mlm_probability=0.5)
    inputs, labels = objective.mask(batch["input_ids"], step=3)
    special = torch.isin(batch["input_ids"], torch.tensor(tokenizer.all_special_ids))
    assert (labels[special] == -100).all() and (labels[~special] != -100).any()  # pads, [CLS], [SEP] never
    assert (labels[labels != -100] == batch["input_ids"][labels != -100]).all()
    again, _ = objective.mask(batch["input_ids"], step=3)
    assert torch.equal(inputs, again) and not torch.equal(objective.mask(batch["input_ids"], step=4)[1], labels)


def _run(tmp_path: Path, shared_data: Path, method: str, *extra: str, on_step_end=None, name: str | None = None):
    from babybias.commands import pretrain

    source = tmp_path / "init"
    if not source.exists():
        save_tiny_checkpoint(source)
    name = name or method
    cfg = compose_command("pretrain", [f"debias={method}", f"init_from={source}", f"name={name}", "impl=cpu",
                                       "wandb=off", f"paths.runs={tmp_path / 'runs'}", f"data.root={shared_data}",
                                       "data.verify=false", *extra])
    return source, pretrain.run(cfg, on_step_end), tmp_path / "runs" / name / "pretrain"


def _preempt_at_step_two(tmp_path: Path, shared_data: Path, *extra: str, name: str) -> None:
    """A CDS fine-tune stopped by SIGTERM after step 2 (as Slurm preempts): checkpoint kept, exit code for requeue."""
    import os
    import signal

    from babybias.train.signals import PREEMPTED_EXIT_CODE

    def stop_at_two(step):
        if step == 2:
            os.kill(os.getpid(), signal.SIGTERM)

    with pytest.raises(SystemExit) as stopped:
        _run(tmp_path, shared_data, "cds", *extra, name=name, on_step_end=stop_at_two)
    assert stopped.value.code == PREEMPTED_EXIT_CODE


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


def test_cds_fine_tunes_the_weights_with_the_seed_schedule_and_nothing_else(tmp_path, shared_data):
    source, result, run = _run(tmp_path, shared_data, "cds", "debias.max_examples=24", "debias.batch_size=8",
                               "debias.epochs=2")
    assert result["steps"] == 6 and (run / "DONE").is_file()  # 2 epochs x ceil(24 / 8)
    before, after = _weights(source), _weights(run / "model")
    assert before.keys() == after.keys() and any(not torch.equal(before[k], after[k]) for k in before)
    drop = {"transformers_version", "dtype", "torch_dtype"}
    config = lambda p: {k: v for k, v in json.loads((p / "config.json").read_text()).items() if k not in drop}  # noqa: E731
    assert config(run / "model") == config(source)  # same architecture
    assert (run / "model" / "tokenizer.json").read_bytes() == (source / "tokenizer.json").read_bytes()
    lrs = [r["lr"] for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())]
    assert lrs == pytest.approx([2e-5 * (6 - k) / 6 for k in range(6)])  # linear decay from step 1, no warmup
    assert json.loads((run / "model" / "state.json").read_text())["fraction"] == 1.0
    from babybias.train.checkpoint import verify_checkpoint

    assert verify_checkpoint(run / "model")  # checksums recorded, so a garbled file is found before it is used
    meta = json.loads((run / "meta.json").read_text())
    assert (meta["device"], meta["precision"]) == ("cpu", "fp32")  # what `babybias rerun` pins impl=auto to
    inputs = meta["inputs"]
    assert inputs["data"] == "gap_flipped" and inputs["seq_len"] == 128  # 2^ceil(log2(longest)) capped at 128
    assert _run(tmp_path, shared_data, "cds")[1] is None  # DONE: skipped


def test_a_preempted_fine_tune_resumes_to_the_same_weights(tmp_path, shared_data):
    """SIGTERM after step 2 saves a checkpoint and exits 75; the same command resumes; the result equals an
    uninterrupted run bit for bit (data order and masks are functions of (seed, step); RNG states are saved)."""
    args = ["debias.max_examples=16", "debias.batch_size=4", "debias.epochs=1"]
    _run(tmp_path, shared_data, "cds", *args, name="whole")

    _preempt_at_step_two(tmp_path, shared_data, *args, name="cut")
    cut = tmp_path / "runs" / "cut" / "pretrain"
    assert (cut / "checkpoints" / "step-0000002").is_dir() and not (cut / "DONE").exists()
    assert _run(tmp_path, shared_data, "cds", *args, name="cut")[1]["steps"] == 4
    whole, resumed = _weights(tmp_path / "runs" / "whole" / "pretrain" / "model"), _weights(cut / "model")
    assert all(torch.equal(whole[k], resumed[k]) for k in whole)
    steps = [json.loads(r)["step"] for r in (cut / "metrics.jsonl").read_text().splitlines()]
    assert [s for s in steps if s] == [1, 2, 2, 3, 4]  # the preemption event, then the resumed steps


def test_winobias_examples_mask_the_pronoun_and_add_flipped_copies(shared_data):
    line = "1 [The developer] argued with the designer because [he] did not like the design."
    assert orthogonal.parse_winobias(line) == ("The developer argued with the designer because [MASK] did not like "
                                               "the design.", "he")
    assert orthogonal.parse_winobias("3 [He] told [her] that.") is None  # two pronouns: skipped, as the seed
    folder = shared_data / "winobias"
    sentences = orthogonal.training_sentences(folder, lambda s: s.replace("brother", "sister"))
    originals, flipped = sentences[0::2], sentences[1::2]
    assert len(sentences) == 2 * 761 and {s.pronoun for s in originals} <= {"he", "she", "his", "her", "him"}
    lines = [(orthogonal.parse_winobias(pro), orthogonal.parse_winobias(anti))
             for split in ("dev", "test") for pro, anti in zip(
                 (folder / f"pro_stereotyped_type1.txt.{split}").read_text().splitlines(),
                 (folder / f"anti_stereotyped_type1.txt.{split}").read_text().splitlines())]
    lines = [(pro, anti) for pro, anti in lines if pro and anti]
    assert [s.pronoun for s in flipped] == [anti[1] for _, anti in lines]  # the flipped label: the anti pronoun
    assert [s.text for s in originals] == [pro[0] for pro, _ in lines]
    assert orthogonal.neutral_positions([5, 7, 8, 9, 7, 8], [[7, 8], [3], [9, 1]]) == [0, 1, 1, 0, 0, 0]


def test_direction_fisher_penalty_and_orthogonal_loss_by_brute_force():
    tokenizer = tiny_tokenizer()
    lm = HFMaskedLM(tiny_model(len(tokenizer), seed=2))
    pairs = [("he", "she"), ("man", "woman"), ("boy", "girl")]
    g = orthogonal.gender_direction(lm, tokenizer, pairs, max_len=128)

    def summed(words):
        ids = tokenizer(" ".join(words), return_tensors="pt")["input_ids"]
        with torch.no_grad():
            return lm.model.base_model(input_ids=ids).last_hidden_state[0, 1:-1].sum(0)
    expected = (summed(["he", "man", "boy"]) - summed(["she", "woman", "girl"])) / 3
    assert torch.allclose(g, expected / expected.norm(), atol=1e-5) and float(g.norm()) == pytest.approx(1.0)

    texts = ["the man ran home .", "she likes [MASK] cat ."]
    fisher = orthogonal.diagonal_fisher(lm, tokenizer, texts, max_len=128)
    name = "bert.encoder.layer.0.attention.self.query.weight"
    grads = []
    for text in texts:  # per sentence: fresh gradients of the mean token-reconstruction loss, specials left out
        lm.model.zero_grad()
        ids = tokenizer(text.replace("[MASK]", tokenizer.mask_token), return_tensors="pt")["input_ids"]
        labels = ids.masked_fill(torch.isin(ids, torch.tensor(tokenizer.all_special_ids)), -100)
        lm.model.eval()
        lm.model(input_ids=ids, labels=labels).loss.backward()
        grads.append(dict(lm.model.named_parameters())[name].grad.clone())
    assert torch.allclose(fisher[name], (grads[0] ** 2 + grads[1] ** 2) / 2, atol=1e-8, rtol=1e-4)

    objective = orthogonal.OrthogonalEWCObjective(lm.model, g, fisher, weight=1.0, importance=0.5)
    assert objective.ewc_penalty(lm.model).item() == 0.0  # at the original weights
    with torch.no_grad():
        dict(lm.model.named_parameters())[name].add_(0.1)
    assert objective.ewc_penalty(lm.model).item() == pytest.approx(float((fisher[name] * 0.01).sum()), rel=1e-4)
    hidden = torch.randn(2, 3, g.numel())
    neutral = torch.tensor([[0, 1, 1], [1, 0, 0]])
    manual = sum(abs(float(hidden[b, t] @ g)) for b, t in ((0, 1), (0, 2), (1, 0)))
    assert float(objective.orthogonal_loss(hidden, neutral)) == pytest.approx(manual, rel=1e-5)


def test_orthogonal_ewc_moves_neutral_words_off_the_gender_direction(tmp_path, shared_data):
    """With the orthogonality term the fine-tuned model's |h . g| at the neutral words falls; without it (MLM only)
    it falls less. Config, tokenizer and parameter names stay those of the original."""
    common = ["debias.max_examples=12", "debias.fisher_sentences=4", "debias.epochs=2", "debias.lr=3e-3"]
    source, result, run = _run(tmp_path, shared_data, "orthogonal_ewc", *common)
    assert result["steps"] == 4 and result["examples"] == 12
    records = [json.loads(r) for r in (run / "metrics.jsonl").read_text().splitlines()]
    assert {"mlm_loss", "orthogonal_loss", "ewc_penalty"} <= set(records[0])
    assert records[0]["ewc_penalty"] == 0.0 and records[-1]["ewc_penalty"] > 0.0  # anchored at the original

    cfg = compose_command("pretrain", [f"data.root={shared_data}", "data.verify=false", "debias=orthogonal_ewc", *common])
    examples = orthogonal.examples_for(cfg, tiny_tokenizer(), 128)
    batch = examples.batch(list(range(len(examples))), 0)
    source_lm, tokenizer = load_masked_lm(source, "cpu")
    direction = orthogonal.gender_direction(source_lm, tokenizer, orthogonal.gender_pairs(cfg.data), 128)

    def orthogonality(folder: Path) -> float:
        lm, _ = load_masked_lm(folder, "cpu")
        with torch.no_grad():
            hidden = lm.hidden_states(batch["input_ids"], batch["attention_mask"])
        objective = orthogonal.OrthogonalEWCObjective(lm.model, direction, {}, 1.0, 0.0)
        return float(objective.orthogonal_loss(hidden, batch["neutral"]))

    _, _, mlm_only = _run(tmp_path / "b", shared_data, "orthogonal_ewc", *common, "debias.orthogonal_weight=0",
                          "debias.ewc_importance=0")
    start, debiased, plain = orthogonality(source), orthogonality(run / "model"), orthogonality(mlm_only / "model")
    assert debiased < 0.5 * start and debiased < plain
    assert _weights(run / "model").keys() == _weights(source).keys()
    assert (run / "model" / "tokenizer.json").read_bytes() == (source / "tokenizer.json").read_bytes()


def test_a_resume_from_another_model_or_seed_is_refused_and_other_changes_are_recorded(tmp_path, shared_data):
    """A preempted fine-tune holds weights trained from its init_from with its seed's data order and masks:
    resuming it under another init_from or seed would write a model/ recorded as the new source's that is mostly
    the old one's, so it is refused; other changed settings resume with a warning recorded in meta.json."""
    from babybias.errors import BabybiasError

    args = ["debias.max_examples=16", "debias.batch_size=4", "debias.epochs=1"]

    _preempt_at_step_two(tmp_path, shared_data, *args, name="cut")
    other = save_tiny_checkpoint(tmp_path / "other", seed=9)
    with pytest.raises(BabybiasError, match="init_from"):
        _run(tmp_path, shared_data, "cds", *args, f"init_from={other}", name="cut")
    with pytest.raises(BabybiasError, match="seed"):
        _run(tmp_path, shared_data, "cds", *args, "seed=3", name="cut")
    run = tmp_path / "runs" / "cut" / "pretrain"
    assert (run / "checkpoints" / "step-0000002").is_dir() and not (run / "model").exists()  # nothing touched
    assert _run(tmp_path, shared_data, "cds", *args, "debias.lr=3e-5", name="cut")[1]["steps"] == 4
    assert json.loads((run / "meta.json").read_text())["config_changes_on_resume"] == {"debias.lr": [2e-5, 3e-5]}


def test_a_finished_fine_tune_of_a_retrained_model_is_refused_not_skipped(tmp_path, shared_data, capsys):
    from babybias.errors import BabybiasError

    args = ["debias.max_examples=8", "debias.batch_size=4", "debias.epochs=1"]
    source, _, run = _run(tmp_path, shared_data, "cds", *args)
    assert _run(tmp_path, shared_data, "cds", *args, "debias.lr=3e-5")[1] is None  # DONE: skipped ...
    assert "debias.lr: 2e-05 (finished run) vs 3e-05 (now)" in capsys.readouterr().out  # ... naming what differs
    with pytest.raises(BabybiasError, match="no checkpoint"):
        _run(tmp_path, shared_data, "cds", *args, "resume=true", name="never_started")
    save_tiny_checkpoint(source, seed=9)  # the model it was fine-tuned from is replaced under the same path
    with pytest.raises(BabybiasError, match="continued from other weights"):
        _run(tmp_path, shared_data, "cds", *args)


def test_a_non_finite_loss_stops_the_fine_tune_without_model_or_done(tmp_path, shared_data, monkeypatch):
    """As the pretrainer: a NaN loss (here: weights poisoned after step 1) stops with the step named; no model/,
    no DONE, and metrics.jsonl says where it went wrong."""
    from babybias.train.loop import NonFiniteLoss

    models = []
    original = finetune.FineTuner.__init__

    def keep(self, *args, **kwargs):
        original(self, *args, **kwargs)
        models.append(self.lm.model)

    def poison(step):
        if step == 1:
            for parameter in models[0].parameters():
                parameter.data.fill_(float("nan"))
    monkeypatch.setattr(finetune.FineTuner, "__init__", keep)
    with pytest.raises(NonFiniteLoss, match="at step 2") as err:
        _run(tmp_path, shared_data, "cds", "debias.max_examples=16", "debias.batch_size=4", on_step_end=poison)
    run = tmp_path / "runs" / "cds" / "pretrain"
    assert "debias.lr" in err.value.fix and "\n" not in str(err.value)
    assert not (run / "DONE").exists() and not (run / "model").exists()
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert records[-1]["event"] == "non_finite" and records[-1]["first_bad_step"] == 2
