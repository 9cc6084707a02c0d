"""BabyLM corpora as corpus sources: per-source cleaning, the line structure kept, every mutation."""

from __future__ import annotations

from pathlib import Path

import pytest

from babybias.configs.corpus import MUTATIONS, CorpusConfig
from babybias.corpus.babylm import babylm_lines, gutenberg_paragraphs, source_lines
from babybias.corpus.build import build_corpus
from babybias.corpus.clean import is_validation, normalize

RAW = {
    "childes": ["*CHI:\tmore cookie please .", "*MOT:\tmore cookie please .", "*MOT:\tmore cookie please .",
                "*FAT:\twhat's that ?"],
    "bnc_spoken": ["well i don't know", ".", "?", "well i don't know", "", "well i don't know", "yeah it is"],
    "switchboard": ["A:\tuh, i think so.", "B:\t- yeah, right.", "B:\t- yeah, right."],
    "open_subtitles": ["- Where are you going?", "-Home.", "-Home.", "I'm going home."],
    "simple_wiki": ["= = = Paris = = =", "Paris is the capital of France.[1] It has art &amp; food.[23]",
                    "Villeneuve is a commune in France.", ""],
}
CLEAN = {
    "childes": ["more cookie please .", "what's that ?"],  # the repeat goes, whoever says it
    "bnc_spoken": ["Well i don't know", "Well i don't know", "Yeah it is"],  # a blank line ends a conversation
    "switchboard": ["uh, i think so.", "yeah, right."],
    "open_subtitles": ["Where are you going?", "Home.", "I'm going home."],
    "simple_wiki": ["Paris is the capital of France. It has art & food."],
}


@pytest.mark.parametrize("source", sorted(RAW))
def test_per_source_cleaning(tmp_path, source):
    path = tmp_path / f"{source}.train"
    path.write_text("\n".join(RAW[source]) + "\n", encoding="utf-8")
    assert list(source_lines(source, path)) == CLEAN[source]


def test_gutenberg_lines_are_joined_into_paragraphs():
    lines = ["It was a dark night,", "and the rain fell.", "", "", "Chapter II", "", "She said no."]
    assert list(gutenberg_paragraphs(iter(lines))) == ["It was a dark night, and the rain fell.", "Chapter II",
                                                       "She said no."]
    # no blank lines at all: a paragraph ends at the first sentence end once it holds >= 200 words
    unbroken = [f"Sentence number {i} goes on and on and on and on and on." for i in range(60)]  # 13 words each
    assert [len(p.split()) for p in gutenberg_paragraphs(iter(unbroken))] == [16 * 13, 16 * 13, 16 * 13, 12 * 13]


def _build(tmp_path: Path, data_cfg, **kw):
    cfg = CorpusConfig(sources=["babylm_100m"], **kw)
    return build_corpus(cfg, data_cfg, tmp_path / "cache", seed=0, progress=False)


def test_original_corpus_is_the_cleaned_lines_in_order(tmp_path, babylm_data):
    corpus = _build(tmp_path, babylm_data, min_words=1, deduplicate=False, validation_fraction=0.05)
    expected = [normalize(line) for line in babylm_lines(Path(babylm_data.root) / "babylm_100m", "train_100M")]
    expected = [line for line in expected if any(c.islower() for c in line)]
    assert not any(line.startswith(("*CHI", "A:", "- ", "= =")) for line in expected)
    assert corpus.read("train") == [line for line in expected if not is_validation(line, 0.05)]
    assert corpus.read("validation") == [line for line in expected if is_validation(line, 0.05)]
    assert len(corpus.read("validation")) > 0
    deduplicated = _build(tmp_path, babylm_data, min_words=1, validation_fraction=0.05)
    assert deduplicated.key != corpus.key and len(deduplicated.read("train")) < len(corpus.read("train"))


@pytest.mark.parametrize("mutation", MUTATIONS)
def test_every_mutation_builds_on_babylm(tmp_path, babylm_data, mutation):
    corpus = _build(tmp_path, babylm_data, mutation=mutation, threshold=0.9, female_ratio=0.3,
                    random_drop_reference="imbalanced")
    report = corpus.manifest["mutation_report"]["train"]
    assert corpus.manifest["mutation"] == mutation and corpus.read("train")
    original = _build(tmp_path, babylm_data)
    if mutation == "cda":
        assert report["added"] > 0 and len(corpus.read("train")) > len(original.read("train"))
    if mutation == "balanced":
        assert report["sentences_swapped"] > 0 and report["remaining_gap"] <= 0.01 * max(report["before"].values())
    if mutation == "detox":
        assert corpus.manifest["toxicity"]["train"]  # every train line was scored
    if mutation in ("imbalanced", "random_drop"):
        assert report["removed"] > 0 and len(corpus.read("train")) == len(original.read("train")) - report["removed"]
    assert corpus.read("validation") == original.read("validation")
