"""Corpus integrity (issue 10): per-line decoding, non-text sources refused, balanced without gendered words,
a corrupt corpus cache rebuilt rather than trained on."""

from __future__ import annotations

import json
import random

import pytest

from babybias.configs.corpus import CorpusConfig
from babybias.corpus.build import build_corpus, read_sentences
from babybias.corpus.sources import _PINNED_FALLBACK, decode_lines, resolve_source
from babybias.errors import DataError

MIXED = ("Café au lait is served every morning here.\n".encode("utf-8")
         + b"One stray \xe9 byte from an old editor in this line.\n"
         + "Über den Wolken ist die Freiheit wohl grenzenlos.\n".encode("utf-8"))


def test_a_mixed_encoding_file_is_decoded_line_by_line(tmp_path, data_cfg, capsys):
    path = tmp_path / "mixed.txt"
    path.write_bytes(MIXED)
    source = resolve_source(str(path), data_cfg)
    sentences, report = read_sentences([source], CorpusConfig(sources=[str(path)]), dryrun=False)
    assert sentences[0] == "Café au lait is served every morning here."
    assert sentences[2] == "Über den Wolken ist die Freiheit wohl grenzenlos."
    assert sentences[1] == "One stray \ufffd byte from an old editor in this line."
    assert not any("Ã" in s for s in sentences)  # what decoding the whole file as Latin-1 gave: mojibake everywhere
    assert report["per_source"][0]["undecodable_lines"] == 1
    assert "1 of 3 lines are not valid UTF-8" in capsys.readouterr().out


def test_a_mixed_encoding_file_is_not_served_the_corpus_its_latin1_decoding_was_cached_under(tmp_path, data_cfg,
                                                                                              monkeypatch):
    """Before per-line decoding, such a file was read whole as Latin-1 and its corpus cached under a key of its
    bytes only: the same key would serve that mojibake corpus again. A valid UTF-8 file keeps its key."""
    from babybias.corpus import build
    from babybias.corpus.build import corpus_key

    mixed, clean = tmp_path / "mixed.txt", tmp_path / "clean.txt"
    mixed.write_bytes(MIXED)
    clean.write_bytes(MIXED.replace(b"\xe9", b"e"))
    described = {p.name: resolve_source(str(p), data_cfg).describe() for p in (mixed, clean)}
    assert described["mixed.txt"]["decoder"] == "utf-8 per line, U+FFFD"
    assert set(described["clean.txt"]) == {"name", "kind", "sha256", "files", "sentence_per_line"}  # as before
    with_decoder = corpus_key(CorpusConfig(sources=[str(mixed)]), data_cfg, seed=0)
    as_before = resolve_source(str(mixed), data_cfg)
    as_before.decoder = None  # what the key was made of when the file was read as Latin-1
    monkeypatch.setattr(build, "resolve_source", lambda name, cfg: as_before)
    assert corpus_key(CorpusConfig(sources=[str(mixed)]), data_cfg, seed=0) != with_decoder


def test_registered_files_decode_exactly_as_before(shared_data):
    """Six State of the Union files hold Big5 punctuation: the pinned per-line fallback gives the same text as the
    whole-file Latin-1 fallback of earlier versions (so the default corpus and its cache keys stay the same)."""
    checked = 0
    for path in sorted((shared_data / "nltk_state_union").glob("*.txt")):
        raw = path.read_bytes()
        try:
            raw.decode("utf-8")
            continue
        except UnicodeDecodeError:
            before = raw.decode("latin-1").splitlines()
        assert list(decode_lines(raw, None, _PINNED_FALLBACK)) == before, path.name
        checked += 1
    assert checked == 6


def test_a_source_of_random_bytes_is_refused_with_its_printable_ratio(tmp_path, data_cfg):
    path = tmp_path / "random.txt"
    path.write_bytes(random.Random(0).randbytes(50_000))
    source = resolve_source(str(path), data_cfg)
    with pytest.raises(DataError, match=r"mostly not text: only \d+% of its characters are printable") as err:
        read_sentences([source], CorpusConfig(sources=[str(path)]), dryrun=False)
    assert "UTF-8" in str(err.value)


def test_balanced_on_text_without_gendered_words_warns(tmp_path, data_cfg, capsys):
    path = tmp_path / "neutral.txt"
    path.write_text("".join(f"The river number {i} runs to the sea today.\n" for i in range(40)))
    corpus = build_corpus(CorpusConfig(sources=[str(path)], mutation="balanced", validation_fraction=0.0),
                          data_cfg, tmp_path / "cache", seed=0, progress=False)
    assert "nothing was balanced" in capsys.readouterr().out
    assert "nothing was balanced" in corpus.manifest["mutation_report"]["train"]["warning"]


def test_a_corrupt_corpus_cache_is_rebuilt_not_trained_on(tmp_path, data_cfg, capsys):
    path = tmp_path / "text.txt"
    path.write_text("".join(f"The doctor number {i} reads a long book today.\n" for i in range(200)))
    cfg = CorpusConfig(sources=[str(path)], validation_fraction=0.1)
    first = build_corpus(cfg, data_cfg, tmp_path / "cache", seed=0, progress=False)
    good = first.train_path.read_bytes()
    assert first.manifest["files"]["train.txt"]["bytes"] == len(good)
    first.train_path.write_bytes(good[: len(good) // 2])  # truncated; the manifest still claims the old size
    capsys.readouterr()
    again = build_corpus(cfg, data_cfg, tmp_path / "cache", seed=0, progress=False)
    assert "corpus cache" in capsys.readouterr().out and again.train_path.read_bytes() == good
    manifest = json.loads((again.path / "manifest.json").read_text())
    del manifest["files"]  # as written by an older babybias: no checksums to trust it by
    (again.path / "manifest.json").write_text(json.dumps(manifest))
    build_corpus(cfg, data_cfg, tmp_path / "cache", seed=0, progress=False)
    assert "has no checksums" in capsys.readouterr().out
    assert [p.name for p in (tmp_path / "cache" / "corpus").iterdir()] == [first.key]  # nothing left aside


def test_an_edited_registered_source_is_not_served_the_cached_corpus_with_verify_off(tmp_path, shared_data):
    """The key of a registered source is its registered checksums: with data.verify=false an edited file was
    read unverified, so the corpus cached for the registered bytes came back (and a resume saw no change)."""
    from babybias.configs.common import DataConfig
    from babybias.data import store

    root = tmp_path / "data"
    for name in ("nltk_inaugural", "bias_attribute_words", "debiaswe_word_lists", "winobias"):
        store.prepare(name, DataConfig(root=str(root), mirror=str(shared_data)))
    unverified = DataConfig(root=str(root), mirror=None, verify=False)
    cfg = CorpusConfig(sources=["nltk_inaugural"], validation_fraction=0.0)
    first = build_corpus(cfg, unverified, tmp_path / "cache", seed=0, progress=False)
    edited = sorted((root / "nltk_inaugural").glob("*.txt"))[0]
    edited.write_text(edited.read_text() + "\nA sentence that no president ever said here.\n")
    with pytest.raises(DataError, match="nltk_inaugural.*checksum differs"):
        again = build_corpus(cfg, unverified, tmp_path / "cache", seed=0, progress=False)
        assert again.key != first.key  # (had it been served: the old text under the old key)
