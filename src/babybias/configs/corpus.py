"""Corpus config (`corpus=` group): sources, cleaning, split, and the mutation applied.

Only the fields a mutation reads enter its cache key (see `babybias.corpus.mutations.MUTATIONS`), so
`corpus=original corpus.threshold=0.9` reuses the cached original corpus.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional

from babybias.errors import ConfigError

MUTATIONS = ("original", "cda", "balanced", "imbalanced", "detox", "random_drop")


@dataclass
class CorpusConfig:
    mutation: str = "original"
    """original | cda | balanced | imbalanced | detox | random_drop"""
    sources: List[str] = field(default_factory=lambda: ["nltk_brown", "nltk_movie_reviews", "nltk_state_union", "nltk_inaugural"])
    """Registered data set names, or paths to user .txt/.jsonl files or a saved `datasets` dataset."""
    validation_fraction: float = 0.01
    """Share of sentences held out, chosen by a hash of the sentence text (same split for every mutation)."""
    max_sentences: Optional[int] = None
    """Keep only the first N sentences after cleaning and deduplication (null = all)."""
    min_words: int = 3
    """Drop sentences with fewer whitespace-separated words than this (after cleaning)."""
    deduplicate: bool = True
    """Drop exact duplicate lines across the corpus (first kept). false keeps repeated utterances ("what's that?"),
    as the BabyLM baselines do (experiment=paper_ltgbert)."""
    dryrun_sentences_per_source: int = 2000
    """With `dryrun=true`, read only the first N sentences of each source."""
    mutate_validation: bool = False
    """false = mutations touch the train split only, so every corpus variant shares one validation set."""
    word_lists: List[str] = field(default_factory=lambda: ["bias_attribute_words", "debiaswe_word_lists", "winobias"])
    """Data sets holding the gender word pairs (merged into one bidirectional map; see corpus/gender.py)."""
    cda_mode: str = "two_sided"
    """two_sided = keep each sentence and add its gender-swapped copy (the copies after all of the text, so that a
    sentence and its counterfactual never share a packed training block); one_sided = replace it (cda, balanced)."""
    cda_bias_type: str = "gender"
    """`cda`: gender (pairs of `word_lists`, rules in corpus/gender.py) | race | religion (bias-bench's ternary
    random swap of the `bias_attribute_words` triples, seeded; corpus/group_swap.py)."""
    cda_scope: str = "all_text"
    """`cda`: all_text = every sentence kept, those holding an attribute word also swapped (ours) |
    augmented_only = only text holding an attribute word, original + swapped (bias-bench, which trains on
    its augmented blocks only); needs cda_mode=two_sided."""
    cda_window_words: int = 100
    """`cda_scope=augmented_only`: the unit kept or dropped (and swapped with one ternary draw): consecutive
    sentences of at least this many words, about one 128-token training block (bias-bench: one 512-token
    block); 1 = each sentence on its own."""
    ambiguous_her: str = "heuristic"
    """How `her` is swapped: heuristic (his before a noun-ish word, him elsewhere) | his | him."""
    balance_tolerance: float = 0.01
    """`balanced`: |male - female| term counts must end within this share of the larger count."""
    female_ratio: float = 0.5
    """`imbalanced`: target share of female sentences among gendered (male or female) train sentences."""
    scorer: str = "profanity_check"
    """`detox`: toxicity scorer (profanity_check | detoxify | any name registered in corpus/toxicity.py)."""
    threshold: float = 0.5
    """`detox`: remove sentences whose toxicity score is strictly greater than this."""
    score_batch_size: int = 4096
    """`detox`: sentences scored per call (speed only)."""
    random_drop_reference: str = "detox"
    """`random_drop`: drop as many random sentences as this mutation (detox | imbalanced, same options) removed."""

    def __post_init__(self) -> None:
        if self.mutation not in MUTATIONS:
            raise ConfigError(f"corpus.mutation={self.mutation!r} is not known", fix=f"use one of {', '.join(MUTATIONS)}")
        if not self.sources:
            raise ConfigError("corpus.sources is empty", fix="set corpus.sources=[nltk_brown,...] or paths to .txt files")
        if not 0.0 <= self.validation_fraction < 1.0:
            raise ConfigError(f"corpus.validation_fraction={self.validation_fraction} is out of range",
                              fix="use 0 <= corpus.validation_fraction < 1")
        if self.max_sentences is not None and self.max_sentences < 1:
            raise ConfigError("corpus.max_sentences must be positive", fix="use corpus.max_sentences=null or >= 1")
        if self.cda_mode not in ("two_sided", "one_sided"):
            raise ConfigError(f"corpus.cda_mode={self.cda_mode!r} is not known", fix="use corpus.cda_mode=two_sided|one_sided")
        if self.cda_bias_type not in ("gender", "race", "religion"):
            raise ConfigError(f"corpus.cda_bias_type={self.cda_bias_type!r} is not known",
                              fix="use corpus.cda_bias_type=gender|race|religion (or debias.bias_type= with debias=cda)")
        if self.cda_scope not in ("all_text", "augmented_only") or self.cda_window_words < 1:
            raise ConfigError(f"corpus.cda_scope={self.cda_scope!r}, cda_window_words={self.cda_window_words}",
                              fix="use corpus.cda_scope=all_text|augmented_only and corpus.cda_window_words >= 1")
        if self.cda_scope == "augmented_only" and self.cda_mode != "two_sided":
            raise ConfigError("corpus.cda_scope=augmented_only keeps original + swapped text (bias-bench)",
                              fix="use corpus.cda_mode=two_sided with it")
        if self.ambiguous_her not in ("heuristic", "his", "him"):
            raise ConfigError(f"corpus.ambiguous_her={self.ambiguous_her!r} is not known",
                              fix="use corpus.ambiguous_her=heuristic|his|him")
        if not 0.1 <= self.female_ratio <= 0.9:
            raise ConfigError(f"corpus.female_ratio={self.female_ratio} is out of range", fix="use 0.1 <= corpus.female_ratio <= 0.9")
        if not 0.0 < self.balance_tolerance < 0.5:
            raise ConfigError("corpus.balance_tolerance is out of range", fix="use 0 < corpus.balance_tolerance < 0.5")
        if not 0.0 <= self.threshold <= 1.0:
            raise ConfigError(f"corpus.threshold={self.threshold} is out of range", fix="use 0 <= corpus.threshold <= 1")
        if self.random_drop_reference not in ("detox", "imbalanced"):
            raise ConfigError(f"corpus.random_drop_reference={self.random_drop_reference!r} is not supported",
                              fix="use corpus.random_drop_reference=detox|imbalanced")
        if self.min_words < 1 or self.dryrun_sentences_per_source < 1 or self.score_batch_size < 1:
            raise ConfigError("corpus.min_words, dryrun_sentences_per_source and score_batch_size must be >= 1",
                              fix="set them to positive integers")
