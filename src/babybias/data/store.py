"""The data root: find, verify and prepare registered data sets.

`require(name, data_cfg)` is what every loader calls: it returns the data set's folder after checking
that each registered file is present with the registered sha256, or raises a `DataError` naming the fix.
Data sets registered without pinned checksums are checked against the sha256 recorded in the data root's lock
file by their first `prepare` (babybias.data.lock).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from babybias.data import lock, osf
from babybias.data.registry import DATASETS, DatasetSpec, files_of
from babybias.errors import DataError
from babybias.runs import file_sha256

_STAMP = ".verified.json"
GIT_BLOB = "git-blob-sha1:"


@dataclass
class DatasetStatus:
    name: str
    present: int
    expected: int
    bad: list[str]
    """Files missing or with a wrong checksum."""

    @property
    def ok(self) -> bool:
        return not self.bad and self.present == self.expected


def _known(name: str) -> DatasetSpec:
    if name not in DATASETS:
        raise DataError(f"unknown data set {name!r}", fix=f"choose from: {', '.join(DATASETS)}")
    return DATASETS[name]


def data_root(data_cfg) -> Path:
    return Path(data_cfg.root)


def expected_files(name: str, root: Path) -> dict[str, str | None]:
    """Relative path -> sha256 of a data set's files: pinned in the registry, else recorded in the lock file on
    first use (None while nothing was recorded)."""
    spec = _known(name)
    if spec.pinned:
        return files_of(name)
    recorded = lock.locked_checksums(name, root) or {}
    return {rel: recorded.get(rel) for rel in spec.files}


def check(name: str, root: Path, full: bool = True) -> DatasetStatus:
    """Compare a data set's files under `root/name` with the registry (checksums when `full`).

    A data set of alternative files (`DatasetSpec.alternatives`) counts as one expected file: complete when
    any of them is present, and every present one must verify.
    """
    spec = _known(name)
    folder = root / name
    expected = expected_files(name, root)
    stamp = _read_stamp(folder)
    bad, present = [], 0
    for rel, digest in expected.items():
        path = folder / rel
        if not path.is_file():
            if not spec.alternatives:
                bad.append(f"{rel} (missing)")
            continue
        present += 1
        if not full:
            continue
        if digest is None:
            bad.append(f"{rel} (no checksum recorded in {lock.lock_path(root)})")
            continue
        # the stamp vouches for this file's bytes against this digest only (a changed registry or lock re-hashes)
        key = f"{path.stat().st_size}:{path.stat().st_mtime_ns}:{digest}"
        if stamp.get(rel) == key:
            continue
        if not digest_matches(path, digest):
            bad.append(f"{rel} (checksum differs)")
        else:
            stamp[rel] = key
    if spec.alternatives and not present:
        bad.append(f"{' or '.join(spec.alternatives)} (missing)")
    if full and not bad:
        _write_stamp(folder, stamp)
    if spec.alternatives:
        return DatasetStatus(name, min(present, 1), 1, bad)
    return DatasetStatus(name, present, len(expected), bad)


def digest_matches(path: Path, digest: str) -> bool:
    """True when the file has the registered digest: a sha256, or `git-blob-sha1:<git object id>`."""
    if digest.startswith(GIT_BLOB):
        return git_blob_sha1(path) == digest[len(GIT_BLOB):]
    return file_sha256(path) == digest


def git_blob_sha1(path: Path) -> str:
    """The file's git object id (`git hash-object`): sha1 of `blob <size>\\0` followed by the bytes."""
    h = hashlib.sha1(f"blob {path.stat().st_size}\0".encode())
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _read_stamp(folder: Path) -> dict:
    try:
        return json.loads((folder / _STAMP).read_text())
    except (OSError, ValueError):
        return {}


def _write_stamp(folder: Path, stamp: dict) -> None:
    # A read-only folder (a shared mirror used as data root) is never written to, not even as root.
    if not folder.stat().st_mode & 0o200:
        return
    try:
        (folder / _STAMP).write_text(json.dumps(stamp))
    except OSError:  # read-only data roots are fine: we just re-hash next time
        pass


def require(name: str, data_cfg, verify: bool | None = None) -> Path:
    """The verified folder of data set `name` under the data root, or a DataError with the fix."""
    root = data_root(data_cfg)
    verify = data_cfg.verify if verify is None else verify
    status = check(name, root, full=verify)
    if not status.ok:
        first = status.bad[0] if status.bad else "incomplete"
        more = f" and {len(status.bad) - 1} more" if len(status.bad) > 1 else ""
        raise DataError(
            f"data set {name!r} under {root} is not usable: {first}{more}",
            fix=f"run `babybias data prepare datasets=[{name}]`",
        )
    return root / name


def prepare(name: str, data_cfg, force: bool = False) -> DatasetStatus:
    """Fill `<root>/<name>` from the mirror (if set) or the public source, then verify."""
    spec = _known(name)
    root = data_root(data_cfg)
    if not force and check(name, root).ok:
        return check(name, root)
    target = root / name
    target.mkdir(parents=True, exist_ok=True)
    if data_cfg.mirror:
        _copy_from_mirror(name, Path(data_cfg.mirror), target)
    else:
        _download(spec, target)
    if not spec.pinned:
        missing = [rel for rel in spec.files if not (target / rel).is_file()]
        if missing:
            raise DataError(f"{name}: after prepare, {missing[0]} is missing", fix="check the mirror folder or the download")
        lock.record_or_verify(name, root, spec.files)
    status = check(name, root)
    if not status.ok:
        raise DataError(f"{name}: after prepare, {status.bad[0]}", fix="check the mirror folder or the download")
    return status


def _copy_from_mirror(name: str, mirror: Path, target: Path) -> None:
    source = mirror / name
    if not source.is_dir():
        raise DataError(f"mirror {mirror} has no folder {name!r}", fix="set data.mirror=PATH to a folder holding it")
    files = list(expected_files(name, target.parent))
    if DATASETS[name].alternatives:  # interchangeable copies: take the ones the mirror has
        files = [rel for rel in files if (source / rel).is_file()] or files[:1]
    for rel in files:
        src, dst = source / rel, target / rel
        if not src.is_file():
            raise DataError(f"mirror file {src} is missing", fix="repair the mirror or unset data.mirror")
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.with_name(dst.name + ".part")
        shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
    for readme in source.glob("README*"):
        shutil.copyfile(readme, target / readme.name)


def _fetch(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=60) as resp:  # noqa: S310 - fixed https addresses
            return resp.read()
    except OSError as err:
        raise DataError(f"cannot download {url} ({err})",
                        fix="set data.mirror=PATH (or BABYBIAS_DATA_MIRROR) to an offline copy") from None


def _download(spec: DatasetSpec, target: Path) -> None:
    if spec.alternatives:  # the most preferred copy with a public address
        for rel in spec.alternatives:
            url = spec.url_map.get(rel) or (f"{spec.base_url}/{rel}" if spec.base_url else None)
            if url:
                (target / rel).parent.mkdir(parents=True, exist_ok=True)
                (target / rel).write_bytes(_fetch(url))
                return
    if spec.manual:
        raise DataError(f"{spec.name} has no direct public file", fix=spec.manual)
    for project, path in spec.osf_archives:
        osf.fetch_members(project, path, spec.files, target, spec.name)
    if spec.osf_archives:
        return
    if spec.archive_url:
        with zipfile.ZipFile(io.BytesIO(_fetch(spec.archive_url))) as zf:
            for member in zf.namelist():
                if member.endswith("/") or not member.startswith(spec.archive_prefix):
                    continue
                dst = target / member[len(spec.archive_prefix):]
                dst.parent.mkdir(parents=True, exist_ok=True)
                dst.write_bytes(zf.read(member))
        if spec.name == "nltk_brown":
            derive_brown_plain(target / "original", target / "brown_plain.txt")
        return
    for rel in files_of(spec.name):
        url = spec.url_map.get(rel) or f"{spec.base_url}/{rel}"
        dst = target / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_bytes(_fetch(url))


def derive_brown_plain(original: Path, out: Path) -> None:
    """brown_plain.txt from the tagged files: one sentence a line, `word/tag` -> word, `` and '' -> "."""
    if not original.is_dir():  # archives unpack without the original/ level
        original = out.parent
    lines = []
    for path in sorted(original.glob("c[a-r][0-9][0-9]")):
        for raw in path.read_text(encoding="latin-1").splitlines():
            tokens = raw.split()
            if not tokens:
                continue
            words = [t.rsplit("/", 1)[0] for t in tokens]
            lines.append(" ".join('"' if w in ("``", "''") else w for w in words))
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
