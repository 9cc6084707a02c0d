"""Tiny pretraining fixtures (helpers live in train_helpers.py)."""

from __future__ import annotations

import pytest
from train_helpers import FakeCorpus, write_sentences


@pytest.fixture
def tiny_corpus(tmp_path_factory) -> FakeCorpus:
    root = tmp_path_factory.mktemp("corpus")
    train = write_sentences(root / "train.txt", 600, seed=1)
    val = write_sentences(root / "validation.txt", 80, seed=2)
    return FakeCorpus(root, "fakecorpus01", train, val, {"sentences": 600})


@pytest.fixture
def use_corpus(monkeypatch, tiny_corpus):
    """Make `babybias pretrain` use the tiny corpus instead of building one from data sets."""
    import babybias.commands.pretrain as pretrain

    monkeypatch.setattr(pretrain, "build_corpus_artifact", lambda cfg: tiny_corpus)
    return tiny_corpus
