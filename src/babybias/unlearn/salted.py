"""Salted hashes: what the ledger keeps of a deleted example instead of the example.

A run draws one random salt (16 bytes, recorded in its ledger's `trained` record). The ledger stores
sha256(salt / kind / value) of each deleted id, of its text (UTF-8) and of its feature row (little-endian
float32 bytes), never the values. They prove a deletion to anyone who holds the run directory and a
candidate value: the audit hashes every id, text and feature row it finds and looks them up. The salt keeps
two runs' hashes of the same example unlinkable; it does not hide an id from someone holding the salt (the id
space is small and public), so a ledger is as private as its run directory.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable

import numpy as np


def new_salt() -> str:
    return os.urandom(16).hex()


def _hash(salt: str, kind: str, value: bytes) -> str:
    return hashlib.sha256(f"{salt}/{kind}/".encode() + value).hexdigest()


def id_hash(salt: str, ident: int) -> str:
    return _hash(salt, "id", str(int(ident)).encode())


def text_hash(salt: str, text: str) -> str:
    return _hash(salt, "text", str(text).encode("utf-8"))


def row_hash(salt: str, row: np.ndarray) -> str:
    return _hash(salt, "row", np.ascontiguousarray(row, dtype="<f4").tobytes())


def id_hashes(salt: str, ids: Iterable[int]) -> list[str]:
    return sorted(id_hash(salt, i) for i in ids)


def text_hashes(salt: str, texts: Iterable[str]) -> list[str]:
    return sorted({text_hash(salt, t) for t in texts})


def row_hashes(salt: str, rows: np.ndarray) -> list[str]:
    return sorted(row_hash(salt, r) for r in np.asarray(rows))


def hashed_members(salt: str, ids: Iterable[int], hashes: set[str]) -> list[int]:
    """The ids among `ids` whose salted hash is in `hashes` (how the audit recognises a deleted id)."""
    return sorted(int(i) for i in ids if id_hash(salt, i) in hashes)
