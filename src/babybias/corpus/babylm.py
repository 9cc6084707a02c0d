"""The BabyLM 2024 corpora as corpus sources (`corpus.sources=[babylm_100m]` or `[babylm_10m]`).

The six `*.train` files are read in a fixed order (bnc_spoken, childes, gutenberg, open_subtitles, simple_wiki,
switchboard), keeping BabyLM's line structure: one utterance (dialogue sources) or one paragraph (Gutenberg,
Simple Wikipedia) per line, each line one corpus unit (never split into sentences, so an utterance stays whole).
The `*.dev` files are part of the data set but not of the corpus: the validation split is
`corpus.validation_fraction` of the train lines, as for every corpus.

Per-source cleaning, as the BabyLM baselines' preprocessing does it (LTG-BERT's BabyLM scripts,
ltgoslo/ltg-bert babylm/preprocess; reimplemented, not copied), before the corpus-wide normalization of
`babybias.corpus.clean` (NFKC, ASCII quotes, whitespace):
- childes: a speaker tag at the start (`*CHI:`, `*MOT:`) is dropped;
- bnc_spoken: lines holding only `.`, `!` or `?` are dropped; the first letter is capitalized;
- switchboard: a speaker label (`A:`, `B:`) and a leading dash are dropped;
- open_subtitles: a leading dash (`- `) is dropped;
- simple_wiki: reference marks (`[12]`) are removed, HTML entities (`&gt;`, `&amp;`) unescaped, `= = = Title = = =` heading
  lines and the short bot-generated stubs ("X is a commune/village/town/city/municipality in ...", < 128
  characters) dropped;
- gutenberg: hard-wrapped lines are joined into paragraphs at blank lines (a paragraph also ends at a sentence
  end once it holds 200 words, so a file without blank lines never becomes one line);
- all dialogue sources: an exact repeat of the previous kept line is dropped (subtitle and transcript
  duplication), unless a blank line separates them.
The baselines also wrap dialogue lines in quotes and re-punctuate with Moses; babybias does not (the bias
benchmarks are scored on plain sentences), which is the one deliberate difference.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Callable, Iterator

from babybias.data.registry import BABYLM_SOURCES

_SPEAKER_TAG = re.compile(r"^\*[A-Z0-9]{2,4}:\s*")
_SPEAKER_LABEL = re.compile(r"^[A-Z]{1,2}:\s+")
_DASH = re.compile(r"^-\s*")
_REFERENCE = re.compile(r"\[\d+\]")
_HEADING = re.compile(r"^=( =)*\s.*\s=( =)*$")
_STUB = re.compile(r"\bis an? (commune|village|town|city|municipality)\b")
_SENTENCE_END = re.compile(r"[.!?][\"')\]]*$")
PARAGRAPH_WORDS = 200


def _childes(line: str) -> str:
    return _SPEAKER_TAG.sub("", line)


def _bnc_spoken(line: str) -> str:
    if line in (".", "!", "?"):
        return ""
    return line[:1].upper() + line[1:]


def _switchboard(line: str) -> str:
    return _DASH.sub("", _SPEAKER_LABEL.sub("", line))


def _open_subtitles(line: str) -> str:
    return _DASH.sub("", line)


def _simple_wiki(line: str) -> str:
    line = html.unescape(_REFERENCE.sub("", line)).strip()
    if _HEADING.match(line) or (len(line) < 128 and _STUB.search(line)):
        return ""
    return line


LINE_CLEANERS: dict[str, Callable[[str], str]] = {
    "bnc_spoken": _bnc_spoken, "childes": _childes, "open_subtitles": _open_subtitles,
    "simple_wiki": _simple_wiki, "switchboard": _switchboard,
}
DIALOGUE = ("bnc_spoken", "childes", "open_subtitles", "switchboard")


def _lines(path: Path) -> Iterator[str]:
    with open(path, encoding="utf-8", errors="replace") as fh:
        for raw in fh:
            yield " ".join(raw.split())


def gutenberg_paragraphs(lines: Iterator[str]) -> Iterator[str]:
    """Hard-wrapped lines -> one paragraph a line (see the module doc)."""
    paragraph: list[str] = []
    words = 0
    for line in lines:
        if line:
            paragraph.append(line)
            words += len(line.split())
        if paragraph and (not line or (words >= PARAGRAPH_WORDS and _SENTENCE_END.search(line))):
            yield " ".join(paragraph)
            paragraph, words = [], 0
    if paragraph:
        yield " ".join(paragraph)


def source_lines(source: str, path: Path) -> Iterator[str]:
    """The cleaned lines of one BabyLM source file (empty lines dropped)."""
    if source == "gutenberg":
        yield from gutenberg_paragraphs(_lines(path))
        return
    clean = LINE_CLEANERS[source]
    previous = None
    for raw in _lines(path):
        if not raw:  # a blank line ends a conversation: the next line is no repeat
            previous = None
            continue
        line = clean(raw).strip()
        if not line or (source in DIALOGUE and line == previous):
            continue
        previous = line
        yield line


def babylm_lines(folder: Path, train_dir: str) -> Iterator[str]:
    """Every cleaned line of the six `<folder>/<train_dir>/<source>.train` files, sources in a fixed order."""
    for source in BABYLM_SOURCES:
        yield from source_lines(source, folder / train_dir / f"{source}.train")
