"""Tiny pretraining helpers: a corpus of hand-written sentences and tiny model/train overrides.

A uniquely named module (not `conftest`): pytest registers every folder's conftest.py as `conftest`, so an
import of a helper from `conftest` breaks when another folder's tests are collected first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from run_helpers import tiny_run_overrides, write_sentences  # noqa: F401 (re-exported)


@dataclass
class FakeCorpus:
    """Quacks like babybias.corpus.build.CorpusArtifact (path, key, train_path, validation_path, manifest)."""

    path: Path
    key: str
    train_path: Path
    validation_path: Path
    manifest: dict = field(default_factory=dict)


def tiny_overrides(tmp_path: Path, name: str = "tiny", steps: int = 6, **extra) -> list[str]:
    """Overrides for a seconds-long pretrain run: 2 x 32 model, vocab ~100, seq 32, everything under tmp_path."""
    model = {"model": "tiny", "model.hidden_size": 32, "model.num_heads": 2, "model.intermediate_size": 64,
             "model.max_position_embeddings": 64, "model.hidden_dropout": 0.1, "model.attention_dropout": 0.1}
    return tiny_run_overrides(tmp_path, model, name, steps, **extra)
