"""Bootstrap CIs of every benchmark: estimates equal the reported numbers, resamples equal brute force,
and on synthetic score vectors the intervals agree with the normal (Wald) approximation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm

from babybias.metrics import blimp, crows_pairs, perplexity, seat, stereoset
from babybias.metrics.blimp import BlimpPair
from babybias.metrics.crows_pairs import CrowsPair
from babybias.metrics.intervals import mean_intervals
from babybias.metrics.requests import TokenScores
from babybias.metrics.stereoset import Candidate, StereoSetExample
from babybias.uncertainty import Resampling

Z = norm.ppf(0.975)


def wald(p: float, n: int) -> tuple[float, float]:
    """The normal-approximation 95% interval of a percentage p (in %) from n binary items."""
    half = Z * math.sqrt(p / 100 * (1 - p / 100) / n) * 100
    return p - half, p + half


def tokens(logprobs) -> TokenScores:
    return TokenScores(range(len(logprobs)), [(i, i + 1) for i in range(len(logprobs))], logprobs)


def crows_inputs(n: int, seed: int = 0):
    """n pairs whose outcome is 'more' with probability 0.58 (ties impossible): the same ids, shared-token scores."""
    rng = np.random.default_rng(seed)
    pairs, scores = [], []
    for k in range(n):
        direction = "stereo" if rng.random() < 0.85 else "antistereo"
        pairs.append(CrowsPair(k, k + 2, "more", "less", direction, ("gender", "race", "age")[k % 3]))
        more_wins = rng.random() < 0.58
        hi, lo = [-1.0, -1.0, -1.0], [-1.0, -2.5, -1.0]
        scores += [tokens(hi if more_wins else lo), tokens(lo if more_wins else hi)]
    return pairs, scores


def test_crows_pairs_interval_matches_the_normal_approximation_of_a_proportion():
    pairs, scores = crows_inputs(1508)
    result = crows_pairs.compute(pairs, scores, resampling=Resampling(n_resamples=2000, seed=1))
    overall = result.intervals["metric_score"]
    assert overall["estimate"] == pytest.approx(result.summary["metric_score"])
    assert overall["n_items"] == 1508 and overall["n_resamples"] == 2000 and overall["level"] == 0.95
    low, high = wald(result.summary["metric_score"], 1508)  # ~ +-2.5 points
    assert (overall["low"], overall["high"]) == pytest.approx((low, high), abs=0.4)
    stereo = [r for r in result.rows if r["direction"] == "stereo"]
    low, high = wald(result.summary["stereo_score"], len(stereo))
    assert (result.intervals["stereo_score"]["low"], result.intervals["stereo_score"]["high"]) == pytest.approx(
        (low, high), abs=0.5)
    for bias, numbers in result.per_category.items():  # per bias type: its own items, its own numbers
        interval = result.intervals[f"{bias}/metric_score"]
        assert interval["estimate"] == pytest.approx(numbers["metric_score"])
        assert interval["n_items"] == numbers["n_pairs"]
        assert interval["low"] < numbers["metric_score"] < interval["high"]
        assert f"{bias}/antistereo_score" in result.intervals
    assert crows_pairs.compute(pairs, scores, resampling=None).intervals == {}


def test_mean_intervals_is_the_helper_for_new_benchmarks():
    values = (np.random.default_rng(2).random(1000) < 0.3).astype(float)
    categories = np.where(np.arange(1000) < 400, "a", "b")
    got = mean_intervals(values, categories, key="accuracy", resampling=Resampling(n_resamples=2000))
    for key, chosen in (("accuracy", slice(None)), ("a/accuracy", slice(0, 400)), ("b/accuracy", slice(400, None))):
        p = 100 * values[chosen].mean()
        assert got[key]["estimate"] == pytest.approx(p)
        assert (got[key]["low"], got[key]["high"]) == pytest.approx(wald(p, values[chosen].size), abs=0.5)


def stereoset_inputs(n_targets: int, per_target: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    examples, scores = [], []
    for k in range(n_targets * per_target):
        target = f"t{k % n_targets}"
        cands = tuple(Candidate(label, "s", "w", "It is w.", (6, 7))
                      for label in ("stereotype", "anti-stereotype", "unrelated"))
        domain = ("gender", "race")[k % n_targets % 2]
        examples.append(StereoSetExample(k, target, domain, "It is BLANK.", cands))
        stereo, anti = rng.random(2) * 0.5 + (0.1 if rng.random() < 0.6 else 0.0, 0.0)
        unrelated = rng.random() * 0.4
        scores += [tokens([math.log(p)]) for p in (stereo, anti, unrelated)]
    return examples, scores


def test_stereoset_intervals_recompute_lms_ss_icat_from_the_same_resample():
    examples, scores = stereoset_inputs(12, 10)
    resampling = Resampling(n_resamples=200, seed=5)
    result = stereoset.compute(examples, scores, resampling=resampling)
    for key in ("lms", "ss", "icat"):
        assert result.intervals[key]["estimate"] == pytest.approx(result.summary[key])
        for domain in ("gender", "race"):
            assert result.intervals[f"{domain}/{key}"]["estimate"] == pytest.approx(result.per_category[domain][key])
    # brute force: the official scores of each resample of the examples (the same draws for this seed)
    idx = np.random.default_rng(5).integers(0, len(result.rows), size=(200, len(result.rows)))
    brute = [stereoset.stereoset_scores([result.rows[i] for i in draw]) for draw in idx]
    for key in ("lms", "ss", "icat"):
        want = np.quantile([b[key] for b in brute], [0.025, 0.975])
        assert (result.intervals[key]["low"], result.intervals[key]["high"]) == pytest.approx(tuple(want), rel=1e-9)


def test_stereoset_ss_interval_matches_the_normal_approximation():
    examples, scores = stereoset_inputs(50, 40, seed=3)  # equal-size targets: SS is a plain proportion
    result = stereoset.compute(examples, scores, resampling=Resampling(n_resamples=2000))
    low, high = wald(result.summary["ss"], 2000)
    assert (result.intervals["ss"]["low"], result.intervals["ss"]["high"]) == pytest.approx((low, high), abs=0.4)


def test_seat_effect_size_of_counts_equals_weat_on_the_resampled_sets():
    rng = np.random.default_rng(0)
    X, Y, A, B = (rng.normal(size=(n, 8)) for n in (6, 7, 5, 4))
    statistic = seat.effect_size_statistics(X, Y, A, B)
    assert statistic(np.ones((1, 22)))[0] == pytest.approx(seat.weat_effect_size(X, Y, A, B))
    picks = [rng.integers(0, len(s), size=len(s)) for s in (X, Y, A, B)]
    counts = np.concatenate([np.bincount(p, minlength=len(s)) for p, s in zip(picks, (X, Y, A, B))])[None, :]
    resampled = seat.weat_effect_size(*(s[p] for p, s in zip(picks, (X, Y, A, B))))
    assert statistic(counts.astype(float))[0] == pytest.approx(resampled)


def test_seat_result_carries_per_test_and_group_intervals():
    rng = np.random.default_rng(1)
    tests, embeddings = [], {}
    for name in seat.TEST_GROUPS["gender"]:
        words = {k: tuple(f"{name}-{k}-{i}" for i in range(8)) for k in seat.SETS}
        tests.append(seat.SeatTest(name, tuple(seat.SETS), *(words[k] for k in seat.SETS)))
        direction = rng.normal(size=16)
        for k, sign in zip(seat.SETS, (1, -1, 1, -1)):  # X near A, Y near B: a planted large effect
            for w in words[k]:
                embeddings[w] = sign * direction + 0.8 * rng.normal(size=16)
    result = seat.compute(tests, embeddings, n_samples=100, resampling=Resampling(n_resamples=1000))
    for row in result.rows:
        interval = result.intervals[f"{row['test']}/effect_size"]
        assert interval["estimate"] == pytest.approx(row["effect_size"]) and interval["n_items"] == 32
        assert 0 < interval["low"] < row["effect_size"] < interval["high"]
    aggregate = result.intervals["gender_mean_abs_effect_size"]
    assert aggregate["estimate"] == pytest.approx(result.summary["gender_mean_abs_effect_size"])
    assert aggregate["high"] - aggregate["low"] < np.mean(
        [result.intervals[f"{t.name}/effect_size"]["high"] - result.intervals[f"{t.name}/effect_size"]["low"]
         for t in tests])  # averaging six independent tests narrows the interval


def test_blimp_intervals_macro_and_per_phenomenon_match_the_normal_approximation():
    rng = np.random.default_rng(4)
    accuracy = {"p1": 0.9, "p2": 0.7, "p3": 0.6, "p4": 0.8}
    pairs, scores = [], []
    for uid, p in accuracy.items():
        for k in range(1000):
            pairs.append(BlimpPair(uid, "syntax" if uid < "p3" else "semantics", "", str(k), k + 1, "g", "b"))
            good = rng.random() < p
            scores += [tokens([-1.0 if good else -2.0]), tokens([-2.0 if good else -1.0])]
    result = blimp.compute(pairs, scores, resampling=Resampling(n_resamples=2000))
    for key in ("accuracy", "accuracy_micro", "field/syntax", "field/semantics"):
        assert result.intervals[key]["estimate"] == pytest.approx(result.summary[key])
    observed = {uid: c["accuracy"] / 100 for uid, c in result.per_category.items()}
    se_macro = math.sqrt(sum(q * (1 - q) / 1000 for q in observed.values())) / 4 * 100
    macro = result.summary["accuracy"]
    assert (result.intervals["accuracy"]["low"], result.intervals["accuracy"]["high"]) == pytest.approx(
        (macro - Z * se_macro, macro + Z * se_macro), abs=0.2)
    for uid, q in observed.items():
        interval = result.intervals[f"{uid}/accuracy"]
        assert interval["n_items"] == 1000
        assert (interval["low"], interval["high"]) == pytest.approx(wald(100 * q, 1000), abs=0.5)


def test_pseudo_perplexity_interval_resamples_texts():
    rng = np.random.default_rng(6)
    scores = [tokens(list(-rng.random(rng.integers(2, 9)) * 4)) for _ in range(300)]
    result = perplexity.compute(["t"] * 300, scores, resampling=Resampling(n_resamples=300, seed=2))
    interval = result.intervals["pppl"]
    assert interval["estimate"] == pytest.approx(result.summary["pppl"])
    idx = np.random.default_rng(2).integers(0, 300, size=(300, 300))
    brute = [perplexity.pseudo_perplexity([scores[i] for i in draw]) for draw in idx]
    assert (interval["low"], interval["high"]) == pytest.approx(tuple(np.quantile(brute, [0.025, 0.975])), rel=1e-9)
