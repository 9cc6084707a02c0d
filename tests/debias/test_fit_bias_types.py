"""INLP and SentenceDebias for gender, race and religion on a tiny model; INLP's size-relative setting."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from babybias.configs.debias import DebiasConfig, tokenizer_is_uncased
from babybias.debias.apply import debiased_model
from babybias.errors import ConfigError

# race and religion attribute words of bias_attribute_words.json, in lines of >= 5 tokens
_RACE = ["the black cat sat on mat {i}", "an asian dog ran to house {i}", "the white car is in lot {i}",
         "we flew from africa to spot {i}", "the african song was number {i}"]
_RELIGION = ["the church bell rang at hour {i}", "a rabbi read the text {i}", "the mosque was full on day {i}",
             "she read the bible on page {i}", "the muslim family ate meal {i}"]
_NEUTRAL = ["the old cat sat on mat {i}", "a small dog ran to house {i}", "the red car is in lot {i}"]
_GENDER = ["he is a doctor at home {i}", "the man ran to his car {i}", "she is a nurse at home {i}",
           "the woman ran to her car {i}"]


@pytest.fixture
def mixed_run(tiny_run):
    """The tiny run, its corpus.json pointing at gender + race + religion + neutral lines."""
    lines = [t.format(i=i) for i in range(8) for t in _RACE + _RELIGION + _NEUTRAL + _GENDER]
    corpus = tiny_run / "mixed.txt"
    corpus.write_text("\n".join(lines) + "\n")
    (tiny_run / "corpus.json").write_text(json.dumps({"train_path": str(corpus), "key": "test"}))
    return tiny_run


def _fit(run, data_cfg, tmp_path, **kw):
    from babybias.scoring import ScoringEngine
    from babybias.scoring.model import load_masked_lm

    lm, tokenizer = load_masked_lm(run / "model", "cpu")
    cfg = DebiasConfig(**kw)
    _, artifact = debiased_model(lm, ScoringEngine(lm, tokenizer, progress=False), cfg, run / "model",
                                 artifact_root=tmp_path / "debias", data_cfg=data_cfg)
    return artifact


@pytest.mark.parametrize("bias_type", ["race", "religion"])
def test_inlp_for_race_and_religion_separates_bias_from_neutral(bias_type, mixed_run, word_list_data, tmp_path):
    artifact = _fit(mixed_run, word_list_data, tmp_path, method="inlp", bias_type=bias_type, n_classifiers=5)
    info = artifact.info
    assert info["labels"] == ["bias", "neutral"] and info["bias_type"] == bias_type
    assert info["class_counts"]["bias"] == 40  # 5 templates x 8
    attribute = {"race": ("black", "asian", "white", "africa", "african"),
                 "religion": ("church", "rabbi", "mosque", "bible", "muslim")}[bias_type]
    for record in artifact.sentences:
        has_word = any(w in record["text"].split(" ") for w in attribute)
        assert has_word == (record["label"] == "bias"), record  # clipped bias sentences keep their word
    assert info["rank_removed"] <= 5  # binary: one direction per classifier (gender: three)
    gender = _fit(mixed_run, word_list_data, tmp_path, method="inlp", n_classifiers=5)
    assert gender.info["labels"] == ["male", "female", "neutral"]
    assert artifact.folder != gender.folder  # each bias type's artifact beside, not over, gender's
    assert all((Path(a.folder) / "DONE").exists() for a in (artifact, gender))


def test_sentence_debias_for_race_fits_triples(mixed_run, word_list_data, tmp_path):
    artifact = _fit(mixed_run, word_list_data, tmp_path, method="sentence_debias", bias_type="race")
    assert artifact.info["group_size"] == 3
    # one example per (tuple, word present): black 2 tuples, asian 3, white 1, africa 3, african 1
    assert artifact.info["n_pairs"] == 8 * 10
    record = next(r for r in artifact.sentences if r["text"] == "the black cat sat on mat 0")
    assert record["counterfactual"] == ["the caucasian cat sat on mat 0", "the asian cat sat on mat 0"]
    V = artifact.arrays["components"]
    assert V.shape == (1, 32) and np.isclose(np.linalg.norm(V), 1.0)


def test_inlp_split_and_size_relative_scaling(mixed_run, word_list_data, tmp_path):
    artifact = _fit(mixed_run, word_list_data, tmp_path, method="inlp", n_classifiers=8,
                    n_classifiers_scaling="hidden_size", reference_hidden_size=64)
    info = artifact.info
    assert info["n_classifiers_used"] == 4  # 8 classifiers meant for width 64, scaled to the tiny model's 32
    assert len(info["dev_accuracies"]) <= 4 and info["rank_removed"] <= 3 * 4
    assert info["rank_removed_fraction"] == pytest.approx(info["rank_removed"] / 32)
    n = sum(info["class_counts"].values())
    sizes = info["split_sizes"]
    assert sizes["test"] == pytest.approx(0.3 * n, abs=1) and sizes["dev"] == pytest.approx(0.3 * 0.7 * n, abs=1)
    assert {"test_accuracy_before", "test_accuracy_after"} <= set(info)


def test_classifier_count_scales_with_the_hidden_size():
    relative = DebiasConfig(method="inlp", n_classifiers_scaling="hidden_size")
    assert [relative.classifiers_for(h) for h in (768, 384, 256)] == [80, 40, 27]
    assert DebiasConfig(method="inlp").classifiers_for(384) == 80  # bias-bench: absolute


def test_lowercase_follows_the_tokenizer(tiny_run):
    from tokenizers import normalizers

    from babybias.scoring.testing import tiny_tokenizer

    cased = tiny_tokenizer()
    assert not tokenizer_is_uncased(cased) and not DebiasConfig(lowercase="auto").lowercase_for(cased)
    assert DebiasConfig(lowercase="true").lowercase_for(cased)
    uncased = tiny_tokenizer()
    uncased.backend_tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    assert tokenizer_is_uncased(uncased) and DebiasConfig(lowercase="auto").lowercase_for(uncased)
    assert DebiasConfig(lowercase=True).lowercase == "true"  # a YAML boolean is read as the choice


def test_debias_config_rejects_unsupported_combinations():
    with pytest.raises(ConfigError, match="bias_type"):
        DebiasConfig(method="inlp", bias_type="race-color")
    with pytest.raises(ConfigError, match="gender-only"):
        DebiasConfig(method="sentence_debias", bias_type="race", counterfactuals="all_words")
    with pytest.raises(ConfigError, match="lexicon"):
        DebiasConfig(method="inlp", lexicon="wordnet")
    assert DebiasConfig(method="self_debias", bias_type="race-color").tag == "self_debias-race-color"
    assert [DebiasConfig(method=m, bias_type="race").tag for m in ("inlp", "cda", "dropout")] == [
        "inlp-race", "cda-race", "dropout"]
    assert DebiasConfig(method="inlp").tag == "inlp"


def test_each_bias_type_has_its_own_result_files():
    from babybias.commands.evaluate import variant
    from babybias.configs.evaluate import EvaluateConfig

    def var(**kw):
        return variant("crows_pairs", EvaluateConfig(debias=DebiasConfig(**kw)))

    stems = {var(method=m, bias_type=t).stem for m in ("inlp", "sentence_debias", "self_debias")
             for t in ("gender", "race", "religion")}
    assert len(stems) == 9 and "crows_pairs-inlp" in stems  # gender keeps the plain name
    assert {var(method="inlp", bias_type=t).base_stem for t in ("race", "religion")} == {"crows_pairs"}
