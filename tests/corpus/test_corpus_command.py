"""The shipped corpus configs compose, and `babybias corpus` builds, prints and records a run."""

from __future__ import annotations

import json

import pytest

from babybias.cli import config_dir
from babybias.launch.compose import compose_command, run_command

OPTIONS = sorted(p.stem for p in (config_dir() / "corpus").glob("*.yaml"))


def test_all_mutations_have_a_config():
    assert {"original", "cda", "balanced", "imbalanced", "detox", "random_drop"} <= set(OPTIONS)


@pytest.mark.parametrize("option", OPTIONS)
def test_corpus_option_composes_to_its_mutation(option):
    cfg = compose_command("corpus", [f"corpus={option}"])
    assert cfg.corpus.mutation == option


def test_bad_option_value_is_a_config_error():
    from babybias.errors import ConfigError

    with pytest.raises(ConfigError, match="corpus.female_ratio"):
        compose_command("corpus", ["corpus=imbalanced", "corpus.female_ratio=0.95"])


def test_corpus_command_dryrun(tmp_path, data_cfg, capsys):
    overrides = ["corpus=balanced", "dryrun=true", f"data.root={data_cfg.root}", f"paths.cache={tmp_path / 'cache'}",
                 f"paths.runs={tmp_path / 'runs'}", "corpus.sources=[nltk_inaugural,nltk_state_union]", "name=t"]
    art = run_command("corpus", overrides)
    out = capsys.readouterr().out
    assert str(art.path) in out and art.key in out and "balanced" in out
    run = tmp_path / "runs" / "t" / "corpus"
    assert (run / "DONE").exists() and (run / "config.yaml").exists()
    assert json.loads((run / "corpus.json").read_text())["key"] == art.key
    train = art.manifest["splits"]["train"]
    assert abs(train["male_terms"] - train["female_terms"]) <= 0.01 * train["male_terms"]
    assert art.manifest["dryrun"] and sum(s["sentences"] for s in art.manifest["cleaning"]["per_source"]) == 4000
