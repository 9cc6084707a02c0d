"""Scan files for traces of deleted examples: their texts, their feature rows, their ids, copies of removed
checkpoints.

The ledger holds only salted hashes (`salted.py`), so the scan looks for what hashes into them:

- texts: the audit recovers the deleted texts from the data set (every text of the run's task whose salted
  hash is in the ledger) and searches every file's bytes for them (UTF-8, as written and lowercased);
- feature rows: every row of every 2-D float32 `.npy` array is hashed (exact bytes);
- ids: every entry of every 1-D integer `.npy` array (the run's feature-id files) is hashed;
- removed checkpoints: every file's sha256 is compared with the weight digests of removed checkpoints, so
  a renamed copy is found too.

A trace is found only as the exact bytes written: features recomputed elsewhere (other batches, another
machine) can differ in the last bits and are not recognised.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from babybias.unlearn import salted

CHUNK = 1 << 24


@dataclass
class Traces:
    """What counts as a trace of the deleted examples, for one run."""

    salt: str
    texts: list[bytes] = field(default_factory=list)
    rows: set = field(default_factory=set)
    ids: set = field(default_factory=set)
    weights: set = field(default_factory=set)
    """sha256 of removed checkpoints' weight files."""


def _read_scan(path: Path, needles: list[bytes]) -> tuple[str, set[bytes]]:
    """(sha256 of the file, the needles it contains), reading it in chunks that overlap by the longest needle."""
    digest, found = hashlib.sha256(), set()
    overlap = max((len(n) for n in needles), default=1) - 1
    tail = b""
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            digest.update(block)
            window = tail + block
            found.update(n for n in needles if n not in found and n in window)
            tail = window[-overlap:] if overlap else b""
    return digest.hexdigest(), found


def _npy_traces(path: Path, traces: Traces) -> list[str]:
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError):
        return []
    if array.ndim == 2 and array.dtype == np.float32 and traces.rows:
        hits = sum(salted.row_hash(traces.salt, row) in traces.rows for row in array)
        return [f"{path} holds {hits} feature row(s) of deleted examples"] if hits else []
    if array.ndim == 1 and np.issubdtype(array.dtype, np.integer) and traces.ids:
        hits = salted.hashed_members(traces.salt, np.asarray(array), traces.ids)
        return [f"{path} holds {len(hits)} deleted id(s)"] if hits else []
    return []


def scan(roots: list[Path], traces: Traces) -> tuple[list[str], int]:
    """Problems found in every regular file under `roots` (symbolic links are not followed: the files they
    name are scanned where they live); returns (problems, files scanned)."""
    needles = sorted(set(traces.texts) | {t.lower() for t in traces.texts}, key=len)
    problems, scanned = [], 0
    for root in roots:
        if not Path(root).exists():
            continue
        for folder, _, files in os.walk(root):
            for name in sorted(files):
                path = Path(folder) / name
                if path.is_symlink() or not path.is_file():
                    continue
                scanned += 1
                digest, found = _read_scan(path, needles)
                if digest in traces.weights:
                    problems.append(f"{path} is a copy of the weights of a checkpoint removed for a deletion")
                if found:
                    problems.append(f"{path} contains {len(found)} deleted text(s)")
                if path.suffix == ".npy":
                    problems += _npy_traces(path, traces)
    return problems, scanned
