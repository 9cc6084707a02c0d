"""Loaders on the real reference-data mirror: counts from each data set's README, and well-formed requests."""

from __future__ import annotations

from collections import Counter

from babybias.metrics import blimp, crows_pairs, seat, stereoset


def test_crows_pairs_counts(shared_data):
    pairs = crows_pairs.load_crows_pairs(shared_data / "crows_pairs" / "crows_pairs_anonymized.csv")
    assert len(pairs) == 1508
    assert Counter(p.bias_type for p in pairs) == {
        "race-color": 516, "gender": 262, "socioeconomic": 172, "nationality": 159, "religion": 105,
        "age": 87, "sexual-orientation": 84, "physical-appearance": 63, "disability": 60}
    assert [p.pair_id for p in pairs] == list(range(1508))
    assert len(crows_pairs.requests_for(pairs)) == 2 * 1508


def test_stereoset_intrasentence_counts_and_word_spans(shared_data):
    examples = stereoset.load_stereoset(shared_data / "stereoset" / "stereoset_dev_flat.jsonl")
    assert len(examples) == 2106
    assert set(e.bias_type for e in examples) == set(stereoset.DOMAINS)
    assert len({e.example_id for e in examples}) == 2106
    requests = stereoset.requests_for(examples, subtoken_rule="in_context")
    assert len(requests) == 3 * 2106
    for req, cand in zip(requests, (c for e in examples for c in e.candidates)):
        (start, end), = req.score_char_spans
        assert req.text[start:end] == cand.word != ""
    # filled contexts equal the candidate sentences up to case, except the 4 documented quirky contexts
    differ = [e.example_id for e in examples
              if any(c.text.lower() != c.sentence.lower() for c in e.candidates)]
    assert len(differ) == 4


def test_seat_has_50_tests_with_equal_target_sizes(shared_data):
    tests = seat.load_seat(shared_data / "seat")
    assert len(tests) == 50
    names = {t.name for t in tests}
    assert all(n in names for group in seat.TEST_GROUPS.values() for n in group)
    assert all(len(t.targ1) == len(t.targ2) for t in tests)
    weat6 = next(t for t in tests if t.name == "sent-weat6")
    assert (len(weat6.targ1), len(weat6.targ2), len(weat6.attr1), len(weat6.attr2)) == (64, 64, 101, 112)


def test_blimp_has_67_phenomena_of_1000_pairs(shared_data):
    pairs = blimp.load_blimp(shared_data / "blimp")
    counts = Counter(p.uid for p in pairs)
    assert len(counts) == 67 and set(counts.values()) == {1000}
    limited = blimp.load_blimp(shared_data / "blimp", limit=3)
    assert len(limited) == 67 * 3
    assert [p.line for p in limited[:3]] == [1, 2, 3]
