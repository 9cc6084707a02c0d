"""Debias test fixtures: a private data root with the gender word lists, and a tiny pretrain run with a corpus."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from babybias.configs.common import DataConfig

WORD_LISTS = ("bias_attribute_words", "debiaswe_word_lists", "winobias")

# A small corpus written for these tests: male, female and neutral sentences (word pairs from the lexicon).
_MALE = ["he is a doctor and he works at home .", "the man ran to his car .", "my father likes the dog .",
         "the boy has a cat .", "his brother was at work .", "the king was old and rich ."]
_FEMALE = ["she is a nurse and she works at home .", "the woman ran to her car .", "my mother likes the dog .",
           "the girl has a cat .", "her sister was at work .", "the queen was old and rich ."]
_NEUTRAL = ["the dog ran home .", "people like good work .", "the cat is very lazy .", "they were always smart .",
            "it was a bad day at work .", "the old car is at home ."]


@pytest.fixture(scope="session")
def word_list_data(shared_data, tmp_path_factory) -> DataConfig:
    from babybias.data import store

    root = tmp_path_factory.mktemp("debias_data_root")
    cfg = DataConfig(root=str(root), mirror=str(shared_data), verify=True)
    for name in WORD_LISTS:
        store.prepare(name, cfg)
    return cfg


def write_corpus(path: Path, repeats: int = 5) -> Path:
    lines = []
    for i in range(repeats):  # distinct lines, as in a deduplicated corpus
        lines += [f"{s[:-2]} number {i} ." for s in _MALE + _FEMALE + _NEUTRAL]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def tiny_run(tmp_path) -> Path:
    """runs/tiny/pretrain with model/, checkpoints/ and a corpus.json naming a small train.txt."""
    from babybias.scoring.testing import save_tiny_run

    run = save_tiny_run(tmp_path / "runs" / "tiny" / "pretrain", steps=(0, 10))
    corpus = write_corpus(tmp_path / "train.txt")
    (run / "corpus.json").write_text(json.dumps({"train_path": str(corpus), "key": "test"}))
    return run
