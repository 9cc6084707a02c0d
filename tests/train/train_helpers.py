"""Tiny pretraining helpers: a corpus of hand-written sentences and tiny model/train overrides.

A uniquely named module (not `conftest`): pytest registers every folder's conftest.py as `conftest`, so an
import of a helper from `conftest` breaks when another folder's tests are collected first.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

SUBJECTS = ["The doctor", "A nurse", "My sister", "His father", "The engineer", "Her brother", "The teacher",
            "A farmer", "The child", "Our neighbour"]
VERBS = ["reads", "writes", "paints", "finds", "buys", "sells", "carries", "opens", "cleans", "fixes"]
OBJECTS = ["a book", "the letter", "an old map", "the red door", "a small boat", "the garden gate",
           "some bread", "the kitchen table", "a wooden chair", "the long road"]
ENDINGS = ["today.", "every morning.", "after school.", "in the evening.", "before dinner.", "with care."]


def write_sentences(path: Path, n: int, seed: int) -> Path:
    rng = random.Random(seed)
    lines = [f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)} {rng.choice(ENDINGS)}" for _ in range(n)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


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
    base = {
        "name": name, "seed": 3, "model": "tiny", "model.hidden_size": 32, "model.num_heads": 2,
        "model.intermediate_size": 64, "model.max_position_embeddings": 64, "model.hidden_dropout": 0.1,
        "model.attention_dropout": 0.1, "tokenizer.vocab_size": 120, "tokenizer.model_max_length": 64,
        "train.steps": steps, "train.batch_size": 8, "train.seq_len": 32, "train.warmup_steps": 2,
        "train.lr": 3e-3, "train.checkpoint_steps": "[2]" if steps >= 2 else "[]", "train.validation_blocks": 8,
        "impl": "cpu",
        "impl.num_threads": 1, "wandb": "off", "paths.runs": str(tmp_path / "runs"),
        "paths.cache": str(tmp_path / "cache"), "data.root": str(tmp_path / "data"),
    }
    base.update(extra)
    return [f"{k}={v}" for k, v in base.items()]
