"""Pretraining throughput: the babybias trainer vs a plain `transformers.Trainer`, same everything.

Both train the same BertForMaskedLM (the `babylm` architecture at reduced depth, vocabulary 16,384) from the
same initial weights on the same packed 128-token blocks, batch 32, AdamW, warmup + linear decay, grad
clipping 1.0, MLM 15% (80/10/10), bf16 autocast on CPU, in one process. `Trainer` runs at its own best
settings here (`bf16=True`, `use_cpu=True`, fused AdamW by default, no logging/saving during timing).
The babybias trainer adds only techniques that change no results: the LM head applied only at masked
positions and (with --compile) torch.compile of the encoder. Tokens/s are timed between the end of step
`--warmup` and the end of the last step, so start-up, compilation and the final save are excluded for both.

The blocks are random token ids (the speed of a dense model does not depend on which ids it sees), so the
benchmark needs no data download: `python benchmarks/pretrain_throughput.py [--layers 4] [--compile]`.

`--architectures` instead compares LTG-BERT with BERT of the same size, both trained by the babybias trainer:
`python benchmarks/pretrain_throughput.py --architectures [--rounds 2]` (see `run_architectures`).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
import torch  # noqa: E402

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


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


def pretrain_config(args, root: Path):
    from babybias.launch.compose import compose_command

    overrides = [
        "model=babylm", f"model.num_layers={args.layers}", f"model.hidden_size={args.hidden}",
        f"model.num_heads={args.heads}", f"model.intermediate_size={4 * args.hidden}",
        "impl=cpu_bf16", f"impl.compile={str(args.compile).lower()}",
        f"train.steps={args.warmup + args.steps}", f"train.batch_size={args.batch}", f"train.seq_len={args.seq_len}",
        "train.warmup_steps=10", "train.lr=5e-4", "train.checkpoint_steps=[]", "train.validation_blocks=0",
        "train.log_every=1000000", "wandb=off", f"paths.runs={root}/runs", f"paths.cache={root}/cache",
    ]
    return compose_command("pretrain", overrides)


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
        return Timing((self.last - self.warmup) * tokens_per_step, self.end[0] - self.start[0], self.end[1] - self.start[1])


@dataclass
class Timing:
    tokens: int
    wall_s: float
    cpu_s: float

    def __add__(self, other: "Timing") -> "Timing":
        return Timing(self.tokens + other.tokens, self.wall_s + other.wall_s, self.cpu_s + other.cpu_s)

    @property
    def per_s(self) -> float:
        return self.tokens / self.wall_s

    @property
    def per_cpu_s(self) -> float:
        return self.tokens / self.cpu_s


def run_babybias(cfg, blocks, tok_dir: Path, root: Path) -> Timing:
    from babybias.runs import RunDir
    from babybias.train.loop import Pretrainer, TrainData

    run_dir = RunDir(root / "run").create()
    shutil.rmtree(run_dir.path, ignore_errors=True)
    trainer = Pretrainer(cfg, run_dir.create(), TrainData(blocks, tok_dir), seed=0)
    clock = StepClock(cfg.train.steps - BENCH_STEPS, cfg.train.steps)
    trainer.fit(on_step_end=clock)
    return clock.timing(cfg.train.batch_size * cfg.train.seq_len)


def run_hf_trainer(cfg, blocks, tok_dir: Path, root: Path) -> Timing:
    from transformers import (AutoTokenizer, DataCollatorForLanguageModeling, Trainer, TrainerCallback,
                              TrainingArguments)

    from babybias.model import build_model
    from babybias.runs import child_seed

    tokenizer = AutoTokenizer.from_pretrained(str(tok_dir))
    model = build_model(cfg.model, len(tokenizer), seed=child_seed(0, "model_init"))  # the same initial weights
    dataset = [{"input_ids": torch.from_numpy(row)} for row in blocks]
    clock = StepClock(cfg.train.steps - BENCH_STEPS, cfg.train.steps)

    class Clock(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):  # noqa: ARG002
            clock(state.global_step)

    t = cfg.train
    args = TrainingArguments(
        output_dir=str(root / "hf"), per_device_train_batch_size=t.batch_size, max_steps=t.steps,
        learning_rate=t.lr, warmup_steps=t.warmup_steps, lr_scheduler_type="linear", weight_decay=t.weight_decay,
        adam_beta1=t.adam_beta1, adam_beta2=t.adam_beta2, adam_epsilon=t.adam_eps, max_grad_norm=t.grad_clip,
        bf16=True, use_cpu=True, save_strategy="no", logging_strategy="no", report_to=[], disable_tqdm=True,
        dataloader_num_workers=0, seed=0,
    )
    collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=t.mlm_probability)
    Trainer(model=model, args=args, train_dataset=dataset, data_collator=collator, callbacks=[Clock()]).train()
    return clock.timing(t.batch_size * t.seq_len)


BENCH_STEPS = 20


def run_architectures(args, blocks, tok_dir: Path, root: Path) -> None:
    """Tokens/s of LTG-BERT vs BERT of the same size (layers, hidden, heads; feed-forward parameters matched: LTG-BERT's
    GEGLU intermediate 8H/3, as its base 2048 vs BERT's 3072), both with the babybias trainer on the same blocks, in
    ABBA order over `--rounds`. bf16 autocast only where the CPU has native bf16 (else fp32 for both: emulated bf16
    runs 30-60x slower and would measure the emulation)."""
    import dataclasses

    cfg = pretrain_config(args, root)
    if not torch.ops.mkldnn._is_mkldnn_bf16_supported():
        cfg = dataclasses.replace(cfg, impl=dataclasses.replace(cfg.impl, precision="fp32"))
    ltg = dataclasses.replace(cfg.model, name="ltg_bert", architecture="ltg_bert", layer_norm_eps=1e-7,
                              intermediate_size=round(8 * args.hidden / 3))
    configs = {"bert": cfg, "ltg_bert": dataclasses.replace(cfg, model=ltg)}
    timings = {name: Timing(0, 0.0, 0.0) for name in configs}
    for round_ in range(args.rounds):
        for name in configs if round_ % 2 == 0 else list(configs)[::-1]:
            timings[name] = timings[name] + run_babybias(configs[name], blocks, tok_dir, root)
    print(f"LTG-BERT vs BERT, {args.layers}x{args.hidden} ({args.heads} heads, vocab {args.vocab}); batch {args.batch} "
          f"x {args.seq_len}; {cfg.impl.precision} on CPU; torch threads {torch.get_num_threads()}; {args.steps} "
          f"timed steps after {args.warmup} per run, {args.rounds} round(s); babybias trainer for both")
    for name, config in configs.items():
        t = timings[name]
        print(f"{name:10s} (intermediate {config.model.intermediate_size:5d}) {t.per_s:8.0f} tokens/s   "
              f"{t.per_cpu_s:8.0f} tokens/CPU-s")
    print(f"ratio LTG-BERT / BERT: {timings['ltg_bert'].per_s / timings['bert'].per_s:.2f}x (wall)   "
          f"{timings['ltg_bert'].per_cpu_s / timings['bert'].per_cpu_s:.2f}x (CPU time)")


def main() -> None:
    global BENCH_STEPS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--hidden", type=int, default=384)
    parser.add_argument("--heads", type=int, default=6)
    parser.add_argument("--vocab", type=int, default=16384)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--steps", type=int, default=20, help="timed optimizer steps")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first (compilation, allocator)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the babybias encoder (~60 s start)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="alternate the two trainers this many times (ABBA order cancels a drifting load)")
    parser.add_argument("--architectures", action="store_true",
                        help="compare LTG-BERT with BERT of the same size (babybias trainer for both) instead")
    args = parser.parse_args()
    BENCH_STEPS = args.steps
    ours, hf = Timing(0, 0.0, 0.0), Timing(0, 0.0, 0.0)
    with tempfile.TemporaryDirectory(prefix="babybias-bench-") as tmp:
        root = Path(tmp)
        tok_dir = synthetic_tokenizer(root / "tokenizer", args.vocab)
        blocks = synthetic_blocks(args.batch * (args.warmup + args.steps) + args.batch, args.seq_len, args.vocab)
        if args.architectures:
            return run_architectures(args, blocks, tok_dir, root)
        cfg = pretrain_config(args, root)
        for round_ in range(args.rounds):
            order = ("ours", "hf") if round_ % 2 == 0 else ("hf", "ours")
            for which in order:
                if which == "ours":
                    ours = ours + run_babybias(cfg, blocks, tok_dir, root)
                else:
                    hf = hf + run_hf_trainer(cfg, blocks, tok_dir, root)
    print(f"model: babylm {args.layers}x{args.hidden} ({args.heads} heads, vocab {args.vocab}); batch "
          f"{args.batch} x {args.seq_len}; bf16 autocast on CPU; torch threads {torch.get_num_threads()}; "
          f"{args.steps} timed steps after {args.warmup} per run, {args.rounds} round(s)")
    label = "babybias trainer" + (" (compile)" if args.compile else "")
    print(f"{label:28s} {ours.per_s:8.0f} tokens/s   {ours.per_cpu_s:8.0f} tokens/CPU-s")
    print(f"{'transformers.Trainer':28s} {hf.per_s:8.0f} tokens/s   {hf.per_cpu_s:8.0f} tokens/CPU-s")
    print(f"ratio: {ours.per_s / hf.per_s:.2f}x (wall)   {ours.per_cpu_s / hf.per_cpu_s:.2f}x (CPU time)")


if __name__ == "__main__":
    main()
