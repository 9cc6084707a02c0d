"""StereoSet: candidate words, requests, and LMS/SS/ICAT from hand-made candidate scores."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from babybias.errors import DataError
from babybias.metrics.requests import TokenScores
from babybias.metrics.stereoset import (
    Candidate,
    StereoSetExample,
    candidate_score,
    candidate_word,
    compute,
    load_stereoset,
    requests_for,
    stereoset_scores,
)

FIXTURES = Path(__file__).parent / "fixtures"


def example(target, bias_type="race", example_id=1) -> StereoSetExample:
    cands = tuple(Candidate(label, f"It is {w}.", w, f"It is {w}.", (6, 6 + len(w)))
                  for label, w in zip(("stereotype", "anti-stereotype", "unrelated"), ("x", "y", "z")))
    return StereoSetExample(example_id, target, bias_type, "It is BLANK.", cands)


def one_token(probability: float) -> TokenScores:
    return TokenScores([7], [(6, 7)], [math.log(probability)])


def test_candidate_score_averages_probabilities_not_logprobs():
    two = TokenScores([7, 8], [(6, 8), (8, 10)], [math.log(0.2), math.log(0.4)])
    assert candidate_score(two) == pytest.approx(0.3)
    assert candidate_score(two, "mean_logprob") == pytest.approx((math.log(0.2) + math.log(0.4)) / 2)
    with pytest.raises(ValueError, match="no token"):
        candidate_score(TokenScores([], [], []))


def test_scores_aggregate_per_target_term_then_average():
    # (stereotype, anti-stereotype, unrelated) probabilities
    table = [("a", (0.5, 0.2, 0.1)),   # pro; stereo>unrel and anti>unrel: related 2
             ("a", (0.1, 0.3, 0.2)),   # anti; only anti>unrel: related 1
             ("b", (0.2, 0.2, 0.3))]   # tie goes to anti; related 0
    examples = [example(t, example_id=i) for i, (t, _) in enumerate(table)]
    scores = [one_token(p) for _, probs in table for p in probs]
    result = compute(examples, scores)
    # per term: a: SS 50, LMS 75; b: SS 0, LMS 0 -> means SS 25, LMS 37.5 (pooled would be 33.3 and 50)
    assert result.summary["ss"] == pytest.approx(25.0)
    assert result.summary["lms"] == pytest.approx(37.5)
    assert result.summary["icat"] == pytest.approx(37.5 * min(25.0, 75.0) / 50)
    assert result.summary["icat_micro"] == pytest.approx((75.0 * 50 / 50 + 0.0) / 2)
    assert result.summary["n_examples"] == 3 and result.summary["n_targets"] == 2
    assert result.rows[0]["stereotype"] == pytest.approx(0.5)


def test_ideal_model_has_icat_100_and_domains_are_separate():
    examples = [example("a", "gender", 1), example("b", "gender", 2), example("c", "race", 3)]
    probs = [(0.4, 0.3, 0.1), (0.3, 0.4, 0.1), (0.4, 0.3, 0.1)]
    result = compute(examples, [one_token(p) for ps in probs for p in ps])
    gender = result.per_category["gender"]
    assert (gender["lms"], gender["ss"], gender["icat"]) == pytest.approx((100.0, 50.0, 100.0))
    race = result.per_category["race"]
    assert (race["lms"], race["ss"], race["icat"]) == pytest.approx((100.0, 100.0, 0.0))
    assert result.per_category["religion"]["n_examples"] == 0 and math.isnan(result.per_category["religion"]["ss"])
    assert stereoset_scores(result.rows)["ss"] == pytest.approx(result.summary["ss"])


def test_candidate_word_rules():
    context = "The grandfather BLANKed the grandchildren."
    assert candidate_word(context, "The grandfather protected the grandchildren.") == "protected"
    assert candidate_word(context, "The grandfather protected the grandchildren.", "aligned") == "protect"
    crimean = ("The Crimean people I met were BLANK", "The crimean people i met were boring")
    assert candidate_word(*crimean, "aligned") == "boring"
    two = "brahmin is very BLANK and is strict about BLANK"
    assert candidate_word(two, "Brahmin is very religious and is strict about religious", "aligned") == "religious"
    assert candidate_word(two, "Brahmin is very religious and is strict about religious") == "religious"


def test_loader_keeps_intrasentence_with_line_number_ids_and_context_casing():
    examples = load_stereoset(FIXTURES / "stereoset_ok.jsonl")
    assert [e.example_id for e in examples] == [2, 4, 5]
    crimean = examples[1]
    assert [c.word for c in crimean.candidates] == ["boring", "funny", "roof"]
    assert crimean.candidates[0].text == "The Crimean people I met were boring"  # context casing kept
    reqs = requests_for(examples, subtoken_rule="in_context")
    assert len(reqs) == 9
    for req, cand in zip(reqs, (c for e in examples for c in e.candidates)):
        (start, end), = req.score_char_spans
        assert req.text[start:end] == cand.word
    assert examples[2].candidates[0].text == "The grandfather protecteded the grandchildren."  # official quirk
    aligned = load_stereoset(FIXTURES / "stereoset_ok.jsonl", word_rule="aligned")
    assert aligned[2].candidates[0].text == "The grandfather protected the grandchildren."


@pytest.mark.parametrize(("name", "line", "what"), [
    ("stereoset_bad_json.jsonl", 2, "invalid JSON"),
    ("stereoset_bad_blank.jsonl", 2, "context has no BLANK"),
])
def test_malformed_jsonl_names_file_and_line(name, line, what):
    with pytest.raises(DataError, match=rf"{name}:{line}: {what}"):
        load_stereoset(FIXTURES / name)


def test_compute_checks_alignment_and_options():
    with pytest.raises(ValueError, match="3 TokenScores for 6 requests"):
        compute([example("a"), example("b")], [one_token(0.1)] * 3)
    with pytest.raises(ValueError, match="aggregate"):
        compute([example("a")], [one_token(0.1)] * 3, aggregate="sum")


def test_requests_for_checks_the_rule_and_needs_a_tokenizer_for_the_official_rule():
    examples = load_stereoset(FIXTURES / "stereoset_ok.jsonl")
    with pytest.raises(ValueError, match="subtoken_rule"):
        requests_for(examples, subtoken_rule="prefix")
    with pytest.raises(ValueError, match="needs the model's tokenizer"):
        requests_for(examples)
    with pytest.raises(ValueError, match="subtoken_rule"):
        compute([example("a")], [one_token(0.1)] * 3, subtoken_rule="prefix")
    assert compute([example("a")], [one_token(0.1)] * 3).options == {"aggregate": "mean_prob",
                                                                     "subtoken_rule": "official"}
