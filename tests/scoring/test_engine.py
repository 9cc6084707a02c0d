"""The batched engine equals the one-forward-per-mask reference, and its wrappers/embeddings do what they say."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from babybias.metrics.requests import MaskedTokenRequest, TokenScoreRequest
from babybias.scoring import HFMaskedLM, HiddenTransformLM, ScoringEngine
from babybias.scoring.reference import one_forward_per_mask
from babybias.scoring.testing import tiny_model, tiny_tokenizer

TEXTS = [
    "The nurse likes cats.",
    "He ran home.",
    "Poor people are always lazy, said the old man who never worked.",
    "She is a doctor",
    "Women were very smart and rich; men were not.",
    "a",
]


@pytest.fixture(scope="module")
def tiny():
    tokenizer = tiny_tokenizer()
    return tiny_model(len(tokenizer), seed=1), tokenizer


@pytest.mark.parametrize("batch_size", [7, 1000])
def test_pll_equals_one_forward_per_mask(tiny, batch_size):
    hf, tokenizer = tiny
    # 7: several batches, each mixing sentences of different lengths (padding); 1000: all in one batch
    engine = ScoringEngine(HFMaskedLM(hf), tokenizer, batch_size=batch_size, max_tokens=10**6, progress=False)
    requests = [TokenScoreRequest(t) for t in TEXTS]
    got = engine.score(requests)
    for request, scores in zip(requests, got):
        ref = one_forward_per_mask(hf, tokenizer, request)
        assert scores.token_ids == ref.token_ids and scores.offsets == ref.offsets
        np.testing.assert_allclose(scores.logprobs, ref.logprobs, atol=1e-5, rtol=0)
        assert all(lp < 0 for lp in scores.logprobs)
    assert engine.pll(TEXTS) == pytest.approx([s.total for s in got], abs=1e-9)


def test_spans_select_tokens_and_scores_do_not_depend_on_the_selection(tiny):
    hf, tokenizer = tiny
    engine = ScoringEngine(HFMaskedLM(hf), tokenizer, batch_size=64, progress=False)
    text = "The nurse likes cats."
    full = engine.score([TokenScoreRequest(text)])[0]
    part = engine.score([TokenScoreRequest(text, ((4, 9), (16, 20)))])[0]  # "nurse", "cats"
    assert part.offsets == ((4, 9), (16, 20))
    by_offset = dict(zip(full.offsets, full.logprobs))
    assert part.logprobs == pytest.approx([by_offset[o] for o in part.offsets], abs=1e-5)


def test_head_everywhere_and_order_give_the_same_numbers(tiny):
    hf, tokenizer = tiny
    requests = [TokenScoreRequest(t) for t in TEXTS]
    fast = ScoringEngine(HFMaskedLM(hf), tokenizer, batch_size=16, progress=False).score(requests)
    slow = ScoringEngine(HFMaskedLM(hf, head_only_at_masked=False), tokenizer, batch_size=3,
                         progress=False).score(requests[::-1])[::-1]
    for a, b in zip(fast, slow):
        np.testing.assert_allclose(a.logprobs, b.logprobs, atol=1e-5, rtol=0)
    again = ScoringEngine(HFMaskedLM(hf), tokenizer, batch_size=16, progress=False).score(requests)
    assert [s.logprobs for s in again] == [s.logprobs for s in fast]  # deterministic, bit for bit


def test_bf16_still_returns_fp32_logprobs_close_to_fp32(tiny):
    hf, tokenizer = tiny
    requests = [TokenScoreRequest(t) for t in TEXTS[:3]]
    fp32 = ScoringEngine(HFMaskedLM(hf), tokenizer, progress=False).score(requests)
    model = HFMaskedLM(hf, precision="bf16")
    ids = torch.tensor([tokenizer("He ran home.")["input_ids"]])
    out = model.masked_logprobs(ids, torch.ones_like(ids), torch.tensor([0]), torch.tensor([1]))
    assert out.dtype == torch.float32 and torch.allclose(out.exp().sum(-1), torch.tensor(1.0), atol=1e-5)
    bf16 = ScoringEngine(model, tokenizer, progress=False).score(requests)
    for a, b in zip(fp32, bf16):
        np.testing.assert_allclose(a.logprobs, b.logprobs, atol=0.3)


def test_hidden_transform_is_applied_before_the_head_and_before_pooling(tiny):
    hf, tokenizer = tiny
    base = HFMaskedLM(hf)
    generator = torch.Generator().manual_seed(0)
    direction = torch.nn.functional.normalize(torch.randn(hf.config.hidden_size, generator=generator), dim=0)

    def project_out(hidden):  # remove one direction, as INLP/SentenceDebias do
        return hidden - (hidden @ direction)[..., None] * direction

    wrapped = HiddenTransformLM(base, project_out)
    text = "She is a doctor"
    got = ScoringEngine(wrapped, tokenizer, progress=False).score([TokenScoreRequest(text)])[0]
    enc = tokenizer(text, return_offsets_mapping=True)
    offsets = [tuple(o) for o in enc["offset_mapping"]]
    with torch.inference_mode():
        for offset, target, lp in zip(got.offsets, got.token_ids, got.logprobs):
            pos = offsets.index(offset)
            ids = torch.tensor([enc["input_ids"]])
            ids[0, pos] = tokenizer.mask_token_id
            hidden = project_out(hf.bert(input_ids=ids).last_hidden_state)
            expected = torch.log_softmax(hf.cls(hidden)[0, pos], -1)[target].item()
            assert lp == pytest.approx(expected, abs=1e-5)
    emb = ScoringEngine(wrapped, tokenizer, progress=False).embed(["She is a doctor", "He ran home."])
    np.testing.assert_allclose(emb @ direction.numpy(), 0.0, atol=1e-5)


def test_embed_matches_unbatched_mean_and_cls(tiny):
    hf, tokenizer = tiny
    engine = ScoringEngine(HFMaskedLM(hf), tokenizer, batch_size=2, progress=False)
    mean, cls = engine.embed(TEXTS, "mean"), engine.embed(TEXTS, "cls")
    assert mean.shape == (len(TEXTS), hf.config.hidden_size) and mean.dtype == np.float32
    with torch.inference_mode():
        for i, text in enumerate(TEXTS):
            hidden = hf.bert(input_ids=torch.tensor([tokenizer(text)["input_ids"]])).last_hidden_state[0]
            np.testing.assert_allclose(mean[i], hidden.mean(0).numpy(), atol=1e-5)
            np.testing.assert_allclose(cls[i], hidden[0].numpy(), atol=1e-5)
    with pytest.raises(ValueError, match="pooling"):
        engine.embed(TEXTS, "max")


def brute_force_masked_logprob(hf, tokenizer, text, target):
    ids = tokenizer(text)["input_ids"]
    position = ids.index(tokenizer.mask_token_id)
    with torch.inference_mode():
        logits = hf(input_ids=torch.tensor([ids])).logits[0, position].float()
    return torch.log_softmax(logits, dim=-1)[target].item()


@pytest.mark.parametrize("batch_size", [2, 1000])
def test_masked_token_request_equals_one_forward_pass_and_mixes_with_token_requests(tiny, batch_size):
    hf, tokenizer = tiny
    vocab = tokenizer.get_vocab()
    masked = [MaskedTokenRequest(("The nurse likes [MASK].", "[MASK] ran home.", "The doc[MASK] was smart"),
                                 (vocab["cats"], vocab["he"], vocab["##t"])),
              MaskedTokenRequest(("Poor people are always [MASK], said the old [MASK] who never worked.",),
                                 (vocab["lazy"],)),
              MaskedTokenRequest((), ())]
    token = [TokenScoreRequest(t) for t in TEXTS]
    requests = [token[0], masked[0], token[2], masked[1], masked[2], token[5]]
    engine = ScoringEngine(HFMaskedLM(hf), tokenizer, batch_size=batch_size, max_tokens=10**6, progress=False)
    got = engine.score(requests)
    for request, scores in zip(requests, got):
        if isinstance(request, TokenScoreRequest):
            ref = one_forward_per_mask(hf, tokenizer, request)
            assert scores.token_ids == ref.token_ids
            np.testing.assert_allclose(scores.logprobs, ref.logprobs, atol=1e-5, rtol=0)
            continue
        assert scores.token_ids == request.target_token_ids
        assert [text[s:e] for text, (s, e) in zip(request.texts, scores.offsets)] == ["[MASK]"] * len(request.texts)
        assert [text.index("[MASK]") for text in request.texts] == [s for s, _ in scores.offsets]  # the first mask
        want = [brute_force_masked_logprob(hf, tokenizer, text, target)
                for text, target in zip(request.texts, request.target_token_ids)]
        np.testing.assert_allclose(scores.logprobs, want, atol=1e-5, rtol=0)


def test_masked_token_request_without_a_mask_is_an_error(tiny):
    hf, tokenizer = tiny
    engine = ScoringEngine(HFMaskedLM(hf), tokenizer, batch_size=4, progress=False)
    with pytest.raises(ValueError, match=r"has no \[MASK\] token \(it has none\)"):
        engine.score([MaskedTokenRequest(("The nurse likes cats.",), (5,))])
    with pytest.raises(ValueError, match="truncated"):
        engine.score([MaskedTokenRequest(("cats " * 200 + "[MASK]",), (5,))])
    with pytest.raises(TypeError, match="not one string"):
        MaskedTokenRequest("The nurse likes [MASK].", (5,))
