"""Cleaning, sentence splitting, deduplication and the train/validation split.

- `normalize`: Unicode NFKC, typographic quotes/dashes to ASCII, control characters dropped, whitespace
  collapsed. Tokenization already present in a source (Brown and the movie reviews put spaces around
  punctuation) is kept as is.
- `split_sentences`: a regex splitter for raw paragraphs (State of the Union, inaugural addresses, user
  files): a boundary is `.`, `!` or `?` (plus closing quotes/brackets) followed by whitespace and an
  upper-case letter, digit or opening quote, unless the word before the period is a known abbreviation
  (Mr., U.S., Gen., ...) or a single initial (Harry S. Truman). Sources already one sentence a line are
  not split again.
- `keep_sentence`: at least `min_words` words and one lower-case letter (drops headings such as
  "PRESIDENT HARRY S. TRUMAN'S ADDRESS" and dates).
- `is_validation`: the split is a hash of the normalized sentence text, so it does not depend on order,
  seed or mutation: every corpus variant built from the same sources shares its validation sentences.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

_TRANSLATE = str.maketrans({
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"',
    "\u2013": "-", "\u2014": " -- ", "\u2212": "-", "\u00a0": " ", "\u00ad": "",
})
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\ufeff]")
_SPACE = re.compile(r"\s+")
_BOUNDARY = re.compile(r"[.!?]+[\"')\]]*\s+(?=[\"'(\[]*[A-Z0-9])")
ABBREVIATIONS = frozenset("""
mr mrs ms dr st jr sr vs etc prof rev hon gen gov sen rep col lt sgt capt cmdr adm maj messrs mt ft no nos
vol inc co corp ltd bros dept est fig approx jan feb mar apr jun jul aug sep sept oct nov dec e.g i.e u.s
u.n u.k u.s.a a.m p.m d.c b.c a.d ph.d
""".split())


def normalize(text: str) -> str:
    """NFKC, ASCII quotes/dashes, no control characters, single spaces, stripped."""
    text = unicodedata.normalize("NFKC", text).translate(_TRANSLATE)
    text = _CONTROL.sub(" ", text)
    return _SPACE.sub(" ", text).strip()


def split_sentences(paragraph: str) -> list[str]:
    """Split a normalized paragraph into sentences with the regex rule in the module doc."""
    out, start = [], 0
    for match in _BOUNDARY.finditer(paragraph):
        head = paragraph[start:match.start() + 1]
        last_word = head.rsplit(" ", 1)[-1].lstrip("\"'([").lower()
        if paragraph[match.start()] == "." and (last_word.rstrip(".") in ABBREVIATIONS
                                               or re.fullmatch(r"[a-z]\.", last_word)):
            continue
        sentence = paragraph[start:match.end()].strip()
        if sentence:
            out.append(sentence)
        start = match.end()
    tail = paragraph[start:].strip()
    if tail:
        out.append(tail)
    return out


def keep_sentence(sentence: str, min_words: int) -> bool:
    return len(sentence.split()) >= min_words and any(c.islower() for c in sentence)


def dedupe(sentences: list[str]) -> list[str]:
    """Exact duplicates removed, first occurrence kept, order preserved."""
    return list(dict.fromkeys(sentences))


def is_validation(sentence: str, fraction: float) -> bool:
    if fraction <= 0:
        return False
    digest = hashlib.blake2b(sentence.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 < fraction


def train_validation_split(sentences: list[str], fraction: float) -> tuple[list[str], list[str]]:
    train, validation = [], []
    for s in sentences:
        (validation if is_validation(s, fraction) else train).append(s)
    return train, validation
