"""Race and religion counterfactual swaps: bias-bench's ternary CDA (Meade et al. 2022, `run_mlm.py`).

The attribute words are triples (`bias_attribute_words.json`: race e.g. black / caucasian / asian, religion
e.g. jewish / christian / muslim). For each unit of text (bias-bench: each 512-token training block; here a
sentence, or a window of sentences with `corpus.cda_scope=augmented_only`) one target is drawn for each
position of a triple, uniformly among the two *other* positions (`draw_targets`: position 0 -> 1 or 2,
1 -> 0 or 2, 2 -> 0 or 1), and every attribute word in the unit moves to its triple's target position.

Matching follows bias-bench: whitespace tokens, compared lower-case, either bare or with one trailing
`. , ? ! ; :`; case is kept (Jewish -> Muslim). A word listed in several triples takes the last one
(bias-bench's loop overwrites earlier matches), e.g. black -> white or asian (black, white, asian).
"""

from __future__ import annotations

import random
from typing import Sequence

from babybias.corpus.gender import match_case

PUNCTUATION = (".", ",", "?", "!", ";", ":")


class GroupSwapper:
    """Swap words between the groups of attribute tuples (triples for race and religion)."""

    def __init__(self, tuples: Sequence[Sequence[str]]):
        sizes = {len(t) for t in tuples}
        if not tuples or len(sizes) != 1 or min(sizes) < 2:
            raise ValueError(f"GroupSwapper needs tuples of one size >= 2, got sizes {sorted(sizes)}")
        self.arity = sizes.pop()
        self.slot: dict[str, tuple[tuple[str, ...], int]] = {}
        for group in tuples:  # later tuples overwrite earlier ones, as bias-bench's loop does
            lowered = tuple(w.lower() for w in group)
            for i, word in enumerate(lowered):
                self.slot[word] = (lowered, i)

    def draw_targets(self, rng: random.Random) -> tuple[int, ...]:
        """For each position, the position its words move to (never itself): one draw per unit of text."""
        return tuple(rng.choice([j for j in range(self.arity) if j != i]) for i in range(self.arity))

    def _lookup(self, token: str) -> tuple[str, str] | None:
        """(attribute word, trailing punctuation) of a whitespace token, or None."""
        low = token.lower()
        if low in self.slot:
            return low, ""
        if low[-1:] in PUNCTUATION and low[:-1] in self.slot:
            return low[:-1], token[-1]
        return None

    def count(self, sentence: str) -> int:
        """Attribute words in a sentence."""
        return sum(self._lookup(t) is not None for t in sentence.split(" ") if t)

    def swap(self, sentence: str, targets: Sequence[int]) -> tuple[str, int]:
        """The sentence with every attribute word moved to `targets[its position]`, and how many moved."""
        tokens, n = sentence.split(" "), 0
        for k, token in enumerate(tokens):
            found = self._lookup(token) if token else None
            if found is None:
                continue
            word, punctuation = found
            group, position = self.slot[word]
            tokens[k] = match_case(token, group[targets[position]]) + punctuation
            n += 1
        return " ".join(tokens), n
