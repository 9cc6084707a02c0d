"""CDA word swapping on hand-written sentences: case, ambiguous his/her, whole words, clitics, lexicon rules."""

from __future__ import annotations

import pytest

from babybias.corpus.gender import SKIP_WORDS, Swapper


@pytest.mark.parametrize("sentence,expected", [
    ("He left early.", "She left early."),
    ("HE LEFT EARLY.", "SHE LEFT EARLY."),
    ("he said the king was his father .", "she said the queen was her mother ."),
    ("The boys met the Queen.", "The girls met the King."),
    ("Mr. Smith and his wife's brother arrived.", "Mrs. Smith and her husband's sister arrived."),
    ("The man's hat; he'd go.", "The woman's hat; she'd go."),
    ("The chairman-elect spoke.", "The chairwoman-elect spoke."),
    ("Ask the actresses and the waiters .", "Ask the actors and the waitresses ."),
])
def test_swap_case_clitics_and_pairs(swapper, sentence, expected):
    assert swapper.swap(sentence)[0] == expected


@pytest.mark.parametrize("sentence,expected", [
    ("She gave her book to him.", "He gave his book to her."),   # her + noun -> his
    ("I told her that it rained.", "I told him that it rained."),  # her + function word -> him
    ("He gave her a book.", "She gave him a book."),
    ("It was for her .", "It was for him ."),                  # clause end -> him
    ("We saw her, then left.", "We saw him, then left."),       # punctuation -> him
    ("Her mother called her.", "His father called him."),
    ("The book is his.", "The book is hers."),                 # standalone his -> hers
    ("The book is hers .", "The book is his ."),
    ("His dog barked at him.", "Her dog barked at her."),
])
def test_ambiguous_his_her_rule(swapper, sentence, expected):
    assert swapper.swap(sentence)[0] == expected


def test_ambiguous_her_fixed_choice(swapper):
    fixed = Swapper(swapper.lexicon, ambiguous_her="his")
    assert fixed.swap("I told her that.")[0] == "I told his that."
    assert Swapper(swapper.lexicon, ambiguous_her="him").swap("her book")[0] == "him book"


@pytest.mark.parametrize("sentence", [
    "The shepherd and the hermit sheltered in the manor.",  # she/he/her/man inside words
    "Heroism, herbs and mention of Hemingway.",
    "God bless the governor; we miss the host.",              # skipped ambiguous words
])
def test_whole_words_only_and_skipped_words(swapper, sentence):
    assert swapper.swap(sentence) == (sentence, 0)
    assert swapper.count(sentence) == (0, 0)


def test_count_is_mirrored_by_swap(swapper):
    sentences = ["He and his sons met her aunt.", "The women thanked the King and Mr. Lee's nephews .",
                 "she told him that herself", "Grandpa's colt beat the mare."]
    for s in sentences:
        m, f = swapper.count(s)
        assert m + f > 0
        assert swapper.count(swapper.swap(s)[0]) == (f, m)


def test_swap_twice_restores_unambiguous_sentences(swapper):
    for s in ["The king and his sons met the queen.", "Her aunts and uncles are actresses and actors ."]:
        assert swapper.swap(swapper.swap(s)[0])[0] == s


def test_lexicon_merge_rules(swapper):
    lex = swapper.lexicon
    # every pair crosses sides, so swapping keeps counts mirrored
    for word, target in lex.swap.items():
        assert {lex.side(word), lex.side(target)} == {"male", "female"}, (word, target)
    # orientation repaired for pairs listed female-first (equalize_pairs, extra_gendered_words)
    assert lex.side("wives") == "female" and lex.side("husbands") == "male"
    assert lex.side("camerawomen") == "female" and lex.side("cameramen") == "male"
    # conflicts: first list (bias-bench) wins
    assert lex.swap["guy"] == "gal" and lex.swap["lady"] == "gentleman" and lex.swap["mr."] == "mrs."
    # skipped words and multi-word entries never enter
    assert not SKIP_WORDS & set(lex.swap)
    assert not any("_" in w for w in lex.swap)
    # all three word lists contributed (words only in debiaswe / winobias lists)
    assert {"fraternity", "nephew", "headmaster"} <= lex.male


def test_load_swapper_from_the_data_root(data_cfg, swapper):
    from babybias.corpus.gender import load_swapper

    loaded = load_swapper(data_cfg)
    assert loaded.lexicon.swap == swapper.lexicon.swap
    assert loaded.swap("She thanked him.")[0] == "He thanked her."
