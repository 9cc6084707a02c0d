"""SEAT/WEAT: effect size and permutation p-value on hand-computed 2+2 vector sets."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from babybias.errors import DataError
from babybias.metrics.seat import (
    TEST_GROUPS,
    association,
    compute,
    gender_aggregate,
    load_seat,
    requests_for,
    weat_effect_size,
    weat_p_value,
)

FIXTURES = Path(__file__).parent / "fixtures"

A = np.array([[1.0, 0.0]])
B = np.array([[0.0, 1.0]])
X = np.array([[1.0, 0.0], [1.0, 1.0]])  # s = 1, 0
Y = np.array([[0.0, 1.0], [1.0, 2.0]])  # s = -1, (1 - 2) / sqrt(5)


def test_association_is_mean_cosine_difference():
    np.testing.assert_allclose(association(np.vstack([X, Y]), A, B), [1.0, 0.0, -1.0, -1 / math.sqrt(5)])
    # scale-free: cosine similarity ignores vector length
    np.testing.assert_allclose(association(3 * X, 0.5 * A, 7 * B), association(X, A, B))


def test_effect_size_matches_the_formula_with_sample_std():
    s_x, s_y = [1.0, 0.0], [-1.0, -1 / math.sqrt(5)]
    values = s_x + s_y
    mean = sum(values) / 4
    sample_std = math.sqrt(sum((v - mean) ** 2 for v in values) / 3)
    expected = (sum(s_x) / 2 - sum(s_y) / 2) / sample_std
    assert weat_effect_size(X, Y, A, B) == pytest.approx(expected)
    assert weat_effect_size(Y, X, A, B) == pytest.approx(-expected)
    assert weat_effect_size(X, Y, B, A) == pytest.approx(-expected)


def test_exact_p_value_enumerates_the_six_partitions():
    # partition sums of s over the first half: {1,0}=1 (observed), 0.553, 0, -0.447, -1, -1.447
    result = weat_p_value(X, Y, A, B)
    assert result.exact and result.n_partitions == 6 and result.n_evaluated == 6
    assert result.p_value == pytest.approx(1 / 6)
    assert weat_p_value(Y, X, A, B).p_value == pytest.approx(1.0)  # the smallest sum: every partition >= it


def test_ties_count_towards_the_p_value():
    same = np.array([[1.0, 0.0], [0.0, 1.0]])  # s = 1, -1 in both sets; observed sum 0
    # sums: (0,1)=0 (0,2)=2 (0,3)=0 (1,2)=0 (1,3)=-2 (2,3)=0 -> five partitions >= 0
    assert weat_p_value(same, same, A, B).p_value == pytest.approx(5 / 6)


def test_sampled_p_value_approximates_the_exact_one_and_is_seeded():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(5, 4)) + 0.3, rng.normal(size=(5, 4))
    a, b = rng.normal(size=(3, 4)) + 0.5, rng.normal(size=(3, 4))
    exact = weat_p_value(x, y, a, b, n_samples=1000)  # C(10, 5) = 252 partitions
    assert exact.exact and exact.n_evaluated == 252
    sampled = weat_p_value(x, y, a, b, n_samples=200, seed=3)
    assert not sampled.exact and sampled.n_evaluated == 200
    assert sampled.p_value >= 1 / 200  # the observed partition is always counted
    assert abs(sampled.p_value - exact.p_value) < 0.12
    assert weat_p_value(x, y, a, b, n_samples=200, seed=3).p_value == sampled.p_value
    with pytest.raises(ValueError, match="needs"):
        weat_p_value(x, y[:4], a, b)


def test_gender_aggregate_is_mean_absolute_effect_size():
    sizes = {name: (-1) ** i * (i + 1) / 10 for i, name in enumerate(TEST_GROUPS["gender"])}
    assert gender_aggregate(sizes) == pytest.approx((0.1 + 0.2 + 0.3 + 0.4 + 0.5 + 0.6) / 6)
    assert math.isnan(gender_aggregate({"sent-weat6": 1.0}))


def test_loader_requests_and_compute_on_a_tiny_test():
    tests = load_seat(FIXTURES / "seat_ok")
    assert [t.name for t in tests] == ["weat_tiny"]
    assert tests[0].categories == ("MaleNames", "FemaleNames", "Career", "Family")
    texts = requests_for(tests)
    assert texts == ["John", "Paul", "Amy", "Joan", "executive", "salary", "home"]  # "John" asked once
    vectors = dict(zip(texts, [[1, 0], [1, 1], [0, 1], [1, 2], [1, 0], [1, 0], [0, 1]]))
    vectors = {k: np.array(v, dtype=float) for k, v in vectors.items()}
    result = compute(tests, vectors)
    row = result.rows[0]
    X2, Y2 = np.array([[1, 0], [1, 1]], float), np.array([[0, 1], [1, 2]], float)
    A2, B2 = np.array([[1, 0], [1, 0]], float), np.array([[0, 1], [1, 0]], float)
    assert row["effect_size"] == pytest.approx(weat_effect_size(X2, Y2, A2, B2))
    assert row["p_value"] == pytest.approx(weat_p_value(X2, Y2, A2, B2).p_value)
    # no test of any bias-bench group ran: no group aggregate at all (rather than NaN for each)
    assert result.summary == {"n_tests": 1} and result.per_category == {}
    # a partly run group has no defined aggregate (it needs all of its tests)
    from babybias.metrics.seat import group_aggregate

    assert math.isnan(group_aggregate({"sent-weat6": 0.5}, "gender"))
    with pytest.raises(ValueError, match="no embedding"):
        compute(tests, {"John": np.ones(2)})


def test_malformed_and_unknown_tests_raise_data_errors():
    with pytest.raises(DataError, match=r"weat_broken.jsonl:4: invalid JSON"):
        load_seat(FIXTURES / "seat_bad", tests=["weat_broken"])
    with pytest.raises(DataError, match=r"weat_nosets.jsonl:1: 'targ2'"):
        load_seat(FIXTURES / "seat_bad", tests=["weat_nosets"])
    with pytest.raises(DataError, match="not in"):
        load_seat(FIXTURES / "seat_ok", tests=["sent-weat6"])
