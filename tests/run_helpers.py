"""Helpers shared by the test folders: a tiny `babybias pretrain` run and the two-process (gloo) driver.

A uniquely named module (not `conftest`), importable from every folder: tests/conftest.py puts tests/ on sys.path.
"""

from __future__ import annotations

import random
from pathlib import Path

SUBJECTS = ["The doctor", "A nurse", "My sister", "His father", "The engineer", "Her brother", "The teacher",
            "A farmer", "The child", "Our neighbour"]
VERBS = ["reads", "writes", "paints", "finds", "buys", "sells", "carries", "opens", "cleans", "fixes"]
OBJECTS = ["a book", "the letter", "an old map", "the red door", "a small boat", "the garden gate",
           "some bread", "the kitchen table", "a wooden chair", "the long road"]
ENDINGS = ["today.", "every morning.", "after school.", "in the evening.", "before dinner.", "with care."]


def write_sentences(path: Path, n: int, seed: int, subjects=SUBJECTS, objects=OBJECTS) -> Path:
    """n template sentences (seeded), one per line."""
    rng = random.Random(seed)
    lines = [f"{rng.choice(subjects)} {rng.choice(VERBS)} {rng.choice(objects)} {rng.choice(ENDINGS)}" for _ in range(n)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def tiny_run_overrides(tmp_path: Path, model: dict, name: str, steps: int = 6, /, **extra) -> list[str]:
    """`babybias pretrain` overrides for a seconds-long run (seq 32, vocab ~120), everything under tmp_path.

    `model` holds the model group and its size (e.g. {"model": "tiny", "model.hidden_size": 32, ...}); `extra`
    overrides any key, "model" included (hence the positional-only parameters).
    """
    base = {
        "name": name, "seed": 3, **model, "tokenizer.vocab_size": 120, "tokenizer.model_max_length": 64,
        "train.steps": steps, "train.batch_size": 8, "train.seq_len": 32, "train.warmup_steps": 2,
        "train.lr": 3e-3, "train.checkpoint_steps": "[2]" if steps >= 2 else "[]", "train.validation_blocks": 8,
        "impl": "cpu", "impl.num_threads": 1, "wandb": "off", "paths.runs": str(tmp_path / "runs"),
        "paths.cache": str(tmp_path / "cache"), "data.root": str(tmp_path / "data"),
    }
    base.update(extra)
    return [f"{k}={v}" for k, v in base.items()]


# `python -m torch.distributed.run ... driver.py <overrides>`: pretrain on a prepared corpus folder, save each rank's
# weights as rank<r>.pt. Format with root= (a folder holding train.txt and validation.txt) and out= (a folder).
DDP_DRIVER = """import os, sys, torch
from pathlib import Path
import babybias.commands.pretrain as pretrain
from babybias.launch.compose import compose_command

class Corpus:
    path = Path({root!r}); key = "fakecorpus01"; manifest = {{}}
    train_path = path / "train.txt"; validation_path = path / "validation.txt"

torch.set_num_threads(1)
pretrain.build_corpus_artifact = lambda cfg: Corpus
result = pretrain.run(compose_command("pretrain", sys.argv[1:]))
torch.save(result.model.state_dict(), Path({out!r}) / f"rank{{os.environ['RANK']}}.pt")
"""


def run_two_ranks(tmp_path: Path, corpus_root: Path, overrides: list[str], timeout: int = 300) -> dict:
    """`torch.distributed.run --nproc_per_node 2` (gloo) of DDP_DRIVER on a corpus folder; asserts that both ranks end
    with equal weights and returns rank 0's state dict."""
    import subprocess
    import sys

    import torch

    driver = tmp_path / "driver.py"
    driver.write_text(DDP_DRIVER.format(root=str(corpus_root), out=str(tmp_path)))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(driver),
           *overrides]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, out.stderr[-3000:]
    rank0, rank1 = (torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1))
    assert all(torch.equal(rank0[k], rank1[k]) for k in rank0)
    return rank0
