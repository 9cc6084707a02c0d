"""Checksums recorded on first use, for data sets registered without pinned checksums (the BabyLM corpora).

`<data root>/checksums.lock.json` maps a data set to {relative path: sha256}. The first `babybias data prepare`
of such a data set records the sha256 of the files it copied or downloaded; a later prepare (say, after the
folder was deleted) refuses files that differ from the record, and every `check`/`require` verifies against it
exactly as against the registry's pinned checksums. To accept a new upstream version on purpose, delete the
data set's entry from the lock file and prepare again.
"""

from __future__ import annotations

import json
from pathlib import Path

from babybias.errors import DataError
from babybias.runs import atomic_write_text, file_sha256

LOCK_FILE = "checksums.lock.json"


def lock_path(root: Path) -> Path:
    return Path(root) / LOCK_FILE


def locked_checksums(name: str, root: Path) -> dict[str, str] | None:
    """The checksums recorded for data set `name` under `root`, or None when none were recorded yet."""
    try:
        entries = json.loads(lock_path(root).read_text())
    except FileNotFoundError:
        return None
    except ValueError:
        raise DataError(f"{lock_path(root)} is not valid JSON",
                        fix="restore it, or delete it and prepare the data sets it held again") from None
    return entries.get(name)


def record_or_verify(name: str, root: Path, files: tuple[str, ...]) -> dict[str, str]:
    """sha256 of the data set's files under `root/name`: recorded in the lock when new, else checked against it."""
    folder = Path(root) / name
    digests = {rel: file_sha256(folder / rel) for rel in files}
    previous = locked_checksums(name, root)
    if previous is not None:
        differ = [rel for rel in files if previous.get(rel) != digests[rel]]
        if differ:
            raise DataError(f"data set {name!r}: {differ[0]} (and {len(differ) - 1} more) differs from the sha256 "
                            f"recorded on first use in {lock_path(root)}",
                            fix=f"restore the original files, or delete the {name!r} entry of {lock_path(root)} to "
                                "accept the new version on purpose")
        return previous
    try:
        entries = json.loads(lock_path(root).read_text()) if lock_path(root).exists() else {}
        entries[name] = digests
        atomic_write_text(lock_path(root), json.dumps(entries, indent=1, sort_keys=True) + "\n")
    except OSError as err:
        raise DataError(f"cannot record the checksums of {name!r} in {lock_path(root)} ({err})",
                        fix="use a writable data root (data.root=DIR or BABYBIAS_DATA_ROOT)") from None
    return digests
