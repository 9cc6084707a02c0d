"""manifest.json pieces: per-split statistics over a list of sentences."""

from __future__ import annotations

from collections import Counter

from babybias.corpus.gender import Swapper
from babybias.corpus.mutations import gender_class


def split_stats(sentences: list[str], swapper: Swapper) -> dict:
    """Sentences, whitespace words, male/female term counts and gendered-sentence counts of one split."""
    words = male = female = 0
    classes: Counter = Counter()
    for sentence in sentences:
        words += sentence.count(" ") + 1
        m, f = swapper.count(sentence)
        male += m
        female += f
        classes[gender_class(m, f)] += 1
    gendered = classes["male"] + classes["female"]
    return {
        "sentences": len(sentences),
        "words": words if sentences else 0,
        "male_terms": male,
        "female_terms": female,
        "male_sentences": classes["male"],
        "female_sentences": classes["female"],
        "neutral_sentences": classes["neutral"],
        "female_sentence_ratio": classes["female"] / gendered if gendered else None,
    }
