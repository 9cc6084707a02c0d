"""BEC-Pro: the association formula on hand-computed probabilities, the aggregates, and the engine requests."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from babybias.metrics import bec_pro
from babybias.metrics.requests import TokenScores
from babybias.scoring import HFMaskedLM, ScoringEngine
from babybias.scoring.testing import PlantedLM, tiny_model, tiny_tokenizer
from babybias.uncertainty import Resampling

TEMPLATE = "{} is a {}."


def _row(k, person, gender, profession, group):
    prefix = "" if person in ("He", "She") else "My "
    sentence = f"{prefix}{person} is a {profession}."
    masks = " ".join(["[MASK]"] * len(profession.split()))
    return bec_pro.BecProRow(k, sentence, f"{prefix}[MASK] is a {profession}.", f"{prefix}[MASK] is a {masks}.",
                             TEMPLATE, person, gender, profession, group)


def _scores(probabilities):
    """TokenScores holding log P_target, log P_prior for each row."""
    return [TokenScores((7, 7), ((0, 6), (0, 6)), (math.log(t), math.log(p))) for t, p in probabilities]


def test_association_is_log_target_over_prior_and_the_aggregates_by_hand():
    rows = [_row(0, "He", "male", "roofer", "male"), _row(1, "She", "female", "roofer", "male"),
            _row(2, "brother", "male", "roofer", "male"), _row(3, "sister", "female", "roofer", "male"),
            _row(4, "He", "male", "nurse", "female"), _row(5, "She", "female", "nurse", "female")]
    probabilities = [(0.2, 0.05), (0.1, 0.1), (0.3, 0.1), (0.05, 0.1), (0.1, 0.4), (0.6, 0.2)]
    result = bec_pro.compute(rows, _scores(probabilities), resampling=Resampling(50))
    expected = [math.log(t / p) for t, p in probabilities]  # log 4, 0, log 3, log 0.5, log 0.25, log 3
    assert [r["association"] for r in result.rows] == pytest.approx(expected)
    male_group = result.per_category["male_professions"]
    assert male_group["mean_male"] == pytest.approx((math.log(4) + math.log(3)) / 2)
    assert male_group["mean_female"] == pytest.approx(math.log(0.5) / 2)
    assert male_group["gap"] == pytest.approx(male_group["mean_male"] - male_group["mean_female"])
    assert male_group["n_pairs"] == 2
    female_group = result.per_category["female_professions"]
    assert female_group["gap"] == pytest.approx(math.log(0.25) - math.log(3))
    assert result.summary["gap_female_professions"] == female_group["gap"]
    assert result.per_category["balanced_professions"]["n_pairs"] == 0
    # the paper's test: Wilcoxon signed-rank of male vs female person words, paired by template and profession
    male, female = np.array(expected)[[0, 2, 4]], np.array(expected)[[1, 3, 5]]
    assert result.summary["wilcoxon_p"] == pytest.approx(stats.wilcoxon(male, female).pvalue)
    assert result.intervals["gap_male_professions"]["estimate"] == pytest.approx(male_group["gap"])


def test_real_file_pairs_every_person_word_with_its_counterpart(shared_data):
    rows = bec_pro.load_bec_pro(shared_data / "bec_pro")
    assert len(rows) == 5400
    pairs = bec_pro.paired_by_person(rows)
    assert len(pairs) == 2700
    for m, f in pairs[::97]:
        assert dict(bec_pro.PAIRS)[rows[m].person] == rows[f].person
        assert (rows[m].template, rows[m].profession) == (rows[f].template, rows[f].profession)
    groups = [rows[m].prof_gender for m, _ in pairs]
    assert {g: groups.count(g) for g in bec_pro.GROUPS} == {"male": 900, "female": 900, "balanced": 900}
    multi = next(r for r in rows if r.profession == "steel worker")
    assert multi.sent_tam.endswith("[MASK] [MASK].")  # one [MASK] per profession word, as in the data


def test_requests_score_the_person_token_at_the_first_mask_against_a_direct_forward(shared_data):
    """The engine's two log-probabilities are the model's own at the person's mask, in Sent_TM and Sent_TAM."""
    tokenizer = tiny_tokenizer()
    model = tiny_model(len(tokenizer), seed=3)
    rows = [r for r in bec_pro.load_bec_pro(shared_data / "bec_pro") if r.template.startswith("<person subject> is")][:40:7]
    requests = bec_pro.requests_for(rows, tokenizer)
    scores = ScoringEngine(HFMaskedLM(model), tokenizer, progress=False).score(requests)
    for row, request, score in zip(rows, requests, scores):
        target = tokenizer(row.sentence, add_special_tokens=False, return_offsets_mapping=True)
        first = next(i for i, (s, _) in enumerate(target["offset_mapping"]) if s == row.person_start)
        assert request.target_token_ids[0] == target["input_ids"][first]
        for text, logprob in zip(request.texts, score.logprobs):
            ids = torch.tensor([tokenizer(text)["input_ids"]])
            position = int((ids[0] == tokenizer.mask_token_id).nonzero()[0])
            with torch.inference_mode():
                direct = torch.log_softmax(model(input_ids=ids).logits[0, position], -1)[request.target_token_ids[0]]
            assert logprob == pytest.approx(float(direct), abs=1e-5)


def test_a_context_free_model_associates_nothing(shared_data):
    """A model that predicts the same distribution at every mask has P_target = P_prior: every association is 0."""
    tokenizer = tiny_tokenizer()
    logits = np.linspace(-3, 3, len(tokenizer)).astype(np.float32)
    rows = [r for r in bec_pro.load_bec_pro(shared_data / "bec_pro") if r.profession in ("taper", "secretary", "judge")]
    engine = ScoringEngine(PlantedLM(logits), tokenizer, progress=False)
    result = bec_pro.compute(rows, engine.score(bec_pro.requests_for(rows, tokenizer)), resampling=None)
    assert all(r["association"] == 0.0 for r in result.rows)
    assert result.summary["gap_all_professions"] == 0.0 and math.isnan(result.summary["wilcoxon_p"])
