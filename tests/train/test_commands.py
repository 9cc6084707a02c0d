"""`babybias tokenizer` and `babybias pretrain` on a corpus built by babybias.corpus from a user text file."""

from __future__ import annotations

import json

import torch
from train_helpers import tiny_overrides, write_sentences

from babybias.launch.compose import run_command
from babybias.runs import file_sha256

torch.set_num_threads(1)


def _real_corpus_overrides(tmp_path, shared_data):
    text = write_sentences(tmp_path / "mini.txt", 700, seed=5)
    return [f"data.root={shared_data}", "data.mirror=null", f"corpus.sources=[{text}]"]


def test_tokenizer_then_pretrain_share_the_cached_tokenizer(tmp_path, shared_data):
    from transformers import AutoTokenizer

    extra = _real_corpus_overrides(tmp_path, shared_data)
    overrides = tiny_overrides(tmp_path, steps=3, **{"tokenizer.vocab_size": 300})
    base = {k: v for k, v in (o.split("=", 1) for o in overrides)}
    tok_overrides = [f"{k}={base[k]}" for k in ("name", "seed", "tokenizer.vocab_size", "tokenizer.model_max_length", "paths.runs", "paths.cache")]
    tok_dir = run_command("tokenizer", tok_overrides + extra)
    tok_run = tmp_path / "runs" / "tiny" / "tokenizer"
    assert (tok_run / "DONE").exists()
    tok = AutoTokenizer.from_pretrained(str(tok_run))
    assert tok.convert_ids_to_tokens(tok("The nurse reads.")["input_ids"]) == ["[CLS]", "The", "nurse", "reads", ".", "[SEP]"]

    result = run_command("pretrain", overrides + extra)
    run = tmp_path / "runs" / "tiny" / "pretrain"
    assert (run / "DONE").exists() and result.steps == 3
    corpus = json.loads((run / "corpus.json").read_text())
    meta = json.loads((run / "meta.json").read_text())
    assert meta["inputs"] == {"corpus_key": corpus["key"], "tokenizer_key": tok_dir.name,
                              "tokenizer_sha256": file_sha256(tok_dir / "tokenizer.json")}
    assert (run / "tokenizer" / "tokenizer.json").read_bytes() == (tok_dir / "tokenizer.json").read_bytes()


def test_config_changes_ignore_the_debias_recipe_of_a_run_without_debiasing(tmp_path):
    """A plain run never reads debias.*: a change there is no change of its results (and is not reported on a DONE
    rerun, a resume or a study rerun); under debias=cds the same change is one."""
    from babybias.launch.compose import compose_command
    from babybias.runs import RunDir
    from babybias.train.resume import config_changes

    for method, expected in (("none", {}), ("cds", {"debias.lr": [2e-5, 3e-5]})):
        run = RunDir(tmp_path / method).create()
        base = ["init_from=x"] if method == "cds" else []
        overlay = [f"debias={method}"] if method != "none" else ["debias.lr=2e-5"]
        run.write_config(compose_command("pretrain", [*base, *overlay]))
        assert config_changes(run, compose_command("pretrain", [*base, *overlay, "debias.lr=3e-5"])) == expected
