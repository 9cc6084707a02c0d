"""Self-Debias: the rescaling formula, and a planted biased token on a tiny trained BERT."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from babybias.debias.self_debias import DEBIASING_PREFIXES, SelfDebiasLM, prefixes_for, self_debias_logprobs
from babybias.errors import ConfigError

PAD, CLS, SEP, MASK, NEUTRAL, BIASED, PREFIX = 0, 1, 2, 3, 4, 5, (6, 7)
FILLERS = list(range(8, 16))


def test_formula_matches_brute_force():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(3, 10))
    prefixed = [rng.normal(size=(3, 10)) for _ in range(2)]
    to_logp = lambda a: torch.log_softmax(torch.tensor(a), dim=-1)  # noqa: E731
    out = self_debias_logprobs(to_logp(logits), [to_logp(p) for p in prefixed], 50.0, 0.01)

    softmax = lambda a: np.exp(a) / np.exp(a).sum(-1, keepdims=True)  # noqa: E731
    p, pb = softmax(logits), np.maximum(softmax(prefixed[0]), softmax(prefixed[1]))
    alpha = np.where(pb - p > 0, np.exp(-50.0 * (pb - p)), 1.0)
    alpha = np.maximum(alpha, 0.01)
    expected = alpha * p / (alpha * p).sum(-1, keepdims=True)
    assert out.dtype == torch.float32
    assert np.allclose(out.exp().numpy(), expected, atol=1e-6)


def test_very_unlikely_tokens_stay_finite():
    logp = torch.log_softmax(torch.tensor([[0.0, -200.0, 5.0]]), dim=-1)  # exp(-205) underflows in fp32
    out = self_debias_logprobs(logp, [logp.clone()])
    assert torch.isfinite(out).all() and torch.allclose(out, logp)


def test_a_prefix_that_changes_nothing_changes_nothing():
    logp = torch.log_softmax(torch.randn(4, 12), dim=-1)
    assert torch.allclose(self_debias_logprobs(logp, [logp.clone()]), logp, atol=1e-6)


def test_prefixes_follow_the_paper_and_reject_unknown_types():
    assert prefixes_for("gender") == [DEBIASING_PREFIXES["gender"]]
    assert prefixes_for("race") == [DEBIASING_PREFIXES["race-color"]]
    assert prefixes_for("gender", ["custom: "]) == ["custom: "]
    with pytest.raises(ConfigError):
        prefixes_for("astrology")


def _batch(n: int, with_prefix: bool, generator: torch.Generator):
    fillers = torch.tensor(FILLERS)[torch.randint(len(FILLERS), (n, 2), generator=generator)]
    head = [torch.full((n, 1), CLS)]
    if with_prefix:
        head.append(torch.tensor(PREFIX).expand(n, 2))
    ids = torch.cat([*head, fillers, torch.full((n, 1), MASK), torch.full((n, 1), SEP)], dim=1)
    if with_prefix:  # the prefix makes the biased token certain
        labels = torch.full((n,), BIASED)
    else:  # without it the model is unsure: half neutral, half biased
        labels = torch.where(torch.rand(n, generator=generator) < 0.5, NEUTRAL, BIASED)
    return ids, labels


@pytest.fixture(scope="module")
def planted_lm():
    """A 2-layer BERT trained (a few seconds) so that the debiasing prefix raises p(BIASED) from 1/2 to ~1."""
    from transformers import BertConfig, BertForMaskedLM

    from babybias.scoring.model import HFMaskedLM

    torch.manual_seed(0)
    config = BertConfig(vocab_size=16, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=16, hidden_dropout_prob=0.0,
                        attention_probs_dropout_prob=0.0)
    model = BertForMaskedLM(config)
    optim = torch.optim.Adam(model.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(0)
    for step in range(150):
        ids, labels = _batch(32, with_prefix=bool(step % 2), generator=generator)
        logits = model(input_ids=ids).logits[:, -2]  # the [MASK] position
        loss = torch.nn.functional.cross_entropy(logits, labels)
        optim.zero_grad()
        loss.backward()
        optim.step()
    return HFMaskedLM(model.eval(), "cpu")


def test_self_debias_lowers_the_planted_biased_token(planted_lm):
    ids, _ = _batch(8, with_prefix=False, generator=torch.Generator().manual_seed(1))
    mask = torch.ones_like(ids)
    rows, positions = torch.arange(8), torch.full((8,), 3)
    with torch.inference_mode():
        plain = planted_lm.masked_logprobs(ids, mask, rows, positions).exp()
        debiased_lm = SelfDebiasLM(planted_lm, [list(PREFIX)], decay_constant=50.0, epsilon=0.01)
        debiased = debiased_lm.masked_logprobs(ids, mask, rows, positions).exp()
        prefixed, _ = _batch(8, with_prefix=True, generator=torch.Generator().manual_seed(1))
        biased = planted_lm.masked_logprobs(prefixed, torch.ones_like(prefixed), rows, positions + 2).exp()

    assert plain[:, BIASED].min() > 0.3 and biased[:, BIASED].min() > 0.9  # the planting worked
    assert (debiased[:, BIASED] < 0.1 * plain[:, BIASED]).all()  # Self-Debias suppresses it
    assert (debiased[:, NEUTRAL] > plain[:, NEUTRAL]).all()  # and the mass goes elsewhere
    assert torch.allclose(debiased.sum(-1), torch.ones(8), atol=1e-5)
    # the wrapper aligns the prefixed masked position: its result equals the formula on explicit inputs
    expected = self_debias_logprobs(plain.log(), [biased.log()])
    assert torch.allclose(debiased.log(), expected, atol=1e-4)
    # hidden states (embeddings) are unchanged by Self-Debias
    assert torch.equal(debiased_lm.hidden_states(ids, mask), planted_lm.hidden_states(ids, mask))


def test_self_debias_refuses_inputs_longer_than_the_model(planted_lm):
    from babybias.errors import BabybiasError

    lm = SelfDebiasLM(planted_lm, [list(PREFIX) * 4])
    ids = torch.full((1, 12), FILLERS[0])
    with pytest.raises(BabybiasError, match="positions"):
        lm.masked_logprobs(ids, torch.ones_like(ids), torch.tensor([0]), torch.tensor([3]))


def test_decay_constant_is_the_papers():
    assert math.isclose(SelfDebiasLM.__init__.__defaults__[0], 50.0)


def test_using_category_switches_to_that_bias_types_prefix(planted_lm):
    """bias-bench scores each category with its own prefix: inside `using_category` the wrapper equals a
    Self-Debias model built with that category's prefix alone."""
    ids, _ = _batch(8, with_prefix=False, generator=torch.Generator().manual_seed(1))
    args = (ids, torch.ones_like(ids), torch.arange(8), torch.full((8,), 3))
    other = [FILLERS[0], FILLERS[1]]
    lm = SelfDebiasLM(planted_lm, [other], prefix_ids_by_type={"gender": [list(PREFIX)], "race-color": [other]})
    with torch.inference_mode():
        outside = lm.masked_logprobs(*args)
        with lm.using_category("gender"):
            gender = lm.masked_logprobs(*args)
        with lm.using_category("race"):  # StereoSet's name: race -> race-color
            race = lm.masked_logprobs(*args)
        assert torch.equal(gender, SelfDebiasLM(planted_lm, [list(PREFIX)]).masked_logprobs(*args))
        assert torch.equal(race, SelfDebiasLM(planted_lm, [other]).masked_logprobs(*args))
    assert torch.equal(outside, race)  # back to the default prefix after the block
    assert lm.prefix_length == 2
    from babybias.errors import BabybiasError

    with pytest.raises(BabybiasError, match="prefix_scope=bias_type"):
        with lm.using_category("astrology"):
            pass


CROWS = [("the man is poor .", "the woman is poor .", "gender"), ("he was lazy .", "she was lazy .", "gender"),
         ("black people are lazy .", "white people are lazy .", "race-color"),
         ("the poor are bad .", "the rich are bad .", "socioeconomic")]


def test_per_category_scoring_equals_one_run_per_bias_type(tiny_run):
    """What `evaluate debias=self_debias` scores: each category as bias-bench's run for that bias type."""
    from babybias.configs.common import ImplConfig
    from babybias.configs.debias import DebiasConfig
    from babybias.debias.apply import debiased_engine
    from babybias.debias.self_debias import score_by_category
    from babybias.metrics.requests import TokenScoreRequest
    from babybias.scoring import ScoringEngine

    engine, artifact = debiased_engine(tiny_run / "model", DebiasConfig(method="self_debias"),
                                       ImplConfig(device="cpu"), progress=False)
    requests = [TokenScoreRequest(t) for more, less, _ in CROWS for t in (more, less)]
    categories = [c for *_, c in CROWS for _ in range(2)]
    scores = score_by_category(engine, requests, categories, desc="crows")
    by_type = artifact.info["prefix_token_ids_by_type"]
    base = engine.model.base
    positions = engine.max_length + len(by_type["gender"][0])  # the engine leaves room for the default prefix
    for category in ("gender", "race-color", "socioeconomic"):
        single = ScoringEngine(SelfDebiasLM(base, by_type[category]), engine.tokenizer, progress=False,
                               max_length=positions - len(by_type[category][0]))
        rows = [i for i, c in enumerate(categories) if c == category]
        expected = single.score([requests[i] for i in rows])
        for i, exp in zip(rows, expected):
            assert np.allclose(scores[i].logprobs, exp.logprobs, atol=1e-5)
    one_prefix = engine.score(requests)  # the old scope: the gender prefix for every category
    race = categories.index("race-color")
    assert not np.allclose(scores[race].logprobs, one_prefix[race].logprobs, atol=1e-4)
    assert np.allclose(scores[0].logprobs, one_prefix[0].logprobs, atol=1e-5)  # gender rows: the same prefix


def test_each_category_truncates_inputs_to_the_room_its_prefix_leaves(tiny_run):
    from babybias.configs.common import ImplConfig
    from babybias.configs.debias import DebiasConfig
    from babybias.debias.apply import debiased_engine
    from babybias.debias.self_debias import score_by_category
    from babybias.errors import BabybiasError
    from babybias.metrics.requests import TokenScoreRequest

    engine, artifact = debiased_engine(tiny_run / "model", DebiasConfig(method="self_debias"),
                                       ImplConfig(device="cpu"), progress=False)
    by_type = artifact.info["prefix_token_ids_by_type"]
    positions = 128  # the tiny model's
    long_text = [TokenScoreRequest("the man is poor . " * 30)]
    for category in ("gender", "socioeconomic"):
        (scores,) = score_by_category(engine, long_text, [category])
        assert len(scores) == positions - len(by_type[category][0]) - 2  # [CLS] and [SEP] are not scored
    assert engine.max_length == positions - len(by_type["gender"][0])  # restored after each category
    lm = engine.model
    lm.prefix_ids_by_type["age"] = [torch.tensor([FILLERS[0]] * 127)]
    with pytest.raises(BabybiasError, match="prefix_scope=bias_type"):
        score_by_category(engine, long_text, ["age"])
