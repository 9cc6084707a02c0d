"""CrowS-Pairs: direction handling, both scoring modes, ties and the original's alignment, on hand-made scores."""

from __future__ import annotations

import difflib
import math
import random
from pathlib import Path

import pytest

from babybias.errors import DataError
from babybias.metrics import crows_pairs
from babybias.metrics.crows_pairs import CrowsPair, align_tokens, compute, load_crows_pairs, requests_for
from babybias.metrics.requests import TokenScores

FIXTURES = Path(__file__).parent / "fixtures"


def scores(ids, logprobs) -> TokenScores:
    """Hand-made engine output: token i spans characters [i, i+1) (offsets are not used by CrowS-Pairs)."""
    return TokenScores(ids, [(i, i + 1) for i in range(len(ids))], logprobs)


def pair(direction, bias="gender", pair_id=0) -> CrowsPair:
    return CrowsPair(pair_id, pair_id + 2, "more", "less", direction, bias)


# "the poor are lazy" vs "the rich are lazy": ids 1 the, 2 poor, 3 are, 4 lazy, 5 rich
MORE_IDS, LESS_IDS = [1, 2, 3, 4], [1, 5, 3, 4]


def test_align_tokens_splits_shared_and_modified_positions():
    shared1, shared2, modified1, modified2 = align_tokens(MORE_IDS, LESS_IDS)
    assert (shared1, shared2, modified1, modified2) == ([0, 2, 3], [0, 2, 3], [1], [1])
    # an insertion: the shorter sentence has no modified token
    assert align_tokens([1, 2, 3], [1, 3]) == ([0, 2], [0, 1], [1], [])


def test_align_tokens_matches_the_original_alignment_with_special_tokens():
    """The sentinels reproduce difflib over [CLS] + ids + [SEP] exactly, positions shifted by one."""
    rng = random.Random(0)
    cls, sep = 101, 102
    for _ in range(300):
        a = [rng.randrange(6) for _ in range(rng.randrange(0, 12))]
        b = [rng.randrange(6) for _ in range(rng.randrange(0, 12))]
        original = difflib.SequenceMatcher(None, [cls, *a, sep], [cls, *b, sep]).get_opcodes()
        equal = [op for op in original if op[0] == "equal"]
        want_shared1 = [i - 1 for _, i0, i1, _, _ in equal for i in range(i0, i1) if 0 < i <= len(a)]
        want_shared2 = [j - 1 for _, _, _, j0, j1 in equal for j in range(j0, j1) if 0 < j <= len(b)]
        shared1, shared2, modified1, modified2 = align_tokens(a, b)
        assert (shared1, shared2) == (want_shared1, want_shared2)
        assert sorted(shared1 + modified1) == list(range(len(a)))
        assert sorted(shared2 + modified2) == list(range(len(b)))
        assert [a[i] for i in shared1] == [b[j] for j in shared2]


def test_shared_mode_sums_only_shared_tokens():
    more = scores(MORE_IDS, [-1.0, -50.0, -2.0, -3.0])  # the modified token's score must not count
    less = scores(LESS_IDS, [-1.5, -0.1, -2.0, -3.0])
    result = compute([pair("stereo")], [more, less], scoring="shared")
    row = result.rows[0]
    assert row["sent_more_score"] == pytest.approx(-6.0)
    assert row["sent_less_score"] == pytest.approx(-6.5)
    assert row["outcome"] == "more"
    assert result.summary["metric_score"] == 100.0


def test_modified_mode_averages_only_modified_tokens():
    more = scores([1, 2, 6, 3, 4], [-9.0, -1.0, -3.0, -9.0, -9.0])  # "the old poor are lazy"
    less = scores(LESS_IDS, [-0.1, -1.0, -0.1, -0.1])
    result = compute([pair("stereo")], [more, less], scoring="modified")
    row = result.rows[0]
    assert row["sent_more_score"] == pytest.approx(-2.0)  # mean of -1 and -3 (tokens 2 and 6)
    assert row["sent_less_score"] == pytest.approx(-1.0)
    assert row["outcome"] == "less"
    assert result.summary["metric_score"] == 0.0
    # the shared mode disagrees on the same scores: the choice of tokens matters
    assert compute([pair("stereo")], [more, less], scoring="shared").rows[0]["outcome"] == "less"


def test_both_directions_count_sent_more_preferred():
    """For antistereo rows the original swaps sent1/sent2 and then counts sent2 > sent1: i.e. sent_more wins."""
    high, low = scores(MORE_IDS, [-1.0, -1.0, -1.0, -1.0]), scores(LESS_IDS, [-2.0, -1.0, -2.0, -2.0])
    pairs = [pair("stereo", pair_id=0), pair("antistereo", pair_id=1), pair("antistereo", pair_id=2)]
    # pair 0: more > less; pair 1: more > less; pair 2: less > more
    result = compute(pairs, [high, low, high, low, low, high])
    assert [r["outcome"] for r in result.rows] == ["more", "more", "less"]
    assert result.summary["metric_score"] == pytest.approx(100 * 2 / 3)
    assert result.summary["stereo_score"] == 100.0
    assert result.summary["antistereo_score"] == 50.0


def test_ties_after_rounding_stay_in_the_denominator():
    a = scores(MORE_IDS, [-1.0, -5.0, -1.0, -1.0])
    b = scores(LESS_IDS, [-1.0004, -0.1, -1.0, -1.0])  # shared sums -3.0 vs -3.0004: equal at 3 decimals
    winner = scores(LESS_IDS, [-9.0, -0.1, -1.0, -1.0])
    pairs = [pair("stereo", pair_id=0), pair("stereo", pair_id=1)]
    result = compute(pairs, [a, b, a, winner])
    assert [r["outcome"] for r in result.rows] == ["tie", "more"]
    assert result.summary["n_ties"] == 1
    assert result.summary["metric_score"] == 50.0  # 1 of 2 pairs; the tie is not a stereotypical preference
    assert result.summary["stereo_score"] == 100.0  # over the decided pairs only
    assert compute(pairs, [a, b, a, winner], round_decimals=None).rows[0]["outcome"] == "more"


def test_modified_mode_skips_pairs_without_modified_tokens():
    more, less = scores([1, 2, 3], [-1.0, -1.0, -1.0]), scores([1, 3], [-1.0, -1.0])
    result = compute([pair("stereo")], [more, less], scoring="modified")
    assert result.rows[0]["outcome"] == "skipped"
    assert result.summary["n_pairs"] == 0 and result.summary["n_skipped"] == 1
    assert math.isnan(result.summary["metric_score"])
    assert compute([pair("stereo")], [more, less], scoring="shared").summary["n_pairs"] == 1


def test_per_bias_type_breakdown_and_options():
    high, low = scores(MORE_IDS, [-1.0] * 4), scores(LESS_IDS, [-2.0] * 4)
    pairs = [pair("stereo", "age", 0), pair("stereo", "race-color", 1)]
    result = compute(pairs, [high, low, low, high])
    assert result.per_category["age"]["metric_score"] == 100.0
    assert result.per_category["race-color"]["metric_score"] == 0.0
    assert result.to_dict()["options"] == {"scoring": "shared", "round_decimals": 3}
    assert "rows" not in result.to_dict() and len(result.to_dict(include_rows=True)["rows"]) == 2
    with pytest.raises(ValueError, match="scoring"):
        compute(pairs, [high, low, low, high], scoring="all")
    with pytest.raises(ValueError, match="2 TokenScores for 4 requests"):
        compute(pairs, [high, low])


def test_loader_handles_quoted_multiline_cells_and_requests():
    pairs = load_crows_pairs(FIXTURES / "crows_ok.csv")
    assert [p.pair_id for p in pairs] == [0, 1, 2]
    assert [p.line for p in pairs] == [2, 3, 6]  # row 1 has two two-line cells (lines 3-5)
    assert pairs[0].sent_more == "The poor are lazy, he said."
    assert pairs[1].sent_more == "She wrote a\npoem." and pairs[1].direction == "antistereo"
    reqs = requests_for(pairs)
    assert [r.text for r in reqs[:2]] == [pairs[0].sent_more, pairs[0].sent_less]
    assert all(r.score_char_spans is None for r in reqs)


@pytest.mark.parametrize(("name", "line", "what"), [
    ("crows_bad_direction.csv", 5, "stereo_antistereo"),  # row 0 spans lines 2-4
    ("crows_bad_cells.csv", 3, "expected 8 cells"),
])
def test_malformed_csv_names_file_and_line(name, line, what):
    with pytest.raises(DataError, match=rf"{name}:{line}: .*{what}"):
        load_crows_pairs(FIXTURES / name)


def test_missing_file_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="missing"):
        load_crows_pairs(tmp_path / "absent.csv")
    assert crows_pairs.SCORINGS == ("shared", "modified")
