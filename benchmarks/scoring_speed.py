"""CrowS-Pairs scoring speed: the batched engine vs one forward pass per masked token, in one run.

    python benchmarks/scoring_speed.py [--pairs 300] [--loop-pairs 60] [--checkpoint DIR] [--device cpu]
        [--precision fp32] [--batch-size 128] [--full-eval]

Without --checkpoint the model is the `babylm` architecture (conf/model/babylm.yaml: 12 x 384, 6 heads,
vocab 16,384) with random weights, and the tokenizer a 16,384-piece WordPiece trained here on the Brown
corpus (speed depends on the architecture and on token counts, not on the weights). Both methods score
every token of both sentences of the same first pairs of the file; the slow loop runs on the first
`--loop-pairs` of them and its pairs/s is extrapolated (it is linear in pairs). The two are timed in
`--rounds` interleaved rounds (ABAB, one process) so that both see the same background load, and the spread
of the per-round speed-ups is printed (a wide spread means the machine's load moved). The two are checked to
agree to 1e-4 on the shared pairs. `--full-eval` also times CrowS-Pairs (all pairs) + StereoSet +
BLiMP-fast (200 pairs per phenomenon) through the engine.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]


def data_root(arg: str | None) -> Path:
    for candidate in (arg, os.environ.get("BABYBIAS_DATA_ROOT"), os.environ.get("BABYBIAS_DATA_MIRROR"),
                      REPO / "data", REPO.parent / "shared" / "data"):
        if candidate and (Path(candidate) / "crows_pairs").is_dir():
            return Path(candidate)
    raise SystemExit("no data root with crows_pairs/: pass --data-root")


def babylm_random(root: Path, vocab_size: int = 16384):
    """Random-init BertForMaskedLM with the babylm config and a WordPiece tokenizer trained on Brown."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertForMaskedLM, PreTrainedTokenizerFast

    from babybias.configs.model import ModelConfig

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=False)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    lines = (root / "nltk_brown" / "brown_plain.txt").read_text(encoding="utf-8").splitlines()
    tok.train_from_iterator(lines, trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=specials,
                                                             min_frequency=2, show_progress=False))
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                        sep_token="[SEP]", mask_token="[MASK]", model_max_length=512)
    arch = ModelConfig()  # the babylm defaults, as conf/model/babylm.yaml
    config = BertConfig(vocab_size=vocab_size, hidden_size=arch.hidden_size, num_hidden_layers=arch.num_layers,
                        num_attention_heads=arch.num_heads, intermediate_size=arch.intermediate_size,
                        max_position_embeddings=arch.max_position_embeddings)
    torch.manual_seed(0)
    return BertForMaskedLM(config).eval(), tokenizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=300, help="pairs for the batched engine (0 = all 1,508)")
    parser.add_argument("--loop-pairs", type=int, default=60, help="pairs for the one-forward-per-mask loop")
    parser.add_argument("--checkpoint", help="a checkpoint directory instead of the random babylm model")
    parser.add_argument("--data-root")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved engine/loop rounds (fairness under load)")
    parser.add_argument("--full-eval", action="store_true")
    parser.add_argument("--blimp-limit", type=int, default=200,
                        help="BLiMP pairs per phenomenon timed in --full-eval; below 200 the time is extrapolated")
    args = parser.parse_args()
    from babybias import hardware

    threads = hardware.configure_threads(args.threads)

    from babybias.metrics import crows_pairs
    from babybias.scoring import HFMaskedLM, ScoringEngine, load_masked_lm
    from babybias.scoring.reference import one_forward_per_mask

    root = data_root(args.data_root)
    if args.checkpoint:
        model, tokenizer = load_masked_lm(args.checkpoint, args.device, args.precision)
        hf = model.model
    else:
        hf, tokenizer = babylm_random(root)
        model = HFMaskedLM(hf, args.device, args.precision)
    engine = ScoringEngine(model, tokenizer, batch_size=args.batch_size, progress=False)
    n_params = sum(p.numel() for p in hf.parameters())
    print(f"model: {n_params / 1e6:.1f} M parameters, vocab {hf.config.vocab_size}, "
          f"{hf.config.num_hidden_layers} x {hf.config.hidden_size}; device {model.device}, {args.precision}, "
          f"threads {threads.threads} ({threads.reason}), batch {args.batch_size}; CPU {hardware.cpu_model_name()}")

    pairs = crows_pairs.load_crows_pairs(root / "crows_pairs" / "crows_pairs_anonymized.csv")
    pairs = pairs[: args.pairs] if args.pairs else pairs
    requests = crows_pairs.requests_for(pairs)
    n_tokens = sum(len(engine.encode(r).positions) for r in requests)
    engine.score(requests[:4])  # warm-up (allocator, kernels)

    # Interleaved rounds (ABAB, in this one process): each round times the engine on its share of the pairs, then
    # the loop on its share, so both see the same background load (a shared CPU's load swings would otherwise
    # decide the ratio); the per-round speed-ups show how much the load moved.
    n_loop = min(args.loop_pairs, len(pairs))
    rounds = max(1, min(args.rounds, n_loop))
    t_batched = t_loop = 0.0
    batched, loop, per_round = [], [], []
    for r in range(rounds):
        b0, b1 = len(pairs) * r // rounds, len(pairs) * (r + 1) // rounds
        l0, l1 = n_loop * r // rounds, n_loop * (r + 1) // rounds
        start = time.perf_counter()
        batched += engine.score(requests[2 * b0: 2 * b1])
        t_b = time.perf_counter() - start
        start = time.perf_counter()
        loop += [one_forward_per_mask(hf, tokenizer, q, model.device) for q in requests[2 * l0: 2 * l1]]
        t_l = time.perf_counter() - start
        t_batched, t_loop = t_batched + t_b, t_loop + t_l
        per_round.append(((b1 - b0) / t_b) / ((l1 - l0) / t_l))
    loop_requests = requests[: 2 * n_loop]
    diff = max(float(np.max(np.abs(np.subtract(a.logprobs, b.logprobs)))) for a, b in zip(batched, loop))

    batched_rate, loop_rate = len(pairs) / t_batched, (len(loop_requests) // 2) / t_loop
    print(f"pairs: batched {len(pairs)} ({n_tokens} masked variants), loop {len(loop_requests) // 2}")
    print(f"batched engine       : {batched_rate:8.2f} pairs/s  ({t_batched:.1f} s, {n_tokens / t_batched:.0f} variants/s)")
    print(f"one forward per mask : {loop_rate:8.2f} pairs/s  ({t_loop:.1f} s; extrapolated to {len(pairs)} pairs: "
          f"{len(pairs) / loop_rate:.1f} s)")
    print(f"speed-up             : {batched_rate / loop_rate:8.2f} x   (max |delta logprob| = {diff:.2e}; goal >= 4x)")
    spread = np.quantile(per_round, [0.0, 0.5, 1.0])
    print(f"per-round speed-up   : min {spread[0]:.2f} x, median {spread[1]:.2f} x, max {spread[2]:.2f} x "
          f"over {rounds} interleaved rounds")
    if args.full_eval:
        full_eval(engine, root, args.blimp_limit)


def full_eval(engine, root: Path, blimp_limit: int = 200) -> None:
    """Wall time of CrowS-Pairs (all) + StereoSet intrasentence + BLiMP-fast through the engine.

    With `blimp_limit` < 200 BLiMP's time is scaled by 200 / blimp_limit (time is linear in pairs)."""
    from babybias.metrics import blimp, crows_pairs, stereoset

    total = 0.0
    for name, load, requests_for, compute in (
        ("crows_pairs", lambda: crows_pairs.load_crows_pairs(root / "crows_pairs" / "crows_pairs_anonymized.csv"),
         crows_pairs.requests_for, crows_pairs.compute),
        ("stereoset", lambda: stereoset.load_stereoset(root / "stereoset" / "stereoset_dev_flat.jsonl"),
         stereoset.requests_for, stereoset.compute),
        ("blimp-fast", lambda: blimp.load_blimp(root / "blimp", limit=blimp_limit), blimp.requests_for, blimp.compute),
    ):
        start = time.perf_counter()
        examples = load()
        result = compute(examples, engine.score(requests_for(examples), desc=name))
        seconds = time.perf_counter() - start
        scale = 200 / blimp_limit if name == "blimp-fast" else 1.0
        total += seconds * scale
        headline = {k: round(v, 2) for k, v in list(result.summary.items())[:3] if isinstance(v, float)}
        note = f" (measured {seconds:.1f} s on {blimp_limit}/phenomenon, x{scale:g})" if scale != 1 else ""
        print(f"{name:12s} {len(examples):6d} examples {seconds * scale:8.1f} s{note}  {headline}")
    print(f"full CrowS-Pairs + StereoSet + BLiMP-fast: {total:.1f} s")


if __name__ == "__main__":
    main()
