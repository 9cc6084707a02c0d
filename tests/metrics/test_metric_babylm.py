"""The BabyLM fast set: the data selection, the pipeline's scoring rules on a planted model, temperatures."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from babybias.configs.evaluate import temperature_grid
from babybias.metrics import babylm
from babybias.metrics.requests import TokenScores
from babybias.scoring import ScoringEngine
from babybias.scoring.testing import PlantedLM, tiny_tokenizer


def test_fast_blimp_is_the_data_files_pair_ids_of_the_full_blimp(shared_data):
    """67 x 200, each pair the full BLiMP's pair with the same pairID, and not the first 200 of a paradigm."""
    items = babylm.load_suite(shared_data / "babylm_eval_fast", "blimp_fast")
    assert len(items) == 13_400 and len({c.uid for c in items}) == 67
    for file in sorted((shared_data / "babylm_eval_fast" / "blimp_fast").glob("*.jsonl")):
        ids = [str(json.loads(line)["pair_id"]) for line in file.read_text().splitlines()]
        assert [c.item for c in items if c.uid == file.stem] == ids
        full = {o["pairID"]: o for o in map(json.loads, (shared_data / "blimp" / file.name).read_text().splitlines())}
        mine = [c for c in items if c.uid == file.stem]
        assert all((full[c.item]["sentence_good"], full[c.item]["sentence_bad"]) == (c.good, c.bad) for c in mine)
        assert sorted(map(int, ids)) != list(range(200))
    supplement = babylm.load_suite(shared_data / "babylm_eval_fast", "blimp_supplement")
    assert len(supplement) == 250 and {c.field for c in supplement} == {"supplement"}
    assert sorted({c.uid for c in supplement}) == ["hypernym", "qa_congruence_easy", "qa_congruence_tricky",
                                                   "subject_aux_inversion", "turn_taking"]
    ewok = babylm.load_suite(shared_data / "babylm_eval_fast", "ewok")
    assert len(ewok) == 1_100 and len({c.uid for c in ewok}) == 11
    both = babylm.load_suite(shared_data / "babylm_eval_fast", "ewok", "both")
    assert len(both) == 2_200


def _write(folder: Path, name: str, records: list[dict]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


@pytest.fixture()
def planted():
    """A tokenizer and a model that predicts softmax(logits) at every mask; `cat` is planted far above `dog`."""
    tokenizer = tiny_tokenizer()
    logits = np.zeros(len(tokenizer), dtype=np.float32)
    vocab = tokenizer.get_vocab()
    logits[vocab["cat"]], logits[vocab["dog"]], logits[vocab["the"]] = 6.0, -2.0, 3.0
    return tokenizer, logits


def _logp(tokenizer, logits, text: str, temperature: float = 1.0) -> float:
    z = logits.astype(np.float64) / temperature
    lse = math.log(np.exp(z - z.max()).sum()) + z.max()
    return sum(z[i] - lse for i in tokenizer(text, add_special_tokens=False)["input_ids"])


def test_minimal_pairs_on_a_planted_model_macro_average_and_ties(tmp_path, planted):
    tokenizer, logits = planted
    folder = tmp_path / "pairs"
    _write(folder, "p1", [{"sentence_good": "the cat", "sentence_bad": "the dog", "UID": "p1", "field": "syntax"},
                          {"sentence_good": "the dog", "sentence_bad": "the cat", "UID": "p1", "field": "syntax"},
                          {"sentence_good": "cat the", "sentence_bad": "the cat", "UID": "p1", "field": "syntax"}])
    _write(folder, "turn_taking", [{"sentence_good": "a cat", "sentence_bad": "a dog", "row": 1}])
    items = babylm.load_minimal_pairs(folder)
    assert [(c.uid, c.field) for c in items] == [("p1", "syntax")] * 3 + [("turn_taking", "supplement")]
    engine = ScoringEngine(PlantedLM(logits), tokenizer, progress=False)
    scores = engine.score_temperatures(babylm.requests_for(items), (1.0,))
    for k, c in enumerate(items):  # sentence score = sum of every token's log-probability (PLL)
        assert scores[1.0][2 * k].total == pytest.approx(_logp(tokenizer, logits, c.good), abs=1e-4)
    result = babylm.compute(items, scores, "blimp_fast")
    # p1: right, wrong, a tie (same tokens, other order: the planted model cannot tell) counted right -> 2/3
    assert [r["correct"] for r in result.rows] == [True, False, True, True]
    assert result.summary["n_ties"] == 1
    assert result.per_category["p1"]["accuracy"] == pytest.approx(200 / 3)
    assert result.summary["accuracy"] == pytest.approx((200 / 3 + 100) / 2)  # macro over UIDs
    assert result.summary["accuracy_micro"] == pytest.approx(75.0)
    assert result.options["column"] == "blimp"
    ci = result.intervals["accuracy"]
    assert ci["low"] <= result.summary["accuracy"] <= ci["high"] and ci["n_items"] == 4


def test_ewok_scores_only_the_target_with_the_context_present(tmp_path, planted):
    tokenizer, logits = planted
    _write(tmp_path / "ewok", "social", [{"Domain": "social", "Context1": "a dog runs", "Context2": "the cat runs",
                                          "Target1": "the cat", "Target2": "the dog"}])
    one = babylm.load_ewok(tmp_path / "ewok")
    assert [(c.good, c.bad) for c in one] == [("a dog runs the cat", "a dog runs the dog")]
    engine = ScoringEngine(PlantedLM(logits), tokenizer, progress=False)
    scores = engine.score(babylm.requests_for(one))
    assert scores[0].offsets == ((11, 14), (15, 18))  # "the", "cat": the context's tokens are not scored
    assert scores[0].total == pytest.approx(_logp(tokenizer, logits, "the cat"), abs=1e-4)
    both = babylm.load_ewok(tmp_path / "ewok", "both")
    # the mirror: given Context2, Target2 is the right one; the planted model still prefers "cat" -> wrong
    assert [(c.item, c.good, c.bad) for c in both][1] == ("social:1:context2", "the cat runs the dog", "the cat runs the cat")
    result = babylm.compute(both, {1.0: engine.score(babylm.requests_for(both))}, "ewok")
    assert [r["correct"] for r in result.rows] == [True, False] and result.summary["accuracy"] == 50.0


def test_temperature_sweep_is_monotone_on_a_constructed_example():
    """Score(T) = sum_tokens (z_w / T - logsumexp(z / T)): the good candidate has fewer but rarer tokens, so it
    loses at low T and wins at high T (towards uniform predictions only length counts). Item k flips at its own
    temperature, so accuracy cannot fall as T grows, and it equals the number of flipped items."""
    z = np.array([4.0, 0.0, 1.0, 2.0, 3.0])  # token 0 frequent; tokens 1..4 rarer, each one good candidate
    temperatures = temperature_grid(0.5, 6.0, 0.5)

    def score(tokens, t):
        lse = math.log(np.exp(z / t).sum())
        return TokenScores(range(len(tokens)), [(i, i + 1) for i in range(len(tokens))], [z[w] / t - lse for w in tokens])

    items = [babylm.Comparison("u", str(k), "good", "bad") for k in range(1, 5)]
    scores = {t: [s for k in range(1, 5) for s in (score([k], t), score([0, 0], t))] for t in temperatures}
    result = babylm.compute(items, scores, "blimp_fast")
    curve = [result.summary["accuracy_by_temperature"][f"{t:g}"] for t in temperatures]
    assert curve == sorted(curve) and curve[0] == 0.0 and curve[-1] == 100.0
    for t, accuracy in zip(temperatures, curve):  # good wins iff z_k/T - lse > 2 (z_0/T - lse) <=> lse > (8 - z_k)/T
        lse = math.log(np.exp(z / t).sum())
        assert accuracy == 25.0 * sum(lse > (8 - z[k]) / t for k in range(1, 5))
    assert result.summary["best_temperature"] == next(t for t, a in zip(temperatures, curve) if a == 100.0)
    assert result.summary["accuracy"] == result.summary["accuracy_by_temperature"]["1"]


def test_temperature_grid_and_engine_temperatures(planted):
    assert temperature_grid(1.0, 2.0, 0.05)[-1] == 2.0 and len(temperature_grid(1.0, 2.0, 0.05)) == 21
    assert temperature_grid(1.0, None, 0.05) == (1.0,)
    tokenizer, logits = planted
    engine = ScoringEngine(PlantedLM(logits), tokenizer, progress=False)
    from babybias.metrics.requests import TokenScoreRequest

    request = [TokenScoreRequest("the cat runs home")]
    swept = engine.score_temperatures(request, (1.0, 0.5, 3.0))
    assert swept[1.0][0].logprobs == engine.score(request)[0].logprobs  # T = 1: the same bits as score()
    for t in (0.5, 3.0):
        assert swept[t][0].total == pytest.approx(_logp(tokenizer, logits, "the cat runs home", t), abs=1e-4)
    with pytest.raises(ValueError, match="distinct positive"):
        engine.score_temperatures(request, (1.0, 0.0))
    with pytest.raises(ValueError, match="must include 1.0"):
        babylm.compute([], {2.0: []}, "ewok")
