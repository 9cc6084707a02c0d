"""LTG-BERT fixtures (helpers live in ltg_helpers.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
from ltg_helpers import write_sentences


@dataclass
class _Corpus:
    """Quacks like babybias.corpus.build.CorpusArtifact."""

    path: Path
    key: str
    train_path: Path
    validation_path: Path
    manifest: dict = field(default_factory=dict)


@pytest.fixture
def ltg_corpus(monkeypatch, tmp_path_factory):
    """Make `babybias pretrain` use a tiny written corpus instead of building one from data sets."""
    import babybias.commands.pretrain as pretrain

    root = tmp_path_factory.mktemp("ltg_corpus")
    corpus = _Corpus(root, "ltgcorpus01", write_sentences(root / "train.txt", 600, seed=1),
                     write_sentences(root / "validation.txt", 80, seed=2), {"sentences": 600})
    monkeypatch.setattr(pretrain, "build_corpus_artifact", lambda cfg: corpus)
    return corpus
