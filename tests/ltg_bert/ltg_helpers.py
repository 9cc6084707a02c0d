"""Tiny LTG-BERT models and an independent, loop-by-loop re-computation of LTG-BERT's forward pass.

A uniquely named helper module (not `conftest`). The re-computation follows the architecture as the paper
states it (scores per (query, key, head) with the bucket formula written out in plain Python), with no
batching and nothing shared with babybias.ltg_bert but the weights.
"""

from __future__ import annotations

import math

import run_helpers
import torch


def tiny_ltg_config(**overrides):
    from babybias.ltg_bert.configuration_ltg_bert import LtgBertConfig

    sizes = dict(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=48,
                 max_position_embeddings=10, position_bucket_size=8, hidden_dropout_prob=0.0,
                 attention_probs_dropout_prob=0.0)
    sizes.update(overrides)
    return LtgBertConfig(**sizes)


def tiny_ltg_model(seed: int = 0, **overrides):
    from babybias.ltg_bert.modeling_ltg_bert import LtgBertForMaskedLM

    torch.manual_seed(seed)
    return LtgBertForMaskedLM(tiny_ltg_config(**overrides)).eval()


def paper_bucket(relative: int, bucket_size: int, max_position: int) -> int:
    """The relative-position bucket as LTG-BERT defines it, for one integer distance i - j."""
    mid = bucket_size // 2
    if abs(relative) <= mid:
        return relative
    distance = min(abs(relative), max_position - 1)
    magnitude = mid + math.ceil(math.log(distance / mid) / math.log((max_position - 1) / mid) * (mid - 1))
    return magnitude if relative > 0 else -magnitude


def _norm(v, eps, weight=None, bias=None):
    out = (v - v.mean()) / torch.sqrt(((v - v.mean()) ** 2).mean() + eps)
    return out if weight is None else out * weight + bias


def _gelu_tanh(v):
    return 0.5 * v * (1 + torch.tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v ** 3)))


def _gelu(v):
    return 0.5 * v * (1 + torch.erf(v / math.sqrt(2)))


def loop_forward(model, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """MLM logits [B, T, V] of an LtgBertForMaskedLM recomputed token by token, in float64."""
    cfg = model.config
    w = {k: v.detach().double() for k, v in model.state_dict().items()}
    eps, heads = cfg.layer_norm_eps, cfg.num_attention_heads
    d = cfg.hidden_size // heads
    emb = "ltg_bert.embedding."
    relative = [_norm(r, eps, w[emb + "relative_layer_norm.weight"], w[emb + "relative_layer_norm.bias"])
                for r in w[emb + "relative_embedding"]]
    out = []
    for b in range(input_ids.shape[0]):
        ids, keep = input_ids[b].tolist(), attention_mask[b].tolist()
        x = [_norm(w[emb + "word_embedding.weight"][t], eps) for t in ids]
        for layer in range(cfg.num_hidden_layers):
            x = _attention_block(x, keep, relative, w, f"ltg_bert.layers.{layer}.", cfg, d)
            x = _feed_forward_block(x, w, f"ltg_bert.layers.{layer}.mlp.", eps)
        out.append(torch.stack([_head(v, w, eps) for v in x]))
    return torch.stack(out)


def _attention_block(x, keep, relative, w, prefix, cfg, d):
    eps, hidden = cfg.layer_norm_eps, cfg.hidden_size
    wqk, bqk = w[prefix + "attention.in_proj_qk.weight"], w[prefix + "attention.in_proj_qk.bias"]
    wv, bv = w[prefix + "attention.in_proj_v.weight"], w[prefix + "attention.in_proj_v.bias"]
    normed = [_norm(v, eps) for v in x]
    q = [wqk[:hidden] @ v + bqk[:hidden] for v in normed]
    k = [wqk[hidden:] @ v + bqk[hidden:] for v in normed]
    val = [wv @ v + bv for v in normed]
    q_rel = [wqk[:hidden] @ r + bqk[:hidden] for r in relative]
    k_rel = [wqk[hidden:] @ r + bqk[hidden:] for r in relative]
    new = []
    for i in range(len(x)):
        per_head = []
        for h in range(cfg.num_attention_heads):
            s = slice(h * d, (h + 1) * d)
            scores = []
            for j in range(len(x)):
                r = paper_bucket(i - j, cfg.position_bucket_size, cfg.max_position_embeddings)
                r += cfg.position_bucket_size - 1
                score = (q[i][s] @ k[j][s] + q[i][s] @ k_rel[r][s] + k[j][s] @ q_rel[r][s]) / math.sqrt(3 * d)
                scores.append(score if keep[j] else torch.tensor(float("-inf"), dtype=torch.float64))
            probs = torch.softmax(torch.stack(scores), 0)
            per_head.append(sum(p * val[j][s] for j, p in enumerate(probs)))
        context = torch.cat(per_head)
        projected = w[prefix + "attention.out_proj.weight"] @ context + w[prefix + "attention.out_proj.bias"]
        new.append(x[i] + _norm(projected, eps, w[prefix + "attention.post_layer_norm.weight"],
                                w[prefix + "attention.post_layer_norm.bias"]))
    return new


def _feed_forward_block(x, w, prefix, eps):
    out = []
    for v in x:
        up = w[prefix + "up.weight"] @ _norm(v, eps)
        half = up.shape[0] // 2
        gated = up[:half] * _gelu_tanh(up[half:])
        out.append(v + w[prefix + "down.weight"] @ _norm(gated, eps))
    return out


def _head(v, w, eps):
    hidden = _gelu(w["lm_head.dense.weight"] @ _norm(v, eps) + w["lm_head.dense.bias"])
    return w["ltg_bert.embedding.word_embedding.weight"] @ _norm(hidden, eps) + w["lm_head.decoder.bias"]


# ---------------------------------------------------------------- tiny runs through `babybias pretrain`
# gendered subjects, so that the debiasing and bias metrics of the pipeline tests have something to find
SUBJECTS = ["The doctor", "A nurse", "My sister", "His father", "The engineer", "Her brother", "The teacher",
            "She", "He", "The child"]
OBJECTS = ["a book", "the letter", "an old map", "the red door", "a small boat", "the garden gate", "some bread"]


def write_sentences(path, n: int, seed: int):
    return run_helpers.write_sentences(path, n, seed, subjects=SUBJECTS, objects=OBJECTS)


def tiny_ltg_overrides(tmp_path, name: str = "ltg", steps: int = 6, **extra) -> list[str]:
    """`babybias pretrain` overrides for a seconds-long LTG-BERT run (2 x 32, vocab ~120, seq 32) under tmp_path."""
    model = {"model": "ltg_bert_small", "model.hidden_size": 32, "model.num_layers": 2, "model.num_heads": 2,
             "model.intermediate_size": 48, "model.max_position_embeddings": 64, "model.position_bucket_size": 8}
    return run_helpers.tiny_run_overrides(tmp_path, model, name, steps, **extra)
