"""CDA for race and religion (bias-bench's ternary random swap) and the augmented-only variant."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest

from babybias.configs.corpus import CorpusConfig
from babybias.corpus.build import build_corpus, corpus_key
from babybias.corpus.group_swap import GroupSwapper
from babybias.debias.attribute_words import read_attribute_file
from babybias.errors import ConfigError


@pytest.fixture(scope="module")
def triples(shared_data):
    path = shared_data / "bias_attribute_words" / "bias_attribute_words.json"
    return {t: GroupSwapper(read_attribute_file(path, t).tuples) for t in ("race", "religion")}


def _txt(path: Path, lines: list[str]) -> str:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def _build(tmp_path, data_cfg, seed=0, **kw):
    kw.setdefault("validation_fraction", 0.0)
    return build_corpus(CorpusConfig(mutation="cda", **kw), data_cfg, tmp_path / "cache", seed, progress=False)


def test_religion_swap_on_examples(triples):
    religion = triples["religion"]
    sentence = "The Jewish rabbi read the Torah, then left the synagogue. Muslims"
    assert religion.swap(sentence, (1, 2, 0)) == (
        "The Christian priest read the Bible, then left the church. Jews", 5)  # 0->1, and muslims (2) -> 0
    assert religion.swap(sentence, (2, 0, 1)) == ("The Muslim imam read the Quran, then left the mosque. Christians", 5)
    assert religion.swap("the jewish-owned shop , torahs", (1, 2, 0)) == ("the jewish-owned shop , torahs", 0)


def test_race_swap_takes_the_last_triple_of_a_word(triples):
    """bias-bench's loop overwrites: black -> (black, white, asian); africa -> (africa, europe, asia)."""
    race = triples["race"]
    assert race.swap("a black cat from africa", (1, 0, 0)) == ("a white cat from europe", 2)
    assert race.swap("a black cat from africa", (2, 0, 0)) == ("a asian cat from asia", 2)
    assert race.swap("Caucasian and ASIAN!", (1, 0, 1)) == ("African and WHITE!", 2)  # case, punctuation kept


def test_ternary_draw_is_uniform_over_the_other_two_and_seeded(triples):
    race = triples["race"]
    rng = random.Random(7)
    draws = [race.draw_targets(rng) for _ in range(3000)]
    for position in range(3):
        counts = Counter(d[position] for d in draws)
        assert position not in counts and len(counts) == 2  # never to itself
        assert all(abs(n - 1500) < 150 for n in counts.values())  # 1/2 each (sd ~27)
    again = random.Random(7)
    assert draws == [race.draw_targets(again) for _ in range(3000)]


def test_race_cda_corpus_is_two_sided_and_seeded(tmp_path, data_cfg):
    lines = [f"The black cat {i} slept." for i in range(40)] + [f"The old dog {i} slept." for i in range(40)]
    src = _txt(tmp_path / "a.txt", lines)
    art = _build(tmp_path, data_cfg, sources=[src], cda_bias_type="race")
    out = art.read("train")
    assert len(out) == 120 and out[:80] == lines  # every sentence kept once, then the 40 copies
    swapped = out[80:]
    assert [s.replace(s.split()[1], "black") for s in swapped] == lines[:40]
    assert Counter(s.split()[1] for s in swapped).keys() == {"white", "asian"}  # black -> white or asian
    report = art.manifest["mutation_report"]["train"]
    assert report["sentences_swapped"] == 40 and report["added"] == 40
    assert sum(v for k, v in report["target_draws"].items() if k.startswith("0->")) == 40
    assert art.manifest["seed_in_key"] is True
    assert _build(tmp_path / "b", data_cfg, sources=[src], cda_bias_type="race").read("train") == out
    assert _build(tmp_path / "c", data_cfg, seed=1, sources=[src], cda_bias_type="race").read("train") != out


def test_augmented_only_keeps_just_the_windows_with_attribute_words(tmp_path, data_cfg):
    lines = ["He went home early today.", "The sky was grey.", "The rain fell on the roof.", "Nothing else happened."]
    src = _txt(tmp_path / "a.txt", lines)
    per_sentence = _build(tmp_path, data_cfg, sources=[src], cda_scope="augmented_only", cda_window_words=1)
    assert per_sentence.read("train") == ["He went home early today.", "She went home early today."]
    report = per_sentence.manifest["mutation_report"]["train"]
    assert report["removed"] == 3 and report["added"] == 1
    windows = _build(tmp_path, data_cfg, sources=[src], cda_scope="augmented_only", cda_window_words=8)
    # windows of >= 8 words: [He went.. + The sky..], [The rain.. + Nothing..]: the first is kept with its copy
    assert windows.read("train") == lines[:2] + ["She went home early today.", "The sky was grey."]
    everything = _build(tmp_path, data_cfg, sources=[src])  # our default keeps the neutral text
    assert everything.read("train") == lines + ["She went home early today."]


def test_cda_options_enter_the_cache_key(data_cfg):
    def key(seed=0, **kw):
        return corpus_key(CorpusConfig(mutation="cda", sources=["nltk_inaugural"], **kw), data_cfg, seed=seed)

    keys = {key(), key(cda_bias_type="race"), key(cda_bias_type="religion"), key(cda_scope="augmented_only"),
            key(cda_scope="augmented_only", cda_window_words=50)}
    assert len(keys) == 5
    assert key(cda_bias_type="race") != key(seed=1, cda_bias_type="race")  # the ternary draw is seeded
    assert key() == key(seed=1)  # gender CDA draws nothing


def test_cda_config_errors_name_the_override():
    with pytest.raises(ConfigError, match="cda_bias_type"):
        CorpusConfig(mutation="cda", cda_bias_type="age")
    with pytest.raises(ConfigError, match="cda_mode=two_sided"):
        CorpusConfig(mutation="cda", cda_scope="augmented_only", cda_mode="one_sided")
