"""Pretraining throughput on the machine at hand: the babybias trainer vs `transformers.Trainer`, and CPU MFU.

    python benchmarks/pretrain_throughput.py [--layers 12] [--hidden 384] [--steps 10] [--rounds 2] [--compile]
        [--threads N] [--compare trainer,architectures]


Both sides train the same BertForMaskedLM (default: the `babylm` architecture, 12 x 384, 6 heads, vocabulary
16,384) from the same initial weights on the same packed 128-token blocks, batch 32, AdamW, warmup + linear
decay, grad clipping 1.0, MLM 15% (80/10/10), in one process on the same threads. Each side runs at its best
setting *on this machine*: bf16 autocast only where the CPU has native bf16 (`babybias.hardware`), else fp32
(`impl=auto` for babybias; `bf16=` accordingly for Trainer, with its default fused AdamW). The babybias trainer
adds only techniques that change no results: the LM head applied only at masked positions and (with --compile)
torch.compile of the encoder. Tokens/s are timed from the end of step `--warmup` to the end of the last step, so
start-up, compilation and the final save are excluded; the two sides alternate for `--rounds` rounds (ABBA)
so a drifting background load does not favour one.

CPU MFU = model FLOPs per token (6 N + 12 L H T, `babybias.train.precision.flops_per_token`: the model's FLOPs,
not our implementation's, so skipping the head at unmasked positions earns nothing) x tokens/s / the peak
matmul FLOP/s *measured here* in the same precision on the same threads (best of square matmuls up to 2048),
per wall second and, less sensitive to a shared machine's load, per CPU second of this process.

The blocks are random token ids (the speed of a dense model does not depend on which ids it sees), so the
benchmark needs no data. Each comparison is one function `compare_<name>(args, bench) -> list[Row]` registered in
COMPARISONS and chosen with `--compare` (several: comma-separated); the first row is divided by each other:
`trainer` (the default) and `architectures` (BERT vs LTG-BERT of the same size, both with the babybias trainer;
also `--architectures`).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
import torch  # noqa: E402

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


# ---------------------------------------------------------------- data (shared with gpu_pretrain.py)
def synthetic_tokenizer(folder: Path, vocab_size: int) -> Path:
    """A WordPiece tokenizer with exactly `vocab_size` entries (BERT specials + w5 ... wN)."""
    from tokenizers import Tokenizer, pre_tokenizers
    from tokenizers.models import WordPiece
    from transformers import PreTrainedTokenizerFast

    vocab = {tok: i for i, tok in enumerate(SPECIALS + [f"w{i}" for i in range(len(SPECIALS), vocab_size)])}
    backend = Tokenizer(WordPiece(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    fast = PreTrainedTokenizerFast(tokenizer_object=backend, model_max_length=512, unk_token="[UNK]",
                                   sep_token="[SEP]", pad_token="[PAD]", cls_token="[CLS]", mask_token="[MASK]")
    fast.save_pretrained(str(folder))
    return folder


def synthetic_blocks(n_blocks: int, seq_len: int, vocab_size: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    blocks = rng.integers(len(SPECIALS), vocab_size, size=(n_blocks, seq_len), dtype=np.int64)
    blocks[:, 0], blocks[:, -1] = SPECIALS.index("[CLS]"), SPECIALS.index("[SEP]")
    return blocks


# ---------------------------------------------------------------- the machine
def lscpu_model_name() -> str:
    """`lscpu`'s "Model name" (falls back on /proc/cpuinfo)."""
    from babybias.hardware import cpu_model_name

    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        for line in out.splitlines():
            if line.strip().startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return cpu_model_name()


@dataclass
class Peak:
    """This machine's matmul peak in one precision on the current threads, per wall second and per CPU second."""

    flops: float
    flops_per_cpu_s: float
    size: int


def matmul_peak(dtype: torch.dtype, sizes=(512, 1024, 2048), trials: int = 3, budget_s: float = 0.4) -> Peak:
    """The best of `trials` timings of square matmuls of each size in `dtype` (2 n^3 FLOPs each)."""
    best = Peak(0.0, 0.0, 0)
    for n in sizes:
        a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
        torch.mm(a, b)  # warm-up
        for _ in range(trials):
            reps, wall, cpu = 0, time.perf_counter(), time.process_time()
            while time.perf_counter() - wall < budget_s:
                torch.mm(a, b)
                reps += 1
            flops = 2 * n**3 * reps
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            if flops / wall > best.flops:
                best = Peak(flops / wall, flops / cpu, n)
    return best


@dataclass
class Bench:
    """What every comparison shares: the work folder, the data, and this machine's facts."""

    args: argparse.Namespace
    root: Path
    tok_dir: Path
    blocks: np.ndarray
    precision: str
    """fp32 | bf16: the best CPU setting here (bf16 only where native)."""
    peak: Peak

    @property
    def bf16(self) -> bool:
        return self.precision == "bf16"


# ---------------------------------------------------------------- timing
class StepClock:
    """Wall-clock and process CPU time from the end of step `warmup` to the end of the last step.

    On a shared machine wall time depends on the neighbours' load; the process's CPU time much less so, hence
    both are reported (tokens per CPU-second counts all threads of this process)."""

    def __init__(self, warmup: int, last: int):
        self.warmup, self.last = warmup, last
        self.start = self.end = (0.0, 0.0)

    def __call__(self, step: int) -> None:
        if step in (self.warmup, self.last):
            now = (time.perf_counter(), time.process_time())
            if step == self.warmup:
                self.start = now
            else:
                self.end = now

    def timing(self, tokens_per_step: int) -> "Timing":
        return Timing((self.last - self.warmup) * tokens_per_step, self.end[0] - self.start[0],
                      self.end[1] - self.start[1])


@dataclass
class Timing:
    tokens: int = 0
    wall_s: float = 0.0
    cpu_s: float = 0.0

    def __add__(self, other: "Timing") -> "Timing":
        return Timing(self.tokens + other.tokens, self.wall_s + other.wall_s, self.cpu_s + other.cpu_s)

    @property
    def per_s(self) -> float:
        return self.tokens / self.wall_s

    @property
    def per_cpu_s(self) -> float:
        return self.tokens / self.cpu_s


@dataclass
class Row:
    label: str
    timing: Timing
    flops_per_token: float

    def line(self, peak: Peak) -> str:
        achieved = self.flops_per_token * self.timing.per_s
        per_cpu_s = self.flops_per_token * self.timing.per_cpu_s
        return (f"{self.label:34s} {self.timing.per_s:8.0f} tokens/s  {self.timing.per_cpu_s:8.0f} tokens/CPU-s  "
                f"{achieved / 1e9:7.1f} GFLOP/s  CPU MFU {100 * achieved / peak.flops:5.1f}% (wall)  "
                f"{100 * per_cpu_s / peak.flops_per_cpu_s:5.1f}% (CPU time)")


# ---------------------------------------------------------------- the two trainers
def pretrain_config(bench: Bench, *extra: str):
    """The babybias pretrain config of this benchmark (impl=auto on the CPU), plus `extra` overrides."""
    from babybias.launch.compose import compose_command

    a = bench.args
    overrides = [
        "model=babylm", f"model.num_layers={a.layers}", f"model.hidden_size={a.hidden}",
        f"model.num_heads={a.heads}", f"model.intermediate_size={4 * a.hidden}",
        "impl=auto", "impl.device=cpu", f"impl.compile={str(a.compile).lower()}",
        f"train.steps={a.warmup + a.steps}", f"train.batch_size={a.batch}", f"train.seq_len={a.seq_len}",
        "train.warmup_steps=10", "train.lr=5e-4", "train.checkpoint_steps=[]", "train.validation_blocks=0",
        "train.log_every=1000000", "wandb=off", f"paths.runs={bench.root}/runs", f"paths.cache={bench.root}/cache",
        *([f"model.hidden_dropout={a.dropout}", f"model.attention_dropout={a.dropout}"] if a.dropout is not None else []),
        *extra,
    ]
    return compose_command("pretrain", overrides)


def model_flops_per_token(model, cfg) -> float:
    from babybias.model import training_flops_per_token

    return training_flops_per_token(model, cfg.model, cfg.train.seq_len)


def run_babybias(cfg, bench: Bench) -> tuple[Timing, float]:
    """(timing, model FLOPs per token) of the project's Pretrainer, the code path of `babybias pretrain`."""
    from babybias.runs import RunDir
    from babybias.train.loop import Pretrainer, TrainData

    path = bench.root / "run"
    shutil.rmtree(path, ignore_errors=True)
    trainer = Pretrainer(cfg, RunDir(path).create(), TrainData(bench.blocks, bench.tok_dir), seed=0)
    clock = StepClock(cfg.train.steps - bench.args.steps, cfg.train.steps)
    trainer.fit(on_step_end=clock)
    return clock.timing(cfg.train.batch_size * cfg.train.seq_len), model_flops_per_token(trainer.model, cfg)


def run_hf_trainer(cfg, bench: Bench) -> tuple[Timing, float]:
    """(timing, model FLOPs per token) of a plain `transformers.Trainer` at its best setting here."""
    from transformers import AutoTokenizer, DataCollatorForLanguageModeling, Trainer, TrainerCallback, TrainingArguments

    from babybias.model import build_model
    from babybias.runs import child_seed

    tokenizer = AutoTokenizer.from_pretrained(str(bench.tok_dir))
    model = build_model(cfg.model, len(tokenizer), seed=child_seed(0, "model_init"))  # the same initial weights
    dataset = [{"input_ids": torch.from_numpy(row)} for row in bench.blocks]
    clock = StepClock(cfg.train.steps - bench.args.steps, cfg.train.steps)

    class Clock(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):  # noqa: ARG002
            clock(state.global_step)

    t = cfg.train
    args = TrainingArguments(
        output_dir=str(bench.root / "hf"), per_device_train_batch_size=t.batch_size, max_steps=t.steps,
        learning_rate=t.lr, warmup_steps=t.warmup_steps, lr_scheduler_type="linear", weight_decay=t.weight_decay,
        adam_beta1=t.adam_beta1, adam_beta2=t.adam_beta2, adam_epsilon=t.adam_eps, max_grad_norm=t.grad_clip,
        bf16=bench.bf16, use_cpu=True, torch_compile=bench.args.compile, save_strategy="no",
        logging_strategy="no", report_to=[], disable_tqdm=True, dataloader_num_workers=0, seed=0,
    )
    collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=t.mlm_probability)
    Trainer(model=model, args=args, train_dataset=dataset, data_collator=collator, callbacks=[Clock()]).train()
    return clock.timing(t.batch_size * t.seq_len), model_flops_per_token(model, cfg)


def alternate(runners: dict[str, Callable[[], tuple[Timing, float]]], rounds: int) -> list[Row]:
    """Run each runner once per round, order reversed every other round (ABBA); sum their timings."""
    totals = {label: Timing() for label in runners}
    flops: dict[str, float] = {}
    for round_ in range(rounds):
        order = list(runners) if round_ % 2 == 0 else list(reversed(runners))
        for label in order:
            timing, flops[label] = runners[label]()
            totals[label] = totals[label] + timing
    return [Row(label, totals[label], flops[label]) for label in runners]


# ---------------------------------------------------------------- comparisons
def compare_trainer(args, bench: Bench) -> list[Row]:
    """babybias Pretrainer vs transformers.Trainer, same model, data, threads and precision (goal: >= 1.5x)."""
    cfg = pretrain_config(bench)
    ours = "babybias trainer" + (" (compile)" if args.compile else "")
    theirs = "transformers.Trainer" + (" (compile)" if args.compile else "")
    return alternate({ours: lambda: run_babybias(cfg, bench), theirs: lambda: run_hf_trainer(cfg, bench)},
                     args.rounds)


def compare_architectures(args, bench: Bench) -> list[Row]:
    """BERT vs LTG-BERT of the same size, both trained by the babybias trainer (same data, threads, precision).

    Same layers, hidden size and heads; feed-forward parameters matched (LTG-BERT's GEGLU intermediate 8H/3, as its
    base 2048 vs BERT's 3072)."""
    import dataclasses

    cfg = pretrain_config(bench)
    ltg = dataclasses.replace(cfg.model, name="ltg_bert", architecture="ltg_bert", layer_norm_eps=1e-7,
                              intermediate_size=round(8 * args.hidden / 3))
    ltg_cfg = dataclasses.replace(cfg, model=ltg)
    return alternate({f"BERT (intermediate {cfg.model.intermediate_size})": lambda: run_babybias(cfg, bench),
                      f"LTG-BERT (intermediate {ltg.intermediate_size})": lambda: run_babybias(ltg_cfg, bench)},
                     args.rounds)


COMPARISONS: dict[str, Callable[[argparse.Namespace, Bench], list[Row]]] = {
    "trainer": compare_trainer, "architectures": compare_architectures}


def main() -> None:
    from babybias import hardware

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--hidden", type=int, default=384)
    parser.add_argument("--heads", type=int, default=6)
    parser.add_argument("--vocab", type=int, default=16384)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--steps", type=int, default=10, help="timed optimizer steps per run")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first (compilation, allocator)")
    parser.add_argument("--compile", action="store_true", help="torch.compile both sides (~60 s start each)")
    parser.add_argument("--rounds", type=int, default=2, help="alternate the sides this many times (ABBA)")
    parser.add_argument("--threads", type=int, default=None, help="default: this process's share of the CPUs")
    parser.add_argument("--dropout", type=float, default=None,
                        help="hidden and attention dropout of both sides (default: the babylm config's 0.1; with 0 "
                             "attention takes SDPA's fused CPU kernel and no dropout masks are drawn)")
    parser.add_argument("--compare", default="trainer", help=f"comma-separated, of: {', '.join(COMPARISONS)}")
    parser.add_argument("--architectures", action="store_true", help="= --compare architectures")
    args = parser.parse_args()
    if args.architectures:
        args.compare = "architectures"
    unknown = set(args.compare.split(",")) - set(COMPARISONS)
    if unknown:
        parser.error(f"unknown comparison(s) {sorted(unknown)}; known: {sorted(COMPARISONS)}")

    threads = hardware.configure_threads(args.threads)
    precision = "bf16" if hardware.cpu_has_native_bf16() else "fp32"
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    peak = matmul_peak(dtype)
    print(f"CPU: {lscpu_model_name()}; {hardware.cpu_summary()}; torch {torch.__version__}")
    print(f"threads {threads.threads} ({threads.reason}); precision {precision} (bf16 only where native); "
          f"measured matmul peak {peak.flops / 1e9:.1f} GFLOP/s, {peak.flops_per_cpu_s / 1e9:.1f} GFLOP/CPU-s "
          f"({precision}, {peak.size}x{peak.size})")
    dropout = "config's" if args.dropout is None else args.dropout
    print(f"model: babylm {args.layers}x{args.hidden} ({args.heads} heads, vocab {args.vocab}, dropout {dropout}); "
          f"batch {args.batch} "
          f"x {args.seq_len}; {args.steps} timed steps after {args.warmup} per run, {args.rounds} round(s)", flush=True)
    with tempfile.TemporaryDirectory(prefix="babybias-bench-") as tmp:
        root = Path(tmp)
        blocks = synthetic_blocks(args.batch * (args.warmup + args.steps) + args.batch, args.seq_len, args.vocab)
        bench = Bench(args, root, synthetic_tokenizer(root / "tokenizer", args.vocab), blocks, precision, peak)
        for name in args.compare.split(","):
            rows = COMPARISONS[name](args, bench)
            print(f"{name}:")
            for row in rows:
                print("  " + row.line(peak))
            for other in rows[1:]:
                print(f"  ratio {rows[0].label} / {other.label}: {rows[0].timing.per_s / other.timing.per_s:.2f}x "
                      f"(wall)  {rows[0].timing.per_cpu_s / other.timing.per_cpu_s:.2f}x (CPU time)", flush=True)


if __name__ == "__main__":
    main()
