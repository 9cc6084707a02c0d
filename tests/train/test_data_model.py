"""Packing, masking, data order, the masked-only LM head, model configs: pure properties, no run directory."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from babybias.configs.model import ModelConfig
from babybias.configs.train import TrainConfig
from babybias.errors import BabybiasError
from babybias.model import MaskedLMObjective, bert_config, build_model, check_compatible
from babybias.runs import atomic_write_json, file_sha256
from babybias.train.data import BlockOrder, MLMBatches, mask_tokens, pack_ids
from babybias.train.optim import lr_factor

torch.set_num_threads(1)
CLS, SEP, MASK = 2, 3, 4
SPECIAL = [0, 1, 2, 3, 4]


def test_packing_keeps_every_token_in_order_without_padding():
    sentences = [[10, 11, 12], [13], [14, 15, 16, 17, 18], [19, 20]]
    blocks = pack_ids(sentences, seq_len=6, cls_id=CLS, sep_id=SEP)
    # stream: 10 11 12 S 13 S 14 15 16 17 18 S 19 20 S  (15 tokens) -> 3 blocks of 4, the rest dropped
    assert blocks.tolist() == [[CLS, 10, 11, 12, SEP, SEP], [CLS, 13, SEP, 14, 15, SEP], [CLS, 16, 17, 18, SEP, SEP]]
    assert 0 not in blocks  # no [PAD]


def test_masking_is_80_10_10_and_skips_special_tokens():
    ids = torch.randint(5, 1000, (400, 128))
    ids[:, 0], ids[:, -1] = CLS, SEP
    inputs, labels = mask_tokens(ids, torch.Generator().manual_seed(0), 0.15, MASK, 1000, SPECIAL)
    selected = labels != -100
    assert not selected[:, 0].any() and not selected[:, -1].any()
    assert torch.equal(labels[selected], ids[selected])
    assert selected.float().mean().item() == pytest.approx(0.15 * 126 / 128, abs=0.003)
    n = selected.sum().item()
    masked = (inputs[selected] == MASK).sum().item() / n
    kept = (inputs[selected] == ids[selected]).sum().item() / n
    assert masked == pytest.approx(0.8, abs=0.01)
    assert kept == pytest.approx(0.1 + 0.1 / 1000, abs=0.01)  # 10% kept (+ random draws of the same id)
    assert torch.equal(inputs[~selected], ids[~selected])


def test_block_order_is_saved_and_reused(tmp_path):
    order = BlockOrder(10, seed=7, folder=tmp_path)
    first = order.indices(0, 25)  # spans three epochs
    assert sorted(first[:10]) == list(range(10)) and sorted(first[10:20]) == list(range(10))
    assert (tmp_path / "order-epoch0002.npy").exists()
    saved = tmp_path / "order-epoch0001.npy"
    np.save(saved, np.arange(10)[::-1])  # the saved order (e.g. drawn by another numpy) wins over a re-draw ...
    atomic_write_json(saved.with_suffix(".sha256"), {"sha256": file_sha256(saved), "bytes": saved.stat().st_size})
    again = BlockOrder(10, seed=7, folder=tmp_path).indices(10, 10)
    assert again.tolist() == list(range(10))[::-1]
    np.save(saved, np.arange(10))  # ... but one that no longer matches its checksum is drawn again from the seed
    assert BlockOrder(10, seed=7, folder=tmp_path).indices(10, 10).tolist() == first[10:20].tolist()
    with pytest.raises(BabybiasError, match="no training block"):
        BlockOrder(0, seed=1)


def test_batches_depend_only_on_seed_and_step():
    blocks = np.random.default_rng(0).integers(5, 100, (50, 16))
    make = lambda: MLMBatches(blocks, BlockOrder(50, seed=1), 8, 5, 0.15, MASK, 100, SPECIAL)  # noqa: E731
    a, b = make(), make()
    b.global_batch(0)  # a different history must not matter
    for step in (3, 9):
        xa, ya = a.global_batch(step)
        xb, yb = b.global_batch(step)
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    halves = [a.rank_batch(3, r, 2)[0] for r in range(2)]
    assert torch.equal(torch.cat(halves), a.global_batch(3)[0])


def test_prefetched_batches_equal_inline_ones(tmp_path):
    from babybias.train.data import BatchPrefetcher

    blocks = np.random.default_rng(0).integers(5, 100, (30, 16))
    inline = MLMBatches(blocks, BlockOrder(30, seed=1), 8, 5, 0.15, MASK, 100, SPECIAL)
    ahead = BatchPrefetcher(MLMBatches(blocks, BlockOrder(30, seed=1, folder=tmp_path), 8, 5, 0.15, MASK, 100,
                                       SPECIAL), workers=3, last_step=12)
    try:
        for step in [0, 1, 2, 7, 8, 11]:  # a jump, as after a resume, and the last step
            x, y = ahead.get(step)
            xi, yi = inline.global_batch(step)
            assert torch.equal(x, xi) and torch.equal(y, yi)
        assert not ahead._pending  # nothing scheduled past the last step
    finally:
        ahead.close()
    assert (tmp_path / "order-epoch0002.npy").exists()  # 12 steps x 8 = 96 samples: epochs 0-3 of 30 blocks


def test_masked_only_head_gives_the_full_head_loss():
    cfg = ModelConfig(name="t", hidden_size=32, num_layers=2, num_heads=2, intermediate_size=64,
                      max_position_embeddings=64, hidden_dropout=0.0, attention_dropout=0.0)
    model = build_model(cfg, vocab_size=200, seed=0).eval()
    ids = torch.randint(5, 200, (4, 32))
    inputs, labels = mask_tokens(ids, torch.Generator().manual_seed(1), 0.15, MASK, 200, SPECIAL)
    fast_sum, n_fast = MaskedLMObjective(model, masked_only=True)(inputs, labels)
    full_sum, n_full = MaskedLMObjective(model, masked_only=False)(inputs, labels)
    assert n_fast == n_full == (labels != -100).sum()
    assert (fast_sum / n_fast).item() == pytest.approx((full_sum / n_full).item(), abs=1e-6)
    hf_loss = model(input_ids=inputs, labels=labels).loss  # transformers' own MLM loss
    assert (fast_sum / n_fast).item() == pytest.approx(hf_loss.item(), abs=1e-6)


def test_model_init_is_seeded_and_configs_have_their_sizes():
    cfg = ModelConfig(name="t", hidden_size=32, num_layers=2, num_heads=2, intermediate_size=64)
    a, b = build_model(cfg, 100, seed=4), build_model(cfg, 100, seed=4)
    assert all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters()))
    babylm = bert_config(ModelConfig(), vocab_size=16384)
    assert (babylm.num_hidden_layers, babylm.hidden_size, babylm.num_attention_heads) == (12, 384, 6)
    base = bert_config(ModelConfig(name="bert_base", hidden_size=768, num_heads=12, intermediate_size=3072), 30522)
    assert (base.num_hidden_layers, base.hidden_size, base.num_attention_heads) == (12, 768, 12)
    with pytest.raises(BabybiasError, match="num_heads"):
        ModelConfig(hidden_size=100, num_heads=6)


def test_check_compatible_names_the_difference(tmp_path):
    cfg = ModelConfig(name="t", hidden_size=32, num_layers=2, num_heads=2, intermediate_size=64)
    build_model(cfg, 100, seed=0).save_pretrained(str(tmp_path))
    check_compatible(cfg, 100, tmp_path)
    with pytest.raises(BabybiasError, match="num_hidden_layers=2 \\(config wants 3\\)"):
        check_compatible(ModelConfig(name="t", hidden_size=32, num_layers=3, num_heads=2, intermediate_size=64), 100, tmp_path)
    with pytest.raises(BabybiasError, match="vocab_size"):
        check_compatible(cfg, 101, tmp_path)


@pytest.mark.parametrize("schedule,last", [("linear", 0.0), ("cosine", 0.1), ("constant", 1.0)])
def test_schedule_warms_up_then_decays(schedule, last):
    cfg = TrainConfig(steps=100, warmup_steps=10, schedule=schedule, min_lr_ratio=0.1 if schedule == "cosine" else 0.0)
    factors = [lr_factor(s, cfg) for s in range(100)]
    assert factors[0] == pytest.approx(0.1) and factors[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(factors[9:], factors[10:]))
    assert lr_factor(100, cfg) == pytest.approx(last)
