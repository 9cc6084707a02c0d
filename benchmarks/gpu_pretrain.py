"""GPU pretraining speed: tokens/s and MFU of the babybias trainer, babylm and bert_base, bf16, +/- torch.compile.

    python benchmarks/gpu_pretrain.py [--models babylm,bert_base] [--batch 64] [--seq-len 128]
        [--steps 30] [--warmup 10] [--no-compile] [--peak-tflops 989]

Each configuration runs the project's own `Pretrainer` (the code path of `babybias pretrain`, with
`impl=auto`: bf16 autocast on a GPU with bf16, TF32 for the rest; +/- compile) on random packed blocks (the
speed of a dense model does not depend on which ids it sees, so no data is needed), timed from the end of step
`--warmup` to the end of the last step with CUDA synchronized at both ends, so start-up and compilation are
excluded.

MFU = model FLOPs per token x tokens/s / the GPU's dense bf16 peak, with model FLOPs per token
6 N + 12 L H T (N = parameters without embeddings; Kaplan et al. 2020, PaLM appendix B) — the FLOPs of the
model, not of our implementation: applying the LM head only at masked positions does less work and is not
credited. The peak comes from `babybias.train.precision` by GPU name (H100/H200 SXM: 989 TFLOP/s), or
`--peak-tflops`. Target from the issue: >= 50% MFU for bert_base.

Without a GPU the script says so and exits 2; `--device cpu --smoke` runs a tiny CPU configuration to check
the script itself.
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

VOCAB = {"babylm": 16384, "bert_base": 30522, "tiny": 1024}


def compose(model: str, compile_: bool, args, root: Path):
    from babybias.launch.compose import compose_command

    # impl=auto on the chosen device: bf16 where the GPU (or CPU, in --smoke) has it natively, as `babybias pretrain`
    overrides = [
        f"model={model}", "impl=auto", f"impl.device={args.device}", f"impl.compile={str(compile_).lower()}",
        f"train.steps={args.warmup + args.steps}", f"train.batch_size={args.batch}", f"train.seq_len={args.seq_len}",
        "train.warmup_steps=5", "train.checkpoint_steps=[]", "train.validation_blocks=0",
        "train.log_every=1000000", "wandb=off", f"paths.runs={root}/runs", f"paths.cache={root}/cache",
    ]
    if args.smoke:
        overrides += ["model.num_layers=2", "model.hidden_size=64", "model.num_heads=2", "model.intermediate_size=128"]
    return compose_command("pretrain", overrides)


class CudaClock:
    """Wall time between the ends of steps `first` and `last`, with the device synchronized at both."""

    def __init__(self, first: int, last: int, device: torch.device):
        self.first, self.last, self.device = first, last, device
        self.start = self.end = 0.0

    def __call__(self, step: int) -> None:
        if step in (self.first, self.last):
            if self.device.type == "cuda":
                torch.cuda.synchronize(self.device)
            if step == self.first:
                self.start = time.perf_counter()
            else:
                self.end = time.perf_counter()


def run_one(cfg, vocab: int, root: Path, args) -> dict:
    from babybias.runs import RunDir
    from babybias.train import precision
    from babybias.train.loop import Pretrainer, TrainData

    tok_dir = synthetic_tokenizer(root / f"tokenizer-{vocab}", vocab)
    blocks = synthetic_blocks(args.batch * (args.warmup + args.steps + 1), args.seq_len, vocab)
    run_dir = RunDir(root / f"run-{time.time_ns()}").create()
    if args.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    trainer = Pretrainer(cfg, run_dir, TrainData(blocks, tok_dir), seed=0)
    clock = CudaClock(args.warmup, args.warmup + args.steps, trainer.device)
    result = trainer.fit(on_step_end=clock)
    seconds = clock.end - clock.start
    tokens = args.steps * args.batch * args.seq_len
    flops_token = trainer._flops_per_token
    peak = args.peak_tflops * 1e12 if args.peak_tflops else precision.peak_flops(trainer.device)
    out = {"tokens_per_s": tokens / seconds, "step_ms": 1000 * seconds / args.steps,
           "model_tflops_per_s": flops_token * tokens / seconds / 1e12,
           "mfu": flops_token * tokens / seconds / peak if peak else None, "final_loss": result.final_loss,
           "params_m": sum(p.numel() for p in trainer.model.parameters()) / 1e6}
    if args.device == "cuda":
        out["peak_mem_gib"] = torch.cuda.max_memory_allocated() / 2**30
    del trainer
    if args.device == "cuda":
        torch.cuda.empty_cache()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="babylm,bert_base")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--steps", type=int, default=30, help="timed optimizer steps")
    parser.add_argument("--warmup", type=int, default=10, help="untimed steps first (compilation, autotuning)")
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile runs")
    parser.add_argument("--peak-tflops", type=float, default=None, help="dense bf16 peak when the GPU is not known")
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--smoke", action="store_true", help="tiny model (checks the script, not the GPU)")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        print("no CUDA GPU visible: this benchmark needs one (use --device cpu --smoke to check the script)")
        raise SystemExit(2)
    from babybias.train import precision

    precision.set_tf32(args.device == "cuda")  # as `babybias pretrain` trains: TF32 for the fp32 matmuls left
    name = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
    print(f"device: {name}; torch {torch.__version__}; batch {args.batch} x {args.seq_len}, impl=auto; "
          f"{args.steps} timed steps after {args.warmup}")
    compiles = [False] if args.no_compile else [False, True]
    with tempfile.TemporaryDirectory(prefix="babybias-gpu-bench-") as tmp:
        for model in args.models.split(","):
            for compile_ in compiles:
                cfg = compose(model, compile_, args, Path(tmp))
                vocab = 1024 if args.smoke else VOCAB.get(model, 16384)
                row = run_one(cfg, vocab, Path(tmp), args)
                row.update(model=model, compile=compile_)
                mfu = f"{100 * row['mfu']:5.1f}%" if row["mfu"] is not None else "  n/a"
                mem = f"  peak mem {row['peak_mem_gib']:.1f} GiB" if "peak_mem_gib" in row else ""
                print(f"{model:10s} compile={str(compile_):5s} {row['params_m']:7.1f} M params "
                      f"{row['tokens_per_s']:10.0f} tok/s  {row['step_ms']:8.1f} ms/step  "
                      f"{row['model_tflops_per_s']:7.1f} TFLOP/s  MFU {mfu}{mem}", flush=True)


if __name__ == "__main__":
    main()
