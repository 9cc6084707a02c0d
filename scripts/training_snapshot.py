"""Bit-identity of training across code versions: snapshot tiny CPU runs with one checkout, compare with another.

    python scripts/training_snapshot.py snapshot OUT      # losses, grad norms, DONE numbers and weights of 4 runs
    python scripts/training_snapshot.py compare OUT_A OUT_B

The four 7-step runs (the tests' tiny model and corpus, dropout on) are: plain, micro-batched (3), logging every
3rd step, and the LM head over all positions. `compare` prints, per run, whether every logged loss and gradient
norm, the final and validation loss and every weight are exactly equal. Use it when a change to the training
loop must not change results (e.g. moving work between host and device).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VARIANTS = {"plain": {}, "micro3": {"impl.micro_batch_size": 3}, "log3": {"train.log_every": 3},
            "full_head": {"impl.masked_lm_head_only": "false"}}


def snapshot(out: Path) -> None:
    os.environ["WANDB_MODE"] = "disabled"
    sys.path.insert(0, str(REPO / "tests" / "train"))
    import torch
    from safetensors.torch import load_file
    from train_helpers import FakeCorpus, tiny_overrides, write_sentences

    import babybias.commands.pretrain as pretrain
    from babybias.launch.compose import compose_command

    torch.set_num_threads(1)
    out.mkdir(parents=True, exist_ok=True)
    summary = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        corpus = FakeCorpus(root, "fakecorpus01", write_sentences(root / "train.txt", 600, 1),
                            write_sentences(root / "validation.txt", 80, 2))
        pretrain.build_corpus_artifact = lambda cfg: corpus
        for name, extra in VARIANTS.items():
            pretrain.run(compose_command("pretrain", tiny_overrides(root, name=name, steps=7, **extra)))
            run = root / "runs" / name / "pretrain"
            records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
            done = json.loads((run / "DONE").read_text())
            summary[name] = {"logged": [[r["step"], r["loss"], r["grad_norm"]] for r in records if "loss" in r],
                             "final_loss": done["final_loss"], "validation_loss": done["validation_loss"]}
            torch.save(load_file(str(run / "model" / "model.safetensors")), out / f"{name}.pt")
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    print(f"snapshot of {len(VARIANTS)} runs in {out}")


def compare(a: Path, b: Path) -> None:
    import torch

    sa, sb = (json.loads((p / "summary.json").read_text()) for p in (a, b))
    for name in VARIANTS:
        wa, wb = torch.load(a / f"{name}.pt"), torch.load(b / f"{name}.pt")
        weights = wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
        print(f"{name:10s} logged losses and grad norms identical: {sa[name]['logged'] == sb[name]['logged']}  "
              f"final/validation loss identical: {sa[name]['final_loss'] == sb[name]['final_loss'] and sa[name]['validation_loss'] == sb[name]['validation_loss']}  "
              f"weights identical: {weights}")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "snapshot":
        snapshot(Path(sys.argv[2]))
    elif len(sys.argv) == 4 and sys.argv[1] == "compare":
        compare(Path(sys.argv[2]), Path(sys.argv[3]))
    else:
        raise SystemExit(__doc__)
