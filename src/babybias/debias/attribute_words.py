"""Bias attribute words per bias type, and bias-bench's whole-word matching and replacing.

bias-bench (Meade et al. 2022) reads `bias_attribute_words.json` (`../shared/data/bias_attribute_words`):
`gender` holds 57 (male, female) pairs, `race` and `religion` 6 triples each (e.g. jewish, christian,
muslim). INLP, SentenceDebias and CDA find these words as whole *whitespace-separated* tokens after
lower-casing (`sentence.split(" ")`, then `token.lower()`), so "he," or "Mr" do not match "he" or "mr.";
we match the same way (`words_of`, `lower_words`). Words listed in two tuples (guy: gal and girl; her: him
and his) give two tuples a sentence matches.

`debias.lexicon=merged` (gender only) uses the corpus lexicon instead (`babybias.corpus.gender`: bias-bench
pairs + debiaswe + WinoBias, 200+ pairs), the project's earlier choice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from babybias.configs.debias import BIAS_TYPES
from babybias.corpus.gender import match_case
from babybias.errors import ConfigError, DataError

LEXICONS = ("bias_attribute_words", "merged")
ATTRIBUTE_FILE = "bias_attribute_words.json"


@dataclass(frozen=True)
class AttributeWords:
    """The word tuples of one bias type, lower-case: pairs (male, female) or triples (three groups)."""

    bias_type: str
    tuples: tuple[tuple[str, ...], ...]
    source: str = "bias_attribute_words"

    def __post_init__(self) -> None:
        sizes = {len(t) for t in self.tuples}
        if not self.tuples or len(sizes) != 1 or sizes.pop() < 2:
            raise DataError(f"the {self.bias_type} attribute words need tuples of one size >= 2",
                            fix=f"check {ATTRIBUTE_FILE} (bias-bench: gender pairs, race/religion triples)")

    @property
    def arity(self) -> int:
        """2 for gender pairs, 3 for race/religion triples."""
        return len(self.tuples[0])

    def words_at(self, position: int) -> frozenset[str]:
        """Every word listed at `position` of a tuple (gender: 0 = male words, 1 = female words)."""
        return frozenset(t[position] for t in self.tuples)

    @property
    def all_words(self) -> frozenset[str]:
        return frozenset(w for t in self.tuples for w in t)


def read_attribute_file(path: str | Path, bias_type: str) -> AttributeWords:
    """The `bias_type` tuples of a bias_attribute_words.json file (lower-cased, in file order)."""
    if bias_type not in BIAS_TYPES:
        raise ConfigError(f"debias.bias_type={bias_type!r} has no attribute words",
                          fix=f"use debias.bias_type={'|'.join(BIAS_TYPES)}")
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if bias_type not in data:
        raise DataError(f"{path} has no {bias_type!r} word list", fix="restore it with `babybias data prepare`")
    return AttributeWords(bias_type, tuple(tuple(w.lower() for w in t) for t in data[bias_type]))


def load_attribute_words(data_cfg, bias_type: str, lexicon: str = "bias_attribute_words") -> AttributeWords:
    """The attribute words under the data root (checksums verified; DataError with the fix when missing)."""
    from babybias.data.store import require

    if lexicon == "merged":
        if bias_type != "gender":
            raise ConfigError(f"debias.lexicon=merged holds gender words only, not {bias_type}",
                              fix="use debias.lexicon=bias_attribute_words for race and religion")
        from babybias.corpus.gender import DEFAULT_WORD_LISTS, build_lexicon

        lex = build_lexicon({name: require(name, data_cfg) for name in DEFAULT_WORD_LISTS})
        return AttributeWords("gender", tuple((m, lex.swap[m]) for m in sorted(lex.male)), "merged")
    if lexicon != "bias_attribute_words":
        raise ConfigError(f"debias.lexicon={lexicon!r} is not known", fix=f"use debias.lexicon={'|'.join(LEXICONS)}")
    return read_attribute_file(require("bias_attribute_words", data_cfg) / ATTRIBUTE_FILE, bias_type)


def words_of(text: str) -> list[str]:
    """bias-bench's tokens: the text split at single spaces (punctuation stays attached)."""
    return text.split(" ")


def lower_words(text: str) -> list[str]:
    return [w.lower() for w in words_of(text)]


def replace_word(text: str, word: str, new_word: str) -> str:
    """Every whitespace token equal to `word` (case-insensitive) replaced by `new_word` in its case.

    bias-bench's `_replace_word_in_text` on lower-cased text; with case kept this equals it after lower-casing.
    """
    return " ".join(match_case(w, new_word) if w.lower() == word else w for w in words_of(text))
