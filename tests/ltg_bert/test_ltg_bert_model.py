"""LTG-BERT (babybias.ltg_bert): buckets, forward pass, parameter counts, tied weights, save/reload, FLOPs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch
from ltg_helpers import loop_forward, paper_bucket, tiny_ltg_config, tiny_ltg_model

from babybias.ltg_bert.modeling_ltg_bert import LtgBertForMaskedLM, relative_position_bucket, relative_position_index

# (i - j) -> bucket for LTG-BERT's own sizes (32 buckets per direction, 512 positions), worked out by hand:
# exact up to 16; beyond, 16 + ceil(log(d / 16) / log(511 / 16) * 15), e.g. d = 32: ceil(3.0017) = 4 -> 20.
HAND_COMPUTED = {0: 0, 1: 1, -1: -1, 5: 5, 15: 15, 16: 16, -16: -16, 17: 17, 20: 17, 24: 18, 32: 20, 64: 23,
                 -100: -24, 128: 26, 256: 29, 511: 31, 512: 31, 5000: 31, -5000: -31}


def test_relative_position_bucket_matches_hand_computed_values():
    relative = torch.tensor(list(HAND_COMPUTED))
    assert relative_position_bucket(relative, 32, 512).tolist() == list(HAND_COMPUTED.values())
    index = relative_position_index(512, 32, 512)
    assert index.shape == (512, 512) and int(index.min()) == 0 and int(index.max()) == 62  # 2 x 32 - 1 rows
    assert int(index[0, 0]) == 31 and int(index[0, 511]) == 0 and int(index[511, 0]) == 62
    assert all(int(relative_position_bucket(torch.tensor(r), 32, 512)) == paper_bucket(r, 32, 512)
               for r in range(-600, 601))


def test_forward_equals_a_loop_recomputation():
    model = tiny_ltg_model(seed=1)
    # 12 tokens with 10 positions: exact, logarithmic and clamped buckets all occur; the second row is padded
    ids = torch.randint(5, 100, (2, 12), generator=torch.Generator().manual_seed(0))
    mask = torch.ones(2, 12, dtype=torch.long)
    mask[1, 9:] = 0
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=mask).logits
    expected = loop_forward(model, ids, mask)
    assert logits.shape == (2, 12, 100)
    torch.testing.assert_close(logits.double(), expected, atol=1e-5, rtol=0)
    # padding changes nothing for the real tokens: the padded row equals the same ids cut to 9 tokens
    with torch.no_grad():
        short = model(input_ids=ids[1:, :9]).logits
    torch.testing.assert_close(logits[1:, :9], short, atol=1e-5, rtol=0)


def _count(config) -> int:
    with torch.device("meta"):
        return sum(p.numel() for p in LtgBertForMaskedLM(config).parameters())


def _formula(V, H, L, I, P) -> int:  # noqa: E741 (the paper's symbols: vocab, hidden, layers, intermediate, positions)
    relative = (2 * P - 1) * H + 2 * H  # table + its LayerNorm
    layer = (H * 2 * H + 2 * H) + 2 * (H * H + H) + 2 * H + H * 2 * I + I * H  # qk, v, out, post-LN, GEGLU FFN
    head = H * H + H + V  # dense + decoder bias (the decoder weight is the embedding matrix)
    return V * H + relative + L * layer + head


@pytest.mark.parametrize("size,hidden,heads,inter,vocab,paper", [
    ("base", 768, 12, 2048, 16384, 98e6),   # Samuel et al. 2023: LTG-BERT base, 98M parameters
    ("small", 384, 6, 1024, 6144, 24e6),    # BabyLM strict-small LTG-BERT small (6,144 WordPiece): 24M
])
def test_parameter_counts_of_base_and_small_match_the_paper(size, hidden, heads, inter, vocab, paper):
    config = tiny_ltg_config(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=12, num_attention_heads=heads,
                             intermediate_size=inter, max_position_embeddings=512, position_bucket_size=32)
    n = _count(config)
    assert n == _formula(vocab, hidden, 12, inter, 32)
    assert abs(n - paper) / paper < 0.01, f"LTG-BERT {size}: {n / 1e6:.2f}M vs {paper / 1e6:.0f}M in the paper"
    print(f"LTG-BERT {size} (vocab {vocab}): {n:,} parameters ({n / 1e6:.1f}M; paper {paper / 1e6:.0f}M)")


def test_tied_weights_stay_tied_through_gradients_steps_and_reload(tmp_path):
    model = tiny_ltg_model(seed=2).train()
    embedding = model.ltg_bert.embedding.word_embedding.weight
    assert model.lm_head.decoder.weight is embedding
    ids = torch.randint(5, 100, (3, 9), generator=torch.Generator().manual_seed(3))
    labels = torch.where(torch.rand(3, 9, generator=torch.Generator().manual_seed(4)) < 0.3, ids, -100)
    model(input_ids=ids, labels=labels).loss.backward()
    shared_grad = embedding.grad.clone()

    # the shared matrix's gradient is the sum over its two uses: an untied copy splits it in two
    untied = tiny_ltg_model(seed=2).train()
    untied.lm_head.decoder.weight = torch.nn.Parameter(untied.lm_head.decoder.weight.detach().clone())
    untied(input_ids=ids, labels=labels).loss.backward()
    split = untied.ltg_bert.embedding.word_embedding.weight.grad + untied.lm_head.decoder.weight.grad
    torch.testing.assert_close(shared_grad, split, atol=1e-6, rtol=1e-5)

    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(3):
        optimizer.step()
        optimizer.zero_grad()
        model(input_ids=ids, labels=labels).loss.backward()
    assert model.lm_head.decoder.weight is model.ltg_bert.embedding.word_embedding.weight
    model.save_pretrained(tmp_path)
    from babybias.model import load_model

    reloaded = load_model(tmp_path)
    assert reloaded.lm_head.decoder.weight is reloaded.ltg_bert.embedding.word_embedding.weight
    assert torch.equal(reloaded.lm_head.decoder.weight, model.ltg_bert.embedding.word_embedding.weight)


_RELOAD = """
import sys, torch
{block}
from transformers import AutoModel, AutoModelForMaskedLM
folder, ids = sys.argv[1], torch.load(sys.argv[2])
model = AutoModelForMaskedLM.from_pretrained(folder{extra}).eval()
encoder = AutoModel.from_pretrained(folder{extra}).eval()
with torch.no_grad():
    torch.save({{"logits": model(input_ids=ids).logits, "hidden": encoder(input_ids=ids).last_hidden_state,
                "module": type(model).__module__}}, sys.argv[3])
"""


@pytest.mark.parametrize("how", ["babybias_registered", "trust_remote_code_without_babybias"])
def test_save_and_reload_in_a_fresh_python_gives_identical_logits(tmp_path, how):
    model = tiny_ltg_model(seed=5)
    ids = torch.randint(5, 100, (2, 11), generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        logits, hidden = model(input_ids=ids).logits, model.ltg_bert(input_ids=ids).last_hidden_state
    model.save_pretrained(tmp_path / "ckpt")
    assert {"modeling_ltg_bert.py", "configuration_ltg_bert.py"} <= set(os.listdir(tmp_path / "ckpt"))
    assert json.loads((tmp_path / "ckpt" / "config.json").read_text())["auto_map"]["AutoModelForMaskedLM"] == \
        "modeling_ltg_bert.LtgBertForMaskedLM"
    torch.save(ids, tmp_path / "ids.pt")
    if how == "babybias_registered":
        script = _RELOAD.format(block="import babybias.ltg_bert", extra="")
    else:  # babybias made unimportable: only the files copied into the checkpoint can define the model
        script = _RELOAD.format(block="sys.modules['babybias'] = None", extra=", trust_remote_code=True")
    env = {**os.environ, "HF_MODULES_CACHE": str(tmp_path / "modules"), "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(script), str(tmp_path / "ckpt"),
                             str(tmp_path / "ids.pt"), str(tmp_path / "out.pt")], env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    out = torch.load(tmp_path / "out.pt")
    assert torch.equal(out["logits"], logits) and torch.equal(out["hidden"], hidden)
    expected_module = "babybias.ltg_bert" if how == "babybias_registered" else "transformers_modules"
    assert out["module"].startswith(expected_module)


def test_training_flops_formula_matches_counted_flops():
    """6N + 12 L H T + LTG-BERT's relative-position terms equals what torch counts for an encoder forward + backward
    (the trainer's N also holds the MLM head's dense layer, as for BERT; the tied decoder is never counted)."""
    from torch.utils.flop_counter import FlopCounterMode

    from babybias.configs.model import ModelConfig
    from babybias.model import build_model, relative_attention_flops_per_token
    from babybias.train.precision import flops_per_token

    cfg = ModelConfig(name="t", architecture="ltg_bert", hidden_size=64, num_layers=3, num_heads=4,
                      intermediate_size=128, max_position_embeddings=64, position_bucket_size=8,
                      hidden_dropout=0.0, attention_dropout=0.0)
    T = 32
    model = build_model(cfg, vocab_size=500, seed=0)
    ids = torch.randint(5, 500, (1, T))
    with FlopCounterMode(display=False) as counter:
        model.ltg_bert(input_ids=ids).last_hidden_state.sum().backward()
    counted = counter.get_total_flops()
    n_layers = sum(p.numel() for p in model.ltg_bert.layers.parameters())  # as the BERT check: layer weights only
    expected = (flops_per_token(n_layers, 3, 64, T) + relative_attention_flops_per_token(cfg, T)) * T
    assert abs(counted - expected) / counted < 0.03, (counted, expected)
