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
