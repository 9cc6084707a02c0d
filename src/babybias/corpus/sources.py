"""Corpus sources: registered data sets or user files, each read as raw lines with a checksum.

A source is named in `corpus.sources` by
- a registered data set (`nltk_brown`, ...), resolved with `babybias.data.store.require` (checksums
  verified, DataError with the fix otherwise);
- a `.txt` file (one sentence or paragraph per line) or a `.jsonl` file (a `text` field per line);
- a folder written by `datasets.Dataset.save_to_disk` (a `text` column).

Each reader yields lines plus whether a line is already one sentence (`presplit`), so the cleaner splits
only raw paragraphs.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from babybias.corpus.babylm import babylm_lines
from babybias.data import store
from babybias.data.registry import DATASETS
from babybias.errors import DataError
from babybias.runs import file_sha256


def read_text(path: Path) -> str:
    """UTF-8, falling back to Latin-1 (a few State of the Union files are ISO-8859-1)."""
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _lines_of(paths: list[Path]) -> Iterator[str]:
    for path in paths:
        yield from read_text(path).splitlines()


def _kjv_verses(folder: Path) -> Iterator[str]:
    """The `text` column of kjv_verses.tsv (book, chapter, verse, text; a header row)."""
    rows = read_text(folder / "kjv_verses.tsv").splitlines()
    column = rows[0].split("\t").index("text") if rows else 0
    for row in rows[1:]:
        fields = row.split("\t")
        if len(fields) > column:
            yield fields[column]


# registered data set -> (lines reader over its folder, lines are already sentences)
REGISTERED: dict[str, tuple[Callable[[Path], Iterator[str]], bool]] = {
    "nltk_brown": (lambda d: _lines_of([d / "brown_plain.txt"]), True),
    "nltk_movie_reviews": (lambda d: _lines_of(sorted(d.glob("neg/*.txt")) + sorted(d.glob("pos/*.txt"))), True),
    "nltk_state_union": (lambda d: _lines_of(sorted(d.glob("*.txt"))), False),
    "nltk_inaugural": (lambda d: _lines_of(sorted(d.glob("*.txt"))), False),
    "debian_bible_kjv": (_kjv_verses, False),
    # one utterance or paragraph a line, cleaned per source (babybias.corpus.babylm)
    "babylm_10m": (lambda d: babylm_lines(d, "train_10M"), True),
    "babylm_100m": (lambda d: babylm_lines(d, "train_100M"), True),
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
    _lines: Callable[[], Iterator[str]]

    def lines(self) -> Iterator[str]:
        return self._lines()

    def describe(self) -> dict:
        return {"name": self.name, "kind": self.kind, "sha256": self.sha256, "files": self.files,
                "sentence_per_line": self.presplit}


def _digest(items: dict[str, str]) -> str:
    blob = json.dumps(items, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()


def resolve_source(name: str, data_cfg) -> Source:
    """A registered data set name or a user path -> Source (DataError when missing or unsupported)."""
    if name in DATASETS:
        if name not in REGISTERED:
            raise DataError(f"data set {name!r} is not a text corpus",
                            fix=f"use corpus.sources from {', '.join(REGISTERED)} or paths to .txt/.jsonl files")
        folder = store.require(name, data_cfg)
        reader, presplit = REGISTERED[name]
        checksums = store.expected_files(name, store.data_root(data_cfg))  # pinned, or recorded on first use
        return Source(name, "registered", _digest(checksums), len(checksums), presplit, lambda: reader(folder))
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "dataset_info.json").exists() and not (path / "state.json").exists():
            raise DataError(f"corpus source {name} is a folder but not a saved `datasets` dataset",
                            fix="pass a folder written by Dataset.save_to_disk, or a .txt/.jsonl file")
        checksums = {str(p.relative_to(path)): file_sha256(p) for p in sorted(path.rglob("*")) if p.is_file()}
        return Source(name, "dataset", _digest(checksums), len(checksums), False, lambda: _dataset_lines(path))
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix not in (".txt", ".jsonl"):
            raise DataError(f"corpus source {name} has an unsupported type {suffix!r}",
                            fix="use a .txt file (one sentence or paragraph a line), a .jsonl file (`text` field) "
                                "or a saved `datasets` folder")
        reader = (lambda: _lines_of([path])) if suffix == ".txt" else (lambda: _jsonl_lines(path))
        return Source(name, suffix[1:], file_sha256(path), 1, False, reader)
    raise DataError(f"corpus source {name!r} is neither a registered data set nor an existing file",
                    fix=f"check the path, or use one of {', '.join(REGISTERED)} (after `babybias data prepare`)")


def _jsonl_lines(path: Path) -> Iterator[str]:
    for number, line in enumerate(read_text(path).splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            raise DataError(f"{path}:{number} is not valid JSON", fix="write one JSON object per line") from None
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            raise DataError(f"{path}:{number} has no string `text` field", fix="give every line a \"text\" field")
        yield from record["text"].splitlines()


def _dataset_lines(path: Path) -> Iterator[str]:
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
            yield from str(text).splitlines()
