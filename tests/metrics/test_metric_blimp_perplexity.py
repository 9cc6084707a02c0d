"""BLiMP aggregation, pseudo-perplexity and the request/score contract, on hand-made scores."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from babybias.errors import DataError
from babybias.metrics import blimp, perplexity
from babybias.metrics.requests import TokenScoreRequest, TokenScores

FIXTURES = Path(__file__).parent / "fixtures"


def pll(*logprobs) -> TokenScores:
    return TokenScores(range(len(logprobs)), [(i, i + 1) for i in range(len(logprobs))], logprobs)


def test_blimp_accuracy_per_phenomenon_field_and_overall():
    pairs = blimp.load_blimp(FIXTURES / "blimp_ok")
    assert [(p.uid, p.line) for p in pairs] == [("adjunct_island", 1), ("anaphor_gender_agreement", 1),
                                                ("anaphor_gender_agreement", 2), ("anaphor_gender_agreement", 3)]
    scores = [pll(-1.0, -2.0), pll(-4.0),        # adjunct_island: good > bad, correct
              pll(-1.0), pll(-2.0),              # anaphor 0: correct
              pll(-3.0), pll(-1.0, -1.0),        # anaphor 1: good -3 < bad -2, wrong
              pll(-2.0), pll(-1.0, -1.0)]        # anaphor 2: tie -2 == -2, counted wrong
    result = blimp.compute(pairs, scores)
    assert [r["correct"] for r in result.rows] == [True, True, False, False]
    assert result.per_category["adjunct_island"]["accuracy"] == 100.0
    assert result.per_category["anaphor_gender_agreement"]["accuracy"] == pytest.approx(100 / 3)
    assert result.summary["accuracy"] == pytest.approx((100 + 100 / 3) / 2)  # macro over phenomena
    assert result.summary["accuracy_micro"] == pytest.approx(50.0)           # 2 of 4 pairs
    assert result.summary["field/syntax"] == 100.0
    assert result.summary["field/morphology"] == pytest.approx(100 / 3)


def test_blimp_limit_phenomena_and_requests():
    pairs = blimp.load_blimp(FIXTURES / "blimp_ok", limit=2, phenomena=["anaphor_gender_agreement"])
    assert [p.pair_id for p in pairs] == ["0", "1"]
    reqs = blimp.requests_for(pairs)
    assert [r.text for r in reqs[:2]] == ["Katherine can't help herself.", "Katherine can't help himself."]
    assert all(r.score_char_spans is None for r in reqs)
    with pytest.raises(DataError, match="not in"):
        blimp.load_blimp(FIXTURES / "blimp_ok", phenomena=["passive_1"])


def test_blimp_malformed_line_names_file_and_line():
    with pytest.raises(DataError, match=r"adjunct_island.jsonl:2: needs non-empty string keys"):
        blimp.load_blimp(FIXTURES / "blimp_bad")


def test_pseudo_perplexity_is_exp_of_mean_negative_token_logprob():
    scores = [pll(-1.0, -2.0), pll(-3.0)]
    assert perplexity.pseudo_log_likelihood(scores[0]) == -3.0
    assert perplexity.pseudo_perplexity(scores) == pytest.approx(math.exp(2.0))
    # a corpus-level mean over tokens, not a mean of per-text perplexities
    assert perplexity.pseudo_perplexity(scores) != pytest.approx((math.exp(1.5) + math.exp(3.0)) / 2)
    result = perplexity.compute(["a b", "c"], scores)
    assert result.summary == {"pppl": pytest.approx(math.exp(2.0)), "n_texts": 2, "n_tokens": 3,
                              "mean_pll_per_token": pytest.approx(-2.0)}
    assert [r.text for r in perplexity.requests_for(["a b", "c"])] == ["a b", "c"]
    with pytest.raises(ValueError, match="at least one"):
        perplexity.pseudo_perplexity([pll()])


def test_request_and_score_contract_validation():
    assert TokenScoreRequest("abc", [(0, 2)]).score_char_spans == ((0, 2),)
    with pytest.raises(ValueError, match="outside"):
        TokenScoreRequest("abc", ((1, 5),))
    with pytest.raises(ValueError, match="lengths differ"):
        TokenScores([1, 2], [(0, 1)], [-1.0, -2.0])
    assert pll(-0.5, -0.25).total == -0.75
