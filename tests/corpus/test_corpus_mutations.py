"""Mutations: cda, balanced, imbalanced, detox, random_drop reach their targets and report them."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from babybias.configs.corpus import CorpusConfig
from babybias.corpus.build import build_corpus
from babybias.corpus.toxicity import SCORERS, get_scorer, register_scorer
from babybias.errors import BabybiasError, ConfigError

REAL = ["nltk_inaugural", "nltk_state_union"]


@register_scorer("test_stub")
def _stub_scorer():
    """Flags exactly the sentences containing the word BAD (score 0.9), others score 0.1."""
    return lambda texts: [0.9 if "BAD" in t.split() else 0.1 for t in texts]


@register_scorer("test_all_toxic")
def _all_toxic():
    return lambda texts: [1.0] * len(texts)


def _txt(path: Path, lines: list[str]) -> str:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def _build(tmp_path, data_cfg, seed=0, dryrun=False, **kw):
    kw.setdefault("validation_fraction", 0.0)
    return build_corpus(CorpusConfig(**kw), data_cfg, tmp_path / "cache", seed, dryrun=dryrun, progress=False)


@pytest.fixture
def gendered_file(tmp_path):
    """100 male, 100 female, 50 neutral and 20 mixed (one male + one female term) sentences."""
    lines = ([f"He read book number {i} today." for i in range(100)]
             + [f"She read book number {i} today." for i in range(100)]
             + [f"They read book number {i} today." for i in range(50)]
             + [f"He and she read book {i} today." for i in range(20)])
    return _txt(tmp_path / "gendered.txt", lines)


def test_cda_two_sided_adds_a_swapped_copy_of_each_gendered_sentence_after_the_text(tmp_path, data_cfg,
                                                                                    gendered_file):
    art = _build(tmp_path, data_cfg, sources=[gendered_file], mutation="cda", cda_mode="two_sided")
    lines = art.read("train")
    source = Path(gendered_file).read_text().splitlines()
    assert len(lines) == 270 + 220
    assert lines[:270] == source  # the text as it was, then the 220 copies in the same order
    assert lines[270:272] == ["She read book number 0 today.", "She read book number 1 today."]
    assert lines[370] == "He read book number 0 today." and lines[-1] == "She and he read book 19 today."
    train = art.manifest["splits"]["train"]
    assert train["male_terms"] == train["female_terms"] == 240
    report = art.manifest["mutation_report"]["train"]
    assert report["added"] == 220 and report["removed"] == 0 and len(report["examples"]) == 3


@pytest.mark.parametrize("mutation", ["cda", "balanced"])
def test_two_sided_copies_never_share_a_training_block_with_their_original(tmp_path, data_cfg, mutation):
    """Packed as pretraining packs the train split (`pack_ids`: consecutive lines fill one block), a sentence and
    its counterfactual must land in different blocks, as bias-bench trains them as separate examples: side by
    side, MLM could copy a masked word from the other version."""
    from babybias.corpus.gender import load_swapper
    from babybias.train.data import pack_ids

    lines = ([f"He told his brother story number {i} at home." for i in range(40)]
             + [f"The weather was mild on day {i} of the trip." for i in range(40)])
    src = _txt(tmp_path / "a.txt", lines)
    art = _build(tmp_path, data_cfg, sources=[src], mutation=mutation, cda_mode="two_sided", balance_tolerance=0.3)
    out = art.read("train")
    swapper = load_swapper(data_cfg)
    copies = {s: swapper.swap(s)[0] for s in lines if swapper.swap(s)[1]}
    pairs = [(out.index(s), out.index(copy)) for s, copy in copies.items() if copy in out]
    assert len(pairs) >= 10  # balanced swaps a subset, cda all 40
    # one id per line (2 + line number) and the line's length in words: the blocks say which lines they hold
    ids = [[2 + i] * len(line.split()) for i, line in enumerate(out)]
    blocks = pack_ids(ids, 64, cls_id=0, sep_id=1)
    held = [set(block[1:-1].tolist()) - {1} for block in blocks]
    assert not [(a, b) for a, b in pairs if any({2 + a, 2 + b} <= lines_of for lines_of in held)]
    assert art.manifest["key_payload"]["options"]["copies"] == "after_text"  # not a cached corpus of the old layout
    assert art.manifest["mutation_report"]["train"]["copies"] == "after_text"


def test_cda_one_sided_replaces(tmp_path, data_cfg):
    src = _txt(tmp_path / "a.txt", ["He thanked his mother.", "He and his sons left.", "Nobody else came today."])
    art = _build(tmp_path, data_cfg, sources=[src], mutation="cda", cda_mode="one_sided")
    assert art.read("train") == ["She thanked her father.", "She and her daughters left.", "Nobody else came today."]
    assert art.manifest["splits"]["train"]["male_terms"] == 1
    assert art.manifest["splits"]["train"]["female_terms"] == 5
    assert art.manifest["mutation_report"]["train"]["replaced"] == 2


@pytest.mark.parametrize("cda_mode", ["one_sided", "two_sided"])
def test_balanced_equalizes_real_counts(tmp_path, data_cfg, cda_mode):
    base = _build(tmp_path, data_cfg, sources=REAL, max_sentences=4000)
    male, female = base.manifest["splits"]["train"]["male_terms"], base.manifest["splits"]["train"]["female_terms"]
    assert male > 2 * female  # presidential addresses are male-heavy: a real test of balancing
    art = _build(tmp_path, data_cfg, sources=REAL, max_sentences=4000, mutation="balanced", cda_mode=cda_mode)
    train = art.manifest["splits"]["train"]
    assert abs(train["male_terms"] - train["female_terms"]) <= 0.01 * max(train["male_terms"], train["female_terms"])
    report = art.manifest["mutation_report"]["train"]
    assert report["majority"] == "male" and report["before"] == {"male_terms": male, "female_terms": female}
    n_base = base.manifest["splits"]["train"]["sentences"]
    assert train["sentences"] == n_base + (report["sentences_swapped"] if cda_mode == "two_sided" else 0)
    # seeded: same seed -> same corpus, another seed -> another subset
    again = _build(tmp_path / "again", data_cfg, sources=REAL, max_sentences=4000, mutation="balanced", cda_mode=cda_mode)
    assert again.read("train") == art.read("train")
    other = _build(tmp_path, data_cfg, seed=1, sources=REAL, max_sentences=4000, mutation="balanced", cda_mode=cda_mode)
    assert other.read("train") != art.read("train")


def test_balanced_female_majority(tmp_path, data_cfg):
    lines = ([f"She met her friend number {i}." for i in range(60)] + [f"She waved to guest {i}." for i in range(14)]
             + [f"He met friend number {i}." for i in range(40)])
    art = _build(tmp_path, data_cfg, sources=[_txt(tmp_path / "a.txt", lines)], mutation="balanced", cda_mode="one_sided")
    train = art.manifest["splits"]["train"]
    assert train["male_terms"] == train["female_terms"] == 87  # 40 + 134 terms
    assert art.manifest["mutation_report"]["train"]["majority"] == "female"


@pytest.mark.parametrize("ratio,side,removed", [(0.3, "female", 57), (0.7, "male", 57), (0.5, "male", 0)])
def test_imbalanced_reaches_the_ratio(tmp_path, data_cfg, gendered_file, ratio, side, removed):
    art = _build(tmp_path, data_cfg, sources=[gendered_file], mutation="imbalanced", female_ratio=ratio)
    train = art.manifest["splits"]["train"]
    assert abs(train["female_sentence_ratio"] - ratio) < 0.005
    report = art.manifest["mutation_report"]["train"]
    assert report["female_ratio_achieved"] == pytest.approx(train["female_sentence_ratio"])
    assert report["removed"] == removed and train["sentences"] == 270 - removed
    if removed:
        assert report["removed_side"] == side
    lines = art.read("train")
    assert sum(line.startswith(("They", "He and she")) for line in lines) == 70  # neutral and mixed all kept


@pytest.mark.parametrize("n_male,n_female,ratio", [(0, 50, 0.3), (50, 0, 0.3), (2, 300, 0.1), (300, 2, 0.9)])
def test_imbalanced_refuses_a_ratio_it_could_only_meet_by_removing_a_whole_side(tmp_path, data_cfg, n_male,
                                                                                n_female, ratio):
    """With too few sentences on the side kept, the rounded target is 0: the corpus would hold 0% (or 100%)
    female sentences, or none gendered at all, while the manifest and the study name the ratio asked for."""
    lines = ([f"He read book number {i} today." for i in range(n_male)]
             + [f"She read book number {i} today." for i in range(n_female)]
             + [f"They read book number {i} today." for i in range(50)])
    src = _txt(tmp_path / "a.txt", lines)
    with pytest.raises(BabybiasError, match=f"female_ratio={ratio} cannot be reached.*{n_male} male and {n_female} "
                                            "female sentences") as err:
        _build(tmp_path, data_cfg, sources=[src], mutation="imbalanced", female_ratio=ratio)
    assert "corpus.female_ratio" in err.value.fix


def test_imbalanced_on_real_text(tmp_path, data_cfg):
    art = _build(tmp_path, data_cfg, sources=REAL, max_sentences=4000, mutation="imbalanced", female_ratio=0.1)
    assert abs(art.manifest["splits"]["train"]["female_sentence_ratio"] - 0.1) < 0.01


def test_detox_removes_exactly_the_flagged_sentences(tmp_path, data_cfg):
    lines = [f"A clean sentence number {i}." for i in range(20)] + [f"A BAD sentence number {i}." for i in range(5)]
    src = _txt(tmp_path / "a.txt", lines)
    art = _build(tmp_path, data_cfg, sources=[src], mutation="detox", scorer="test_stub", threshold=0.5)
    assert art.read("train") == lines[:20]
    report = art.manifest["mutation_report"]["train"]
    assert report["removed"] == 5 and report["scores"]["above_threshold"] == 5 and report["scores"]["n"] == 25
    assert all("BAD" in e["text"] and e["score"] == 0.9 for e in report["examples"])
    assert "test_stub" in report["reason"]
    kept = _build(tmp_path, data_cfg, sources=[src], mutation="detox", scorer="test_stub", threshold=0.95)
    assert kept.manifest["mutation_report"]["train"]["removed"] == 0


def test_detox_validation_untouched_unless_asked(tmp_path, data_cfg):
    from babybias.corpus.clean import is_validation

    lines = [f"A BAD sentence number {i} here." for i in range(300)] + [f"A clean sentence {i} here." for i in range(30)]
    src = _txt(tmp_path / "a.txt", lines)
    art = _build(tmp_path, data_cfg, sources=[src], validation_fraction=0.1, mutation="detox", scorer="test_stub")
    assert art.read("validation") == [s for s in lines if is_validation(s, 0.1)]  # BAD ones included
    assert art.read("train") == [s for s in lines[300:] if not is_validation(s, 0.1)]
    assert "validation" not in art.manifest["mutation_report"]
    both = _build(tmp_path, data_cfg, sources=[src], validation_fraction=0.1, mutation="detox", scorer="test_stub",
                  mutate_validation=True)
    assert both.read("validation") == [s for s in lines[300:] if is_validation(s, 0.1)]
    assert both.manifest["mutation_report"]["validation"]["removed"] == sum(is_validation(s, 0.1) for s in lines[:300])


def test_detox_with_the_real_profanity_check_scorer(tmp_path, data_cfg):
    from profanity_check import predict_prob

    clean = ["The committee met on Tuesday to discuss the budget.", "We planted tomatoes in the garden.",
             "The movie has a charming score and fine acting."]
    profane = ["What a fucking piece of shit this movie is.", "Shut up, you stupid bitch."]
    src = _txt(tmp_path / "a.txt", clean + profane)
    art = _build(tmp_path, data_cfg, sources=[src], mutation="detox")  # default scorer profanity_check, 0.5
    expected = [s for s, p in zip(clean + profane, predict_prob(clean + profane)) if p <= 0.5]
    assert art.read("train") == expected == clean
    assert art.manifest["mutation_report"]["train"]["removed"] == 2
    assert art.manifest["mutation_report"]["train"]["scores"]["quantiles"]["1.0"] > 0.9


def test_another_release_of_the_scorer_builds_another_detox_corpus(tmp_path, data_cfg, monkeypatch):
    """alt-profanity-check ships a retrained model in each release (pyproject allows >=1.5): a corpus scored by
    one release must not be served to an environment with another, nor a random_drop sized by it."""
    from importlib import metadata

    src = _txt(tmp_path / "a.txt", [f"A calm sentence number {i} here." for i in range(30)])
    keys = {}
    for release in ("1.5.0", "1.9.1"):
        real = metadata.version
        monkeypatch.setattr(metadata, "version", lambda p, r=release, real=real: r if p == "alt-profanity-check"
                            else real(p))
        keys[release] = [_build(tmp_path, data_cfg, sources=[src], mutation=m).key for m in ("detox", "random_drop")]
    assert all(a != b for a, b in zip(keys["1.5.0"], keys["1.9.1"]))
    art = _build(tmp_path, data_cfg, sources=[src], mutation="detox")
    assert art.manifest["key_payload"]["options"]["scorer_version"] == "alt-profanity-check==1.9.1"
    stub = _build(tmp_path, data_cfg, sources=[src], mutation="detox", scorer="test_stub")
    assert stub.manifest["key_payload"]["options"]["scorer_version"] == ""  # registered without a version


def test_empty_after_mutation_is_a_clear_error(tmp_path, data_cfg, gendered_file):
    with pytest.raises(BabybiasError, match="empty after `detox`.*raise corpus.threshold"):
        _build(tmp_path, data_cfg, sources=[gendered_file], mutation="detox", scorer="test_all_toxic")


def test_unknown_scorer_and_absent_detoxify():
    with pytest.raises(ConfigError, match="corpus.scorer='nope'"):
        get_scorer("nope")
    assert "detoxify" in SCORERS
    if importlib.util.find_spec("detoxify") is not None:
        pytest.skip("detoxify is installed here; the missing-package error cannot be observed")
    with pytest.raises(BabybiasError, match="pip install detoxify"):
        get_scorer("detoxify")


@pytest.mark.parametrize("reference,options", [("detox", {"scorer": "test_stub"}), ("imbalanced", {"female_ratio": 0.2})])
def test_random_drop_matches_the_reference_count(tmp_path, data_cfg, reference, options):
    lines = ([f"He wrote BAD note {i} today." for i in range(30)] + [f"She wrote note {i} today." for i in range(60)]
             + [f"They wrote note {i} today." for i in range(60)])
    src = _txt(tmp_path / "a.txt", lines)
    common = dict(sources=[src], **options)
    ref = _build(tmp_path, data_cfg, mutation=reference, **common)
    n_removed = ref.manifest["mutation_report"]["train"]["removed"]
    assert n_removed > 0
    art = _build(tmp_path, data_cfg, mutation="random_drop", random_drop_reference=reference, **common)
    report = art.manifest["mutation_report"]["train"]
    assert report["removed"] == n_removed and report["reference_key"] == ref.key
    kept = art.read("train")
    assert len(kept) == len(lines) - n_removed and set(kept) <= set(lines)
    assert kept != ref.read("train")  # random, not the reference's choice



def test_seeded_mutations_do_not_depend_on_hash_randomization(tmp_path, data_cfg, gendered_file):
    """Two processes with different PYTHONHASHSEED build byte-identical imbalanced and balanced corpora."""
    import os
    import subprocess
    import sys

    code = (
        "import sys; from babybias.configs.common import DataConfig; from babybias.configs.corpus import CorpusConfig;"
        "from babybias.corpus.build import build_corpus;"
        "d = DataConfig(root=sys.argv[1], mirror=None);"
        "[print(build_corpus(CorpusConfig(sources=[sys.argv[2]], mutation=m, female_ratio=0.3, validation_fraction=0.1),"
        " d, sys.argv[3], 5, progress=False).train_path.read_text()) for m in ('imbalanced', 'balanced')]"
    )
    outs = []
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        cache = tmp_path / f"cache{hash_seed}"
        out = subprocess.run([sys.executable, "-c", code, data_cfg.root, gendered_file, str(cache)],
                             capture_output=True, text=True, env=env, check=True)
        outs.append(out.stdout)
    assert outs[0] == outs[1] and outs[0].count("\n") > 300
