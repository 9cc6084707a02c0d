"""The GPU benchmark script stays runnable: its CPU smoke mode trains a tiny model through the real trainer."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_pretrain.py"


def test_gpu_pretrain_smoke_on_cpu(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", [str(SCRIPT), "--device", "cpu", "--smoke", "--no-compile", "--models", "tiny",
                                      "--steps", "2", "--warmup", "1", "--batch", "4", "--seq-len", "16"])
    runpy.run_path(str(SCRIPT), run_name="__main__")
    out = capsys.readouterr().out
    line = next(row for row in out.splitlines() if row.startswith("tiny"))
    tokens_per_s = float(line.split("tok/s")[0].split()[-1])
    assert tokens_per_s > 0 and "MFU   n/a" in line  # no MFU without a GPU peak


def test_gpu_pretrain_refuses_without_cuda(monkeypatch, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is visible")
    monkeypatch.setattr(sys, "argv", [str(SCRIPT)])
    with pytest.raises(SystemExit) as exc:
        runpy.run_path(str(SCRIPT), run_name="__main__")
    assert exc.value.code == 2
    assert "no CUDA GPU" in capsys.readouterr().out


def test_mfu_flops_formula_matches_counted_flops():
    """6N + 12 L H T per token equals the matmul FLOPs torch counts for a forward + backward of the encoder."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode
    from transformers import BertConfig, BertModel

    from babybias.train.precision import flops_per_token

    L, H, T = 3, 64, 32
    config = BertConfig(vocab_size=500, hidden_size=H, num_hidden_layers=L, num_attention_heads=4,
                        intermediate_size=4 * H, attn_implementation="eager", hidden_dropout_prob=0.0,
                        attention_probs_dropout_prob=0.0)
    model = BertModel(config, add_pooling_layer=False)
    n_layers = sum(p.numel() for p in model.encoder.parameters())
    ids = torch.randint(5, 500, (1, T))
    with FlopCounterMode(display=False) as counter:
        model(input_ids=ids).last_hidden_state.sum().backward()
    counted = counter.get_total_flops()
    expected = flops_per_token(n_layers, L, H, T) * T
    # the formula counts every parameter as a multiply-add; biases and LayerNorms are not matmuls (~1% here)
    # and the embeddings' backward adds no matmul FLOPs
    assert abs(counted - expected) / counted < 0.03, (counted, expected)
