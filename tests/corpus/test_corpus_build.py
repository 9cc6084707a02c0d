"""Corpus building: sources, cleaning, split, cache key, atomic cache, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from babybias.configs.common import DataConfig
from babybias.configs.corpus import CorpusConfig
from babybias.corpus.build import build_corpus, corpus_key
from babybias.corpus.clean import is_validation, split_sentences
from babybias.errors import BabybiasError, DataError


def _txt(path: Path, lines: list[str]) -> str:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def _build(cfg, data_cfg, tmp_path, seed=0, dryrun=False):
    return build_corpus(cfg, data_cfg, tmp_path / "cache", seed, dryrun=dryrun, progress=False)


def test_split_sentences_keeps_abbreviations_and_initials():
    text = 'Mr. Harry S. Truman spoke in the U.S. Senate today. He left! "Why?" she asked. 3 men stayed.'
    assert split_sentences(text) == ['Mr. Harry S. Truman spoke in the U.S. Senate today.', "He left!",
                                     '"Why?" she asked.', "3 men stayed."]


def test_original_cleans_splits_dedupes(tmp_path, data_cfg):
    src = _txt(tmp_path / "a.txt", [
        "  The \u201cfirst\u201d   sentence is here.  It has a second one.",
        "",
        "Too short.",
        "THE HEADING HAS NO LOWER CASE",
        "The \"first\" sentence is here.",  # duplicate after normalization
        "A third sentence stands alone",
    ])
    art = _build(CorpusConfig(sources=[src], validation_fraction=0.0), data_cfg, tmp_path)
    assert art.read("train") == ['The "first" sentence is here.', "It has a second one.", "A third sentence stands alone"]
    assert art.read("validation") == []
    cleaning = art.manifest["cleaning"]
    assert cleaning["dropped_duplicates"] == 1
    assert cleaning["per_source"][0]["dropped_short"] == 2
    assert art.manifest["splits"]["train"]["words"] == 5 + 5 + 5
    assert art.train_path == art.path / "train.txt" and art.path.parent.name == "corpus"
    assert json.loads((art.path / "manifest.json").read_text())["key"] == art.key


def test_split_is_a_deterministic_hash_of_the_text(tmp_path, data_cfg):
    lines = [f"Sentence number {i} is about something." for i in range(400)]
    src = _txt(tmp_path / "a.txt", lines)
    art = _build(CorpusConfig(sources=[src], validation_fraction=0.2), data_cfg, tmp_path)
    validation = art.read("validation")
    assert validation == [s for s in lines if is_validation(s, 0.2)]
    assert art.read("train") == [s for s in lines if not is_validation(s, 0.2)]
    assert 40 < len(validation) < 120
    # reversed source order -> same membership
    rev = _txt(tmp_path / "b.txt", lines[::-1])
    art2 = _build(CorpusConfig(sources=[rev], validation_fraction=0.2), data_cfg, tmp_path)
    assert sorted(art2.read("validation")) == sorted(validation)


def test_jsonl_and_saved_dataset_sources(tmp_path, data_cfg):
    import datasets

    jsonl = tmp_path / "a.jsonl"
    jsonl.write_text('{"text": "The jsonl line one is here. And its second sentence."}\n\n{"text": "Another jsonl line."}\n')
    folder = tmp_path / "ds"
    datasets.Dataset.from_dict({"text": ["A saved dataset row.", "", "A second dataset row."]}).save_to_disk(str(folder))
    art = _build(CorpusConfig(sources=[str(jsonl), str(folder)], validation_fraction=0.0), data_cfg, tmp_path)
    assert art.read("train") == ["The jsonl line one is here.", "And its second sentence.", "Another jsonl line.",
                                 "A saved dataset row.", "A second dataset row."]
    assert [s["kind"] for s in art.manifest["sources"]] == ["jsonl", "dataset"]


def test_cache_hit_and_keys(tmp_path, data_cfg):
    src = _txt(tmp_path / "a.txt", [f"He wrote line {i} for her." for i in range(50)])
    cfg = CorpusConfig(sources=[src])
    art = _build(cfg, data_cfg, tmp_path)
    mtime = art.train_path.stat().st_mtime_ns
    again = _build(CorpusConfig(sources=[src]), data_cfg, tmp_path)
    assert again.path == art.path and again.train_path.stat().st_mtime_ns == mtime
    assert not [p for p in art.path.parent.iterdir() if p.name.startswith(".")]  # no temporary debris

    def key(seed=0, dryrun=False, **kw):
        return corpus_key(CorpusConfig(**{"sources": [src], **kw}), data_cfg, seed, dryrun)

    assert key() == art.key
    assert key(min_words=4) != art.key and key(validation_fraction=0.05) != art.key
    assert key(dryrun=True) != art.key
    assert key(threshold=0.9) == art.key and key(seed=7) == art.key     # original reads neither
    assert key(mutation="detox", threshold=0.9) != key(mutation="detox")
    assert key(mutation="balanced", seed=1) != key(mutation="balanced", seed=2)  # seeded mutation
    assert key(mutation="cda") != key(mutation="cda", cda_mode="one_sided")
    # the source's content is part of the key
    _txt(tmp_path / "a.txt", ["Changed content of the file."])
    assert key() != art.key


def test_dryrun_and_max_sentences_on_real_sources(tmp_path, data_cfg):
    cfg = CorpusConfig(sources=["nltk_inaugural", "nltk_state_union"], dryrun_sentences_per_source=100)
    art = _build(cfg, data_cfg, tmp_path, dryrun=True)
    assert [s["sentences"] for s in art.manifest["cleaning"]["per_source"]] == [100, 100]
    total = sum(art.manifest["splits"][s]["sentences"] for s in ("train", "validation"))
    assert total == 200 - art.manifest["cleaning"]["dropped_duplicates"]
    capped = _build(CorpusConfig(sources=["nltk_inaugural"], max_sentences=30, validation_fraction=0.0),
                    data_cfg, tmp_path)
    lines = capped.read("train")
    assert len(lines) == 30 and lines[1].startswith("Among the vicissitudes incident to life")
    assert capped.manifest["sources"][0]["kind"] == "registered" and len(capped.manifest["sources"][0]["sha256"]) == 64


def test_missing_source_is_a_data_error(tmp_path, data_cfg):
    with pytest.raises(DataError, match="neither a registered data set nor an existing file"):
        _build(CorpusConfig(sources=[str(tmp_path / "nope.txt")]), data_cfg, tmp_path)
    with pytest.raises(DataError, match=r"babybias data prepare datasets=\[nltk_brown\]"):
        _build(CorpusConfig(sources=["nltk_brown"]), data_cfg, tmp_path)  # not prepared in this root
    bad = tmp_path / "a.csv"
    bad.write_text("x\n")
    with pytest.raises(DataError, match="unsupported type"):
        _build(CorpusConfig(sources=[str(bad)]), data_cfg, tmp_path)


def test_missing_word_lists_are_a_data_error(tmp_path):
    src = _txt(tmp_path / "a.txt", ["A perfectly fine sentence here."])
    with pytest.raises(DataError, match="babybias data prepare"):
        _build(CorpusConfig(sources=[src]), DataConfig(root=str(tmp_path / "empty"), mirror=None), tmp_path)


def test_empty_corpus_after_filtering(tmp_path, data_cfg):
    src = _txt(tmp_path / "a.txt", ["Too short.", "", "NO LOWER CASE AT ALL"])
    with pytest.raises(BabybiasError, match="empty after cleaning.*corpus.min_words"):
        _build(CorpusConfig(sources=[src]), data_cfg, tmp_path)
    assert not (tmp_path / "cache" / "corpus").exists() or not any((tmp_path / "cache" / "corpus").iterdir())
