"""Host synchronisations inside the training step, on a GPU (issue 11 item 3).

    python benchmarks/gpu_sync_check.py [--model babylm] [--steps 12] [--log-every 5] [--workers 0]

Runs the project's own `Pretrainer` (`impl=gpu_bf16`, the code path of `babybias pretrain`) on synthetic packed
blocks and wraps every optimizer step after the first two (cuBLAS/cuDNN set-up) in
`torch.cuda.set_sync_debug_mode("error")`: any call in the step that makes the host wait for the GPU (`.item()`,
`float(tensor)`, a boolean-mask gather, a blocking host-to-device copy, `cuda.synchronize`) raises, with the stack
of the offending call. The loop's deliberate read-backs (log steps, checkpoints) happen outside the step and are
not checked. Prints "no host sync in N optimizer steps" and exits 0 when clean; without a GPU it says so and
exits 2.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
from pretrain_throughput import synthetic_blocks, synthetic_tokenizer  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="babylm")
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--log-every", type=int, default=5)
    parser.add_argument("--workers", type=int, default=0, help="impl.dataloader_workers")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA GPU visible: this check needs one")
        raise SystemExit(2)
    from babybias.launch.compose import compose_command
    from babybias.runs import RunDir
    from babybias.train.loop import Pretrainer, TrainData

    checked = []
    step = Pretrainer.train_step

    def checked_step(self):
        if self.step < 2:
            return step(self)
        torch.cuda.set_sync_debug_mode("error")
        try:
            return step(self)
        finally:
            torch.cuda.set_sync_debug_mode("default")
            checked.append(self.step)

    Pretrainer.train_step = checked_step
    with tempfile.TemporaryDirectory(prefix="babybias-sync-check-") as tmp:
        root = Path(tmp)
        cfg = compose_command("pretrain", [
            f"model={args.model}", "impl=gpu_bf16", f"impl.dataloader_workers={args.workers}",
            f"train.steps={args.steps}", "train.batch_size=32", "train.seq_len=128", "train.warmup_steps=2",
            f"train.checkpoint_steps=[{args.steps // 2}]", "train.validation_blocks=8",
            f"train.log_every={args.log_every}", "wandb=off", f"paths.runs={root}/runs", f"paths.cache={root}/cache"])
        tok_dir = synthetic_tokenizer(root / "tokenizer", 16384)
        blocks = synthetic_blocks(32 * (args.steps + 1), 128, 16384)
        trainer = Pretrainer(cfg, RunDir(root / "run").create(), TrainData(blocks, tok_dir, blocks[:8]), seed=0)
        started = time.perf_counter()
        result = trainer.fit()
    print(f"device: {torch.cuda.get_device_name()}; torch {torch.__version__}; final loss {result.final_loss:.4f} "
          f"({time.perf_counter() - started:.1f} s)")
    print(f"no host sync in {len(checked)} optimizer steps (steps {checked[0]}..{checked[-1]} checked)")


if __name__ == "__main__":
    main()
