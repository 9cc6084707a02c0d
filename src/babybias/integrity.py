"""File integrity: sha256 sums recorded where artifacts are written and checked before anything is trusted.

Checkpoints, the final model, cached corpora, tokenizers and token blocks, and a run's saved data order each
carry the sha256 and size of their files (written with them, inside the same atomic publish). A reader calls
`verify_sums` before using them: a truncated, zeroed or altered file then raises an `IntegrityError` naming the
file, instead of being trained on or surfacing as a raw deserialization traceback. Callers decide what to do
with it: fall back to an older checkpoint, rebuild a cache entry, or refuse with the fix.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any, Iterable

from babybias.errors import IntegrityError
from babybias.runs import file_sha256

SUMS_FILE = "checksums.json"


def sums_of(folder: str | os.PathLike, names: Iterable[str]) -> dict[str, dict]:
    """{file name: {"sha256": hex, "bytes": size}} of the named files in `folder`."""
    folder = Path(folder)
    return {name: {"sha256": file_sha256(folder / name), "bytes": (folder / name).stat().st_size}
            for name in sorted(names)}


def write_folder_sums(folder: str | os.PathLike) -> Path:
    """Record the sums of every file directly in `folder` (but this one) in `folder/checksums.json`.

    Call it last, on the temporary folder, before the folder is published."""
    folder = Path(folder)
    names = [p.name for p in folder.iterdir() if p.is_file() and p.name != SUMS_FILE]
    path = folder / SUMS_FILE
    path.write_text(json.dumps({"files": sums_of(folder, names)}, indent=2, sort_keys=True) + "\n")
    return path


def verify_sums(folder: str | os.PathLike, sums: dict[str, dict], what: str) -> None:
    """Raise IntegrityError naming the first file of `sums` that is missing or differs (size, then sha256)."""
    folder = Path(folder)
    for name, expected in sorted(sums.items()):
        path = folder / name
        if not path.is_file():
            raise IntegrityError(f"{what} {folder} is incomplete: {name} is missing")
        size = path.stat().st_size
        if "bytes" in expected and size != expected["bytes"]:
            raise IntegrityError(f"{what} {folder} is corrupt: {name} has {size} bytes, {expected['bytes']} were written")
        if file_sha256(path) != expected["sha256"]:
            raise IntegrityError(f"{what} {folder} is corrupt: {name} differs from what was written (sha256)")


def verify_folder(folder: str | os.PathLike, what: str) -> bool:
    """Check `folder` against its checksums.json; False when it has none (written before sums existed)."""
    folder = Path(folder)
    if not (folder / SUMS_FILE).exists():
        return False
    recorded = read_json(folder / SUMS_FILE, what=f"the checksums of {what} {folder}")
    if not isinstance(recorded, dict) or not isinstance(recorded.get("files"), dict):
        raise IntegrityError(f"{what} {folder} is corrupt: {SUMS_FILE} is not a checksum list")
    verify_sums(folder, recorded["files"], what)
    return True


def read_json(path: str | os.PathLike, what: str | None = None) -> Any:
    """Parse a JSON file; a truncated or garbled one raises IntegrityError naming it (not a JSONDecodeError)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        return json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise IntegrityError(f"{what or path} is corrupt: {path} is not valid JSON ({err})") from None


# ------------------------------------------------------------------ debris of killed writers
_STALE = re.compile(r"^\..+\.(tmp-|old-)")
# the temporary names of older versions (tempfile.mkdtemp's 8 random characters after `.<name>.`)
_STALE_LEGACY = re.compile(r"^\.(step-\d+|model|tokenizer|data_order|checkpoints|[\w.-]+\.(json|jsonl|yaml|npy|txt|pt))"
                           r"\.[a-z0-9_]{8}$")


def remove_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Delete what killed writers left directly in `folder`: `.<name>.tmp-*` / `.<name>.old-*` (see
    `babybias.runs.atomic_path`) and the older `.<name>.<random>` names. Only call it while holding the
    folder's run lock: a live writer's temporaries look the same."""
    folder = Path(folder)
    removed = []
    if not folder.is_dir():
        return removed
    for entry in folder.iterdir():
        if _STALE.match(entry.name) or _STALE_LEGACY.match(entry.name):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            removed.append(entry)
    return removed


def discard(path: str | os.PathLike) -> None:
    """Move a corrupt file or folder out of the way (atomically), then delete it; other readers that have it
    open keep their copy, new readers no longer find it."""
    path = Path(path)
    aside = path.with_name(f".{path.name}.old-{os.getpid()}-{time.time_ns()}")
    try:
        os.replace(path, aside)
    except FileNotFoundError:
        return
    if aside.is_dir() and not aside.is_symlink():
        shutil.rmtree(aside, ignore_errors=True)
    else:
        aside.unlink(missing_ok=True)
