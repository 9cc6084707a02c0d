"""User-facing errors.

A `BabybiasError` is a mistake the user can fix (missing file, bad override, empty corpus). The CLI prints
its message on one line, without a traceback, and exits non-zero. Programming errors keep their tracebacks.
"""

from __future__ import annotations


class BabybiasError(Exception):
    """An error with a one-line fix for the user.

    `BabybiasError("CrowS-Pairs file is missing", fix="run `babybias data prepare datasets=crows_pairs`")`
    renders as "CrowS-Pairs file is missing: run `babybias data prepare datasets=crows_pairs`".
    """

    def __init__(self, message: str, fix: str | None = None):
        self.message = message
        self.fix = fix
        super().__init__(f"{message}: {fix}" if fix else message)


class DataError(BabybiasError):
    """Missing, altered or malformed data files."""


class ConfigError(BabybiasError):
    """A configuration value that cannot work (phrased as the override to change)."""


class IntegrityError(BabybiasError):
    """A file that is corrupt, truncated, altered or not what it claims to be (names the file)."""


def os_error_message(err: OSError, roots: dict[str, str] | None = None) -> str:
    """One line for an OSError of a command: the file, what went wrong, and the setting to change.

    `roots` maps settings to folders (e.g. {"paths.runs": "runs", "paths.cache": "data/cache"}): a file under
    one of them names that setting as the fix (a read-only or full runs/data root)."""
    import errno as codes
    from pathlib import Path

    name = err.filename or "a file"
    folder = Path(str(err.filename)).parent if err.filename else None
    setting = None
    if err.filename:
        target = Path(str(err.filename)).absolute()
        for key, root in (roots or {}).items():
            if root and (target == Path(root).absolute() or Path(root).absolute() in target.parents):
                setting = key
                break
    elsewhere = f"point {setting}= to another folder" if setting else "choose another output folder"
    if err.errno == codes.ENOSPC:
        return f"no space left on device while writing {name} (folder {folder}): free space there, or {elsewhere}"
    if err.errno == codes.EDQUOT:
        return f"disk quota exceeded while writing {name} (folder {folder}): free space there, or {elsewhere}"
    if err.errno in (codes.EROFS, codes.EACCES, codes.EPERM):
        kind = "read-only file system" if err.errno == codes.EROFS else "permission denied"
        return f"cannot write or read {name} ({kind}): make {folder} writable, or {elsewhere}"
    if err.errno == codes.ENOENT:
        return f"{name} does not exist: check the path (or the setting that points to it)"
    return f"{name}: {err.strerror or err}" + (f" (under {setting})" if setting else "")
