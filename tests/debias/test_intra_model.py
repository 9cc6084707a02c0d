"""`debias=cda` and `debias=dropout` change what they should and nothing else (resolved config + BertConfig)."""

from __future__ import annotations

import dataclasses

import pytest

from babybias.errors import ConfigError
from babybias.launch.compose import compose_command
from babybias.runs import to_jsonable

BASE = ["model=tiny", "init_from=runs/base/pretrain"]


def _flat(obj, prefix: str = "") -> dict:
    out = {}
    for key, value in obj.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _diff(overrides: list[str]) -> tuple[dict, object, object]:
    plain = compose_command("pretrain", BASE)
    changed = compose_command("pretrain", BASE + overrides)
    a, b = _flat(to_jsonable(plain)), _flat(to_jsonable(changed))
    assert a.keys() == b.keys()
    # the default checkpoint steps are fractions of train.steps (conf/train/default.yaml), so they follow it
    from babybias.configs.train import checkpoint_fractions

    for cfg in (plain, changed):
        assert cfg.train.checkpoint_steps == checkpoint_fractions(cfg.train.steps, 0.1, 0.2, 0.4, 0.6, 0.8)
    return {k: (a[k], b[k]) for k in a if a[k] != b[k] and k != "train.checkpoint_steps"}, plain, changed


def _bert(cfg):
    from babybias.model import bert_config

    return bert_config(cfg.model, vocab_size=100).to_dict()


def test_cda_changes_the_corpus_and_steps_only():
    diff, plain, changed = _diff(["debias=cda"])
    assert diff == {"corpus.mutation": ("original", "cda"), "debias.method": ("none", "cda"),
                    "train.steps": (plain.train.steps, 2000)}
    assert changed.corpus.cda_mode == "two_sided"  # bias-bench's two-sided CDA by default
    assert _bert(plain) == _bert(changed)  # the model itself is untouched


def test_cda_steps_and_mode_are_configurable():
    diff, _, changed = _diff(["debias=cda", "debias.steps=7", "corpus.cda_mode=one_sided"])
    assert changed.train.steps == 7 and changed.debias.steps == 7
    assert set(diff) == {"corpus.mutation", "corpus.cda_mode", "debias.method", "debias.steps", "train.steps"}


def test_cda_bias_type_reaches_the_corpus():
    """`debias=cda debias.bias_type=race`: the race CDA corpus (bias-bench's ternary swap), nothing else more."""
    diff, _, changed = _diff(["debias=cda", "debias.bias_type=religion", "corpus.cda_scope=augmented_only"])
    assert changed.corpus.cda_bias_type == "religion" and changed.debias.tag == "cda-religion"
    assert set(diff) == {"corpus.mutation", "corpus.cda_bias_type", "corpus.cda_scope", "debias.method",
                         "debias.bias_type", "train.steps"}


def test_dropout_changes_dropout_and_steps_only():
    diff, plain, changed = _diff(["debias=dropout"])
    assert diff == {"model.hidden_dropout": (0.1, 0.2), "model.attention_dropout": (0.1, 0.15),
                    "debias.method": ("none", "dropout"), "train.steps": (plain.train.steps, 2000)}
    before, after = _bert(plain), _bert(changed)
    assert after["hidden_dropout_prob"] == 0.2 and after["attention_probs_dropout_prob"] == 0.15
    changed_keys = {k for k in before if before[k] != after[k]}
    assert changed_keys == {"hidden_dropout_prob", "attention_probs_dropout_prob"}


def test_dropout_rates_are_configurable():
    _, _, changed = _diff(["debias=dropout", "debias.hidden_dropout=0.3", "debias.attention_dropout=0.05"])
    bert = _bert(changed)
    assert bert["hidden_dropout_prob"] == 0.3 and bert["attention_probs_dropout_prob"] == 0.05


@pytest.mark.parametrize("experiment", ["demo", "paper_ltgbert"])
def test_the_overlay_holds_under_an_experiment(experiment):
    """experiment=demo sets 480 steps and no dropout, paper_ltgbert 20 epochs: the debias overlay still decides the
    length and the rates it records (before, `experiment=demo debias=dropout` trained 480 steps at dropout 0)."""
    cfg = compose_command("pretrain", [f"experiment={experiment}", "debias=dropout", "debias.steps=30",
                                        "train.checkpoint_steps=[]"])
    assert (cfg.train.steps, cfg.train.epochs) == (30, None)
    assert (cfg.model.hidden_dropout, cfg.model.attention_dropout) == (0.2, 0.15)
    cfg = compose_command("pretrain", [f"experiment={experiment}", "debias=cda"])
    assert (cfg.train.steps, cfg.train.epochs, cfg.corpus.mutation) == (2000, None, "cda")


@pytest.mark.parametrize("overrides,named", [
    (["debias=cda", "train.steps=40"], "train.steps=40"),
    (["debias=dropout", "train.epochs=2"], "train.epochs=2"),
    (["debias=dropout", "model.hidden_dropout=0.0"], "model.hidden_dropout=0.0"),
])
def test_a_command_line_value_that_contradicts_the_overlay_is_refused(overrides, named):
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        compose_command("pretrain", BASE + overrides)
    compose_command("pretrain", BASE + ["debias=cda", "train.steps=40", "debias.steps=40"])  # agreeing values pass


def test_no_debias_is_the_default():
    assert compose_command("pretrain", BASE).debias.method == "none"


def test_override_helpers_compose():
    from babybias.debias import cda, dropout

    cfg = compose_command("pretrain", BASE + cda.pretrain_overrides("runs/base", steps=5, cda_mode="one_sided"))
    assert (cfg.corpus.mutation, cfg.corpus.cda_mode, cfg.train.steps) == ("cda", "one_sided", 5)
    cfg = compose_command("pretrain", BASE + cda.pretrain_overrides("runs/base", bias_type="race", scope="augmented_only"))
    assert (cfg.corpus.cda_bias_type, cfg.corpus.cda_scope) == ("race", "augmented_only")
    cfg = compose_command("pretrain", BASE + dropout.pretrain_overrides("runs/base", steps=3, hidden_dropout=0.25))
    assert (cfg.model.hidden_dropout, cfg.model.attention_dropout, cfg.train.steps) == (0.25, 0.15, 3)


@dataclasses.dataclass
class _FakeCorpus:
    path: object
    key: str
    train_path: object
    validation_path: object
    manifest: dict = dataclasses.field(default_factory=dict)


def test_continued_pretraining_trains_with_the_debias_dropout(tmp_path, monkeypatch):
    """A real (tiny) continued-pretraining run: the saved model has the overlay's dropout and step count."""
    import json

    import babybias.commands.pretrain as pretrain
    from babybias.debias.dropout import saved_dropout
    from babybias.launch.compose import run_command

    lines = [f"the {w} {v} the {o} ." for w in ("man", "woman", "doctor", "nurse") for v in ("sees", "likes", "has")
             for o in ("dog", "cat", "book", "car", "tree")] * 3
    (tmp_path / "train.txt").write_text("\n".join(lines) + "\n")
    (tmp_path / "validation.txt").write_text("\n".join(lines[:10]) + "\n")
    corpus = _FakeCorpus(tmp_path, "fake", tmp_path / "train.txt", tmp_path / "validation.txt")
    monkeypatch.setattr(pretrain, "build_corpus_artifact", lambda cfg: corpus)
    tiny = ["model=tiny", "model.hidden_size=32", "model.num_heads=2", "model.intermediate_size=64",
            "model.max_position_embeddings=64", "tokenizer.vocab_size=120", "tokenizer.model_max_length=64",
            "train.batch_size=4", "train.seq_len=32", "train.warmup_steps=0", "train.validation_blocks=0",
            "impl=cpu", "impl.num_threads=1", "wandb=off", f"paths.runs={tmp_path / 'runs'}",
            f"paths.cache={tmp_path / 'cache'}", f"data.root={tmp_path / 'data'}"]
    run_command("pretrain", tiny + ["name=base", "train.steps=2"])
    run_command("pretrain", tiny + ["name=base_dropout", "init_from=base", "debias=dropout", "debias.steps=3"])
    runs = tmp_path / "runs"
    assert saved_dropout(runs / "base" / "pretrain" / "model") == (0.1, 0.1)
    assert saved_dropout(runs / "base_dropout" / "pretrain" / "model") == (0.2, 0.15)
    assert json.loads((runs / "base_dropout" / "pretrain" / "DONE").read_text())["steps"] == 3
