"""Corpus sources: registered data sets or user files, each read as raw lines with a checksum.

A source is named in `corpus.sources` by
- a registered data set (`nltk_brown`, ...), resolved with `babybias.data.store.require` (checksums
  verified, also with `data.verify=false`, since the cache key stands for them; DataError with the fix otherwise);
- a `.txt` file (one sentence or paragraph per line) or a `.jsonl` file (a `text` field per line);
- a folder written by `datasets.Dataset.save_to_disk` (a `text` column).

Each reader yields lines plus whether a line is already one sentence (`presplit`), so the cleaner splits
only raw paragraphs.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from babybias.corpus.babylm import babylm_lines
from babybias.data import store
from babybias.data.registry import DATASETS
from babybias.errors import DataError
from babybias.runs import file_sha256


@dataclass
class DecodeStats:
    """What decoding a source found: lines read, lines that were not valid UTF-8, and characters that are not text."""

    lines: int = 0
    bad_lines: int = 0
    chars: int = 0
    nontext_chars: int = 0
    """Control characters (other than tab and newlines) and U+FFFD replacement characters."""

    @property
    def printable_ratio(self) -> float:
        return 1.0 - self.nontext_chars / self.chars if self.chars else 1.0

    def count(self, text: str) -> str:
        self.lines += 1
        self.chars += len(text)
        self.nontext_chars += len(_NONTEXT.findall(text))
        return text


_NONTEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffd]")


def decode_lines(raw: bytes, stats: DecodeStats | None = None, fallback: str | None = None) -> Iterator[str]:
    """The lines of `raw`, each decoded as UTF-8 on its own: a line that is not valid UTF-8 is decoded with
    U+FFFD replacement characters (or with the `fallback` codec, for the registered files whose bytes are fixed by
    their checksums) and counted in `stats`, so one stray byte spoils one character, not the whole file."""
    stats = stats if stats is not None else DecodeStats()
    for raw_line in raw.splitlines():
        try:
            text = raw_line.decode("utf-8")
        except UnicodeDecodeError:
            stats.bad_lines += 1
            text = raw_line.decode(fallback) if fallback else raw_line.decode("utf-8", errors="replace")
        yield from stats.count(text).splitlines() or [""]


def read_text(path: Path, stats: DecodeStats | None = None, fallback: str | None = None) -> str:
    """A whole file decoded line by line (see `decode_lines`)."""
    return "\n".join(decode_lines(path.read_bytes(), stats, fallback))


def _lines_of(paths: list[Path], stats: DecodeStats | None = None, fallback: str | None = None) -> Iterator[str]:
    for path in paths:
        yield from decode_lines(path.read_bytes(), stats, fallback)


# Six State of the Union files (and one inaugural address) hold a few Big5-encoded punctuation marks. Earlier
# versions decoded those files as Latin-1; line by line with the same fallback gives exactly the same text
# (checked for every registered file), so the default corpus and every cache key built on it stay the same.
_PINNED_FALLBACK = "latin-1"


def _kjv_verses(folder: Path, stats: DecodeStats | None = None) -> Iterator[str]:
    """The `text` column of kjv_verses.tsv (book, chapter, verse, text; a header row)."""
    rows = read_text(folder / "kjv_verses.tsv", stats).splitlines()
    column = rows[0].split("\t").index("text") if rows else 0
    for row in rows[1:]:
        fields = row.split("\t")
        if len(fields) > column:
            yield fields[column]


# registered data set -> (lines reader over its folder, lines are already sentences)
REGISTERED: dict[str, tuple[Callable[[Path, DecodeStats], Iterator[str]], bool]] = {
    "nltk_brown": (lambda d, st: _lines_of([d / "brown_plain.txt"], st, _PINNED_FALLBACK), True),
    "nltk_movie_reviews": (lambda d, st: _lines_of(sorted(d.glob("neg/*.txt")) + sorted(d.glob("pos/*.txt")), st,
                                                   _PINNED_FALLBACK), True),
    "nltk_state_union": (lambda d, st: _lines_of(sorted(d.glob("*.txt")), st, _PINNED_FALLBACK), False),
    "nltk_inaugural": (lambda d, st: _lines_of(sorted(d.glob("*.txt")), st, _PINNED_FALLBACK), False),
    "debian_bible_kjv": (_kjv_verses, False),
    # one utterance or paragraph a line, cleaned per source (babybias.corpus.babylm)
    "babylm_10m": (lambda d, st: map(st.count, babylm_lines(d, "train_10M")), True),
    "babylm_100m": (lambda d, st: map(st.count, babylm_lines(d, "train_100M")), True),
}


@dataclass
class Source:
    name: str
    """As written in corpus.sources."""
    kind: str
    """registered | txt | jsonl | dataset"""
    sha256: str
    """One checksum over the source's files (registered: over the registry's per-file checksums)."""
    files: int
    presplit: bool
    """True when each line is already one sentence."""
    _lines: Callable[[DecodeStats], Iterator[str]]
    decoding: DecodeStats = field(default_factory=DecodeStats)
    """Filled while `lines()` is read: lines that were not UTF-8, share of printable characters."""

    def lines(self) -> Iterator[str]:
        self.decoding = DecodeStats()
        return self._lines(self.decoding)

    decoder: str | None = None
    """Set for a user file that is not valid UTF-8: how its lines are decoded (in the cache key; see
    `_decoder_of`)."""

    def describe(self) -> dict:
        out = {"name": self.name, "kind": self.kind, "sha256": self.sha256, "files": self.files,
               "sentence_per_line": self.presplit}
        return {**out, "decoder": self.decoder} if self.decoder else out


PER_LINE_DECODER = "utf-8 per line, U+FFFD"
"""Until the per-line decoding (issue 10), a user file that was not valid UTF-8 was decoded whole as Latin-1
(mojibake in every accented character) and cached under the same key; such files now name their decoder in the
key, so that old cache entry is never served. Valid UTF-8 decodes the same either way: their keys are unchanged."""


def _decoder_of(path: Path) -> str | None:
    """PER_LINE_DECODER when the file is not valid UTF-8, else None."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                decoder.decode(block)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return PER_LINE_DECODER
    return None


def _digest(items: dict[str, str]) -> str:
    blob = json.dumps(items, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()


def resolve_source(name: str, data_cfg) -> Source:
    """A registered data set name or a user path -> Source (DataError when missing or unsupported)."""
    if name in DATASETS:
        if name not in REGISTERED:
            raise DataError(f"data set {name!r} is not a text corpus",
                            fix=f"use corpus.sources from {', '.join(REGISTERED)} or paths to .txt/.jsonl files")
        # Verified even with data.verify=false: the corpus cache key names the registered checksums, so an
        # unverified, edited file would be served the corpus cached for the registered bytes (cheap once stamped).
        folder = store.require(name, data_cfg, verify=True)
        reader, presplit = REGISTERED[name]
        checksums = store.expected_files(name, store.data_root(data_cfg))  # pinned, or recorded on first use
        return Source(name, "registered", _digest(checksums), len(checksums), presplit, lambda st: reader(folder, st))
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "dataset_info.json").exists() and not (path / "state.json").exists():
            raise DataError(f"corpus source {name} is a folder but not a saved `datasets` dataset",
                            fix="pass a folder written by Dataset.save_to_disk, or a .txt/.jsonl file")
        checksums = {str(p.relative_to(path)): file_sha256(p) for p in sorted(path.rglob("*")) if p.is_file()}
        return Source(name, "dataset", _digest(checksums), len(checksums), False, lambda st: _dataset_lines(path, st))
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix not in (".txt", ".jsonl"):
            raise DataError(f"corpus source {name} has an unsupported type {suffix!r}",
                            fix="use a .txt file (one sentence or paragraph a line), a .jsonl file (`text` field) "
                                "or a saved `datasets` folder")
        reader = (lambda st: _lines_of([path], st)) if suffix == ".txt" else (lambda st: _jsonl_lines(path, st))
        return Source(name, suffix[1:], file_sha256(path), 1, False, reader, decoder=_decoder_of(path))
    raise DataError(f"corpus source {name!r} is neither a registered data set nor an existing file",
                    fix=f"check the path, or use one of {', '.join(REGISTERED)} (after `babybias data prepare`)")


def _jsonl_lines(path: Path, stats: DecodeStats | None = None) -> Iterator[str]:
    for number, line in enumerate(read_text(path, stats).splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            raise DataError(f"{path}:{number} is not valid JSON", fix="write one JSON object per line") from None
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            raise DataError(f"{path}:{number} has no string `text` field", fix="give every line a \"text\" field")
        yield from record["text"].splitlines()


def _dataset_lines(path: Path, stats: DecodeStats) -> Iterator[str]:
    import datasets

    dataset = datasets.load_from_disk(str(path))
    if isinstance(dataset, datasets.DatasetDict):
        raise DataError(f"{path} holds a DatasetDict ({', '.join(dataset)})",
                        fix="save a single split with Dataset.save_to_disk")
    if "text" not in dataset.column_names:
        raise DataError(f"{path} has no `text` column (columns: {', '.join(dataset.column_names)})",
                        fix="rename the text column to `text` before save_to_disk")
    for text in dataset["text"]:
        if text:
            yield from stats.count(str(text)).splitlines()
