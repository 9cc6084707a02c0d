"""INLP and SentenceDebias fit data are built as bias-bench builds them (planted lines; the old construction
drew 2,000 whole, cased sentences per class with the merged lexicon and swapped every gendered word at once)."""

from __future__ import annotations

import pytest

from babybias.debias.attribute_words import AttributeWords, read_attribute_file
from babybias.debias.sentences import counterfactual_examples, inlp_sentences


@pytest.fixture(scope="module")
def words(shared_data):
    path = shared_data / "bias_attribute_words" / "bias_attribute_words.json"
    return {t: read_attribute_file(path, t) for t in ("gender", "race", "religion")}


def _lines(n: int, template: str) -> list[str]:
    return [template.format(i=i) for i in range(n)]


def test_inlp_classes_follow_the_bias_attribute_words(words):
    lines = ["He told the doctor about item 1 today .",      # male (he)
             "The Queen told the doctor about item 2 .",     # female (queen), capitalised
             "My nephew told the doctor about item 3 .",     # nephew: merged lexicon only -> neutral here
             "He said , she told the doctor about it .",     # both genders -> skipped
             "Then he, the doctor , told us about it .",     # `he,` is not the word `he` -> neutral
             "He told her .",                                # under 5 tokens -> skipped
             "The dog told the doctor about item 7 ."]       # neutral
    chosen = inlp_sentences(lines, words["gender"], per_class=10, seed=0, clip=False, lowercase=False)
    lines_of = {label: sorted(n for n, _ in chosen.by_label[label]) for label in ("male", "female", "neutral")}
    assert lines_of == {"male": [1], "female": [2], "neutral": [3, 5, 7]}
    merged = AttributeWords("gender", words["gender"].tuples + (("nephew", "niece"),), "merged")
    assert [n for n, _ in inlp_sentences(lines, merged, 10, 0, clip=False).by_label["male"]] == [1, 3]


def test_inlp_sentences_are_clipped_after_the_attribute_word_and_lowercased(words):
    lines = _lines(200, "Yesterday the old King of item {i} walked very slowly to the big market .")
    lines += _lines(200, "Yesterday the old dog of item {i} walked very slowly to the big market .")
    chosen = inlp_sentences(lines, words["gender"], per_class=500, seed=0)
    male, neutral = [t for _, t in chosen.by_label["male"]], [t for _, t in chosen.by_label["neutral"]]
    assert len(male) == len(neutral) == 200 and chosen.by_label["female"] == []
    for text, (number, _) in zip(male, chosen.by_label["male"]):
        tokens = text.split(" ")
        assert text == text.lower()  # bias-bench lower-cases
        assert lines[number - 1].lower().split(" ")[: len(tokens)] == tokens  # a prefix of its line
        assert len(tokens) >= 4 and tokens[3] == "king"  # cut after a random token from the attribute word on
    assert {len(t.split(" ")) for t in male} == set(range(4, 16))  # 4 .. all 15 tokens, every cut drawn
    assert {len(t.split(" ")) for t in neutral} == set(range(4, 16))  # neutral: from the fourth token on
    kept_case = inlp_sentences(lines, words["gender"], per_class=500, seed=0, lowercase=False)
    assert all("King" in t for _, t in kept_case.by_label["male"])
    whole = inlp_sentences(lines, words["gender"], per_class=500, seed=0, clip=False)
    assert {len(t.split(" ")) for _, t in whole.by_label["male"]} == {15}


def test_inlp_clip_anchor_is_bias_benchs(words):
    """bias-bench cuts from `tokens.index(w)` of the last attribute word w met: the first occurrence of w."""
    line = "his dog saw that his cat ran away from home"  # last word met: `his` (index 4) -> anchor 0
    shortest = {len(t.split(" ")) for seed in range(60)
                for _, t in inlp_sentences([line], words["gender"], 1, seed).by_label["male"]}
    assert min(shortest) == 1
    line = "his dog saw that him cat ran away from home"  # last word met: `him` at 4 -> at least 5 tokens
    lengths = {len(t.split(" ")) for seed in range(60)
               for _, t in inlp_sentences([line], words["gender"], 1, seed).by_label["male"]}
    assert min(lengths) == 5 and max(lengths) == 10


def test_inlp_takes_a_seeded_sample_of_at_most_per_class(words):
    lines = _lines(50, "the man saw item {i} near the house") + _lines(50, "the woman saw item {i} near the house")
    lines += _lines(50, "the cat saw item {i} near the house")
    a = inlp_sentences(lines, words["gender"], per_class=10, seed=1)
    assert {k: len(v) for k, v in a.by_label.items()} == {"male": 10, "female": 10, "neutral": 10}
    assert a.by_label == inlp_sentences(lines, words["gender"], per_class=10, seed=1).by_label
    assert a.by_label != inlp_sentences(lines, words["gender"], per_class=10, seed=2).by_label


def test_inlp_race_and_religion_have_two_classes(words):
    lines = ["the black cat sat on the mat", "the church bell rang at noon today", "a plain day with no news"]
    race = inlp_sentences(lines, words["race"], 10, 0, clip=False)
    assert race.labels == ("bias", "neutral")
    assert [n for n, _ in race.by_label["bias"]] == [1] and [n for n, _ in race.by_label["neutral"]] == [2, 3]
    religion = inlp_sentences(lines, words["religion"], 10, 0, clip=False)
    assert [n for n, _ in religion.by_label["bias"]] == [2]


def test_sentence_debias_builds_one_pair_per_attribute_word(words):
    examples = counterfactual_examples(["The man told his son a story ."], words["gender"]).groups
    assert [versions for _, versions in examples] == [
        ("the man told his son a story .", "the man told his daughter a story ."),   # son (file order)
        ("the man told his son a story .", "the man told her son a story ."),        # his
        ("the man told his son a story .", "the woman told his son a story ."),      # man
    ]
    old = counterfactual_examples(["The man told his son a story ."], words["gender"], mode="all_words").groups
    assert [v for _, v in old] == [("the man told his son a story .", "the woman told her daughter a story .")]


def test_sentence_debias_pairs_are_male_first_and_follow_every_listing(words):
    groups = [v for _, v in counterfactual_examples(["she met a guy", "Her friend left"], words["gender"],
                                                    lowercase=False).groups]
    assert groups == [("she met a guy", "she met a gal"), ("she met a guy", "she met a girl"),  # guy: two pairs
                      ("he met a guy", "she met a guy"),  # she -> he, the male version first
                      ("Him friend left", "Her friend left"), ("His friend left", "Her friend left")]


def test_sentence_debias_race_and_religion_give_triples(words):
    groups = [v for _, v in counterfactual_examples(["the black cat ran"], words["race"]).groups]
    assert groups == [("the black cat ran", "the caucasian cat ran", "the asian cat ran"),
                      ("the black cat ran", "the white cat ran", "the asian cat ran")]
    groups = [v for _, v in counterfactual_examples(["the rabbi read the torah"], words["religion"]).groups]
    assert groups == [("the rabbi read the torah", "the rabbi read the bible", "the rabbi read the quran"),
                      ("the rabbi read the torah", "the priest read the torah", "the imam read the torah")]


def test_counterfactual_sample_is_seeded(words):
    lines = _lines(40, "the man saw item {i}")
    a = counterfactual_examples(lines, words["gender"], max_examples=7, seed=3).groups
    assert len(a) == 7 and a == counterfactual_examples(lines, words["gender"], max_examples=7, seed=3).groups
    assert a != counterfactual_examples(lines, words["gender"], max_examples=7, seed=4).groups
