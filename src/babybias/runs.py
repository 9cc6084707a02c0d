"""Run directories, atomic writes, config hashing, seeding.

Every run writes `runs/<name>/<command>/` holding `config.yaml` (fully resolved, with the seed actually
used), `meta.json` (git commit, package versions, device, input artifact hashes), `metrics.jsonl`, its
artifacts (written atomically) and `DONE`, written last. Downstream commands take a run directory.
"""

from __future__ import annotations

import dataclasses
import errno
import fcntl
import hashlib
import json
import os
import platform
import random
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from babybias.errors import BabybiasError

DONE = "DONE"
TMP_MARK = ".tmp-"
"""Temporary siblings are named `.<target name>.tmp-<random>`; folders moved aside `.<target name>.old-<pid>-<ns>`."""


# ---------------------------------------------------------------- atomic writes
@contextmanager
def atomic_path(path: str | os.PathLike, *, keep_existing: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds.

    Works for files and directories (a directory target is replaced whole). Concurrent writers are safe:
    with `keep_existing=True` (content-addressed caches, where any complete copy is as good as another) the
    first one to publish wins and later ones discard theirs; otherwise the last one to publish wins.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # `.<name>.tmp-*`: what a killed writer leaves behind is recognisable (see `remove_stale_temporaries`)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}{TMP_MARK}", dir=path.parent))
    target = tmp / "payload"
    try:
        yield target
        _publish(target, path, keep_existing)
    finally:
        _rmtree(tmp)


def _publish(target: Path, path: Path, keep_existing: bool) -> None:
    """Rename `target` onto `path`, moving a directory that is in the way aside (retrying if another writer
    publishes between our steps)."""
    for _ in range(100):
        if keep_existing and (path.exists() or path.is_symlink()):
            return
        try:
            os.replace(target, path)  # atomic for files; for directories only when `path` is absent or empty
            return
        except OSError as err:
            if err.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.EISDIR, errno.ENOTDIR):
                raise
        if keep_existing:
            return
        old = path.with_name(f".{path.name}.old-{os.getpid()}-{time.time_ns()}")
        try:
            os.replace(path, old)
        except FileNotFoundError:
            continue  # another writer moved it already: try again
        _rmtree(old)
    raise OSError(f"could not publish {path}: other writers kept replacing it")


def _rmtree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(to_jsonable(obj), indent=2, sort_keys=True) + "\n")


def append_jsonl(path: str | os.PathLike, record: dict) -> None:
    """Append one JSON line and fsync (append-only logs survive a kill mid-run up to the last full line)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(to_jsonable(record), sort_keys=True) + "\n").encode("utf-8")
    with open(path, "a+b") as fh:
        if fh.seek(0, os.SEEK_END) > 0:
            fh.seek(-1, os.SEEK_END)
            if fh.read(1) != b"\n":  # a line torn by a kill: end it, so it cannot swallow this record
                line = b"\n" + line
        fh.write(line)
        fh.flush()
        os.fsync(fh.fileno())


def read_jsonl_report(path: str | os.PathLike) -> tuple[list[dict], list[int]]:
    """(the records of every parseable line, the 1-based numbers of the lines that are not JSON objects).

    A garbled line (a kill mid-write, a disk error, a hand edit) is skipped, never the lines after it.
    """
    path = Path(path)
    if not path.exists():
        return [], []
    records, bad = [], []
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, 1):
            line = raw.strip()
            if not line:
                continue
            try:
                record = json.loads(line.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                record = None
            if isinstance(record, dict):
                records.append(record)
            else:
                bad.append(number)
    return records, bad


def read_jsonl(path: str | os.PathLike, warn: bool = True) -> list[dict]:
    """The records of a JSON-lines file; unreadable lines are skipped and (with `warn`) counted on stderr."""
    records, bad = read_jsonl_report(path)
    if bad and warn:
        print(f"warning: {path}: skipped {describe_lines(bad)} that are not JSON records")
    return records


def describe_lines(numbers: list[int], shown: int = 5) -> str:
    """"1 unreadable line (line 7)" / "3 unreadable lines (lines 2, 5, 9)"."""
    listed = ", ".join(map(str, numbers[:shown])) + (", ..." if len(numbers) > shown else "")
    plural = "s" if len(numbers) > 1 else ""
    return f"{len(numbers)} unreadable line{plural} (line{plural} {listed})"


# ---------------------------------------------------------------- hashing
def to_jsonable(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "item") and callable(obj.item) and getattr(obj, "ndim", 1) == 0:
        return obj.item()  # numpy / torch scalars
    if hasattr(obj, "tolist"):
        return obj.tolist()
    return obj


def config_hash(obj: Any, length: int = 12) -> str:
    """sha256 of the canonical JSON of a config (dataclass/dict): same config -> same key."""
    blob = json.dumps(to_jsonable(obj), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:length]


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


# ---------------------------------------------------------------- seeding
def resolve_seed(seed: int | None) -> int:
    """A null seed means "draw one": the drawn seed must then be recorded in the run's config.yaml."""
    if seed is None:
        return int.from_bytes(os.urandom(4), "little") & 0x7FFFFFFF
    return int(seed)


def child_seed(seed: int, name: str) -> int:
    """A deterministic, independent seed for one purpose ("model_init", "data_order", "shard/3", ...)."""
    digest = hashlib.sha256(f"{seed}/{name}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def seed_everything(seed: int) -> None:
    random.seed(seed)
    try:
        import numpy as np

        np.random.seed(seed % (2**32))
    except ImportError:  # pragma: no cover
        pass
    if "torch" in sys.modules:
        import torch

        torch.manual_seed(seed)


def ensure_writable(folder: str | os.PathLike, fix: str) -> Path:
    """Create `folder` and write (and remove) a probe file in it, so a read-only or full disk is found before hours
    of work, not after: BabybiasError naming the folder and `fix` otherwise."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=f".probe{TMP_MARK}") as fh:
            fh.write(b"x" * 4096)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as err:
        reason = "no space left on device" if err.errno == errno.ENOSPC else (err.strerror or str(err))
        raise BabybiasError(f"cannot write into {folder} ({reason})", fix=fix) from None
    return folder


# ---------------------------------------------------------------- run locks
LOCK_FILE = ".lock"


class RunLocked(BabybiasError):
    """Another live process holds the run directory's lock."""


_held: dict[Path, list] = {}  # resolved lock path -> [open file, depth]: re-entrant within one process


@contextmanager
def run_lock(folder: str | os.PathLike, command: str = "") -> Iterator[Path]:
    """Hold an exclusive lock on a run directory for the life of the block (`fcntl.flock` on `<folder>/.lock`).

    The OS releases it when the process dies (kill -9, OOM, preemption), so a stale lock never blocks a rerun.
    A second holder fails at once with the first one's pid, host, command and start time. Re-entrant in one
    process (a study that runs commands in-process locks each run once). The lock file is never deleted:
    deleting it would let two processes lock two different files of one name.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = (folder / LOCK_FILE).resolve()
    if path in _held:
        _held[path][1] += 1
        try:
            yield path
        finally:
            _held[path][1] -= 1
        return
    fh = open(path, "a+", encoding="utf-8")
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as err:
        fh.seek(0)
        holder = fh.read().strip() or "another process"
        fh.close()
        if err.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise
        raise RunLocked(f"{folder} is in use by {holder}",
                        fix="wait for that run to finish (or stop it), or choose another name=") from None
    fh.seek(0)
    fh.truncate()
    fh.write(f"pid {os.getpid()} on host {socket.gethostname()} ({command or 'babybias'}, since "
             f"{time.strftime('%Y-%m-%dT%H:%M:%S%z')})\n")
    fh.flush()
    _held[path] = [fh, 1]
    try:
        yield path
    finally:
        _held[path][1] -= 1
        if _held[path][1] == 0:
            del _held[path]
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
            fh.close()


# ---------------------------------------------------------------- run directories
class RunDir:
    """One run's directory: config.yaml, meta.json, metrics.jsonl, artifacts, DONE (last)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def __truediv__(self, other: str) -> Path:
        return self.path / other

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    @property
    def done(self) -> bool:
        return (self.path / DONE).exists()

    def create(self) -> "RunDir":
        self.path.mkdir(parents=True, exist_ok=True)
        return self

    def write_config(self, cfg: Any) -> Path:
        """Write the fully resolved config (a dataclass or dict) as config.yaml."""
        from omegaconf import OmegaConf

        data = to_jsonable(cfg)
        return atomic_write_text(self.path / "config.yaml", OmegaConf.to_yaml(OmegaConf.create(data)))

    def read_config(self) -> dict:
        from omegaconf import OmegaConf

        path = self.path / "config.yaml"
        if not path.exists():
            raise BabybiasError(f"{self.path} has no config.yaml", fix="pass a run directory written by babybias")
        try:
            loaded = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
        except Exception as err:  # yaml scanner/parser errors, an interpolation that no longer resolves
            from babybias.errors import IntegrityError

            raise IntegrityError(f"{path} is corrupt or not a babybias config ({type(err).__name__}: "
                                 f"{str(err).splitlines()[0][:160] if str(err) else ''})",
                                 fix="restore it from a copy, or start the run over under another name=") from None
        if not isinstance(loaded, dict):
            from babybias.errors import IntegrityError

            raise IntegrityError(f"{path} is corrupt: not a mapping of settings",
                                 fix="restore it from a copy, or start the run over under another name=")
        return loaded

    def write_meta(self, inputs: dict[str, str] | None = None, **extra: Any) -> Path:
        meta = {
            "git_commit": git_commit(),
            "git_dirty": git_dirty(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "packages": package_versions(),
            "inputs": inputs or {},
            "argv": sys.argv,
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            **extra,
        }
        return atomic_write_json(self.path / "meta.json", meta)

    def log(self, record: dict, filename: str = "metrics.jsonl") -> None:
        append_jsonl(self.path / filename, record)

    def metrics(self, filename: str = "metrics.jsonl") -> list[dict]:
        return read_jsonl(self.path / filename)

    def mark_done(self, summary: dict | None = None) -> None:
        atomic_write_json(self.path / DONE, {"finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **(summary or {})})

    def clear_done(self) -> None:
        (self.path / DONE).unlink(missing_ok=True)

    def lock(self, command: str = ""):
        """Context manager: exclusive lock on this run directory (see `run_lock`)."""
        return run_lock(self.path, command)


def run_dir_for(runs_root: str, name: str, command: str) -> RunDir:
    """runs/<name>/<command>; inside a Hydra multirun the job's overrides are appended to keep jobs apart."""
    suffix = _multirun_suffix()
    base = Path(runs_root) / name
    if suffix:
        base = base / suffix
    return RunDir(base / command)


def _multirun_suffix() -> str:
    try:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        if not HydraConfig.initialized():
            return ""
        hc = HydraConfig.get()
        if hc.mode != RunMode.MULTIRUN:
            return ""
        return _short_dirname(hc.job.override_dirname) or f"job{hc.job.num}"
    except Exception:  # pragma: no cover - hydra absent or not initialized
        return ""


def _short_dirname(dirname: str, limit: int = 120) -> str:
    """Keep sweep folder names under Linux's 255-byte limit: long override sets become prefix + hash."""
    dirname = dirname.replace("/", "_")
    if len(dirname) <= limit:
        return dirname
    digest = hashlib.sha256(dirname.encode()).hexdigest()[:10]
    return f"{dirname[: limit - 11]}-{digest}"


def find_run(ref: str, runs_root: str = "runs", command: str = "pretrain") -> RunDir:
    """Resolve a run given by path or by `name` (runs/<name>/<command>)."""
    candidates = [Path(ref), Path(ref) / command, Path(runs_root) / ref / command, Path(runs_root) / ref]
    for c in candidates:
        if (c / "config.yaml").exists():
            return RunDir(c)
    raise BabybiasError(
        f"no {command} run found for {ref!r} (looked in {', '.join(str(c) for c in candidates)})",
        fix=f"pass a run directory, or the name= of a finished `babybias {command}` run",
    )


# ---------------------------------------------------------------- provenance
def git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
            cwd=Path(__file__).resolve().parent,
        )
        return out.stdout.strip() or None
    except Exception:
        return None


def git_dirty(folder: str | os.PathLike | None = None) -> bool | None:
    """Whether the checkout babybias runs from (or `folder`'s) has uncommitted changes to tracked files (then `git_commit` alone does
    not name the code that ran); None outside a git checkout (an installed wheel)."""
    try:
        out = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, timeout=10,
            cwd=folder or Path(__file__).resolve().parent,
        )
    except Exception:
        return None
    return bool(out.stdout.strip()) if out.returncode == 0 else None


def package_versions() -> dict[str, str]:
    from importlib import metadata

    names = ["babybias", "torch", "transformers", "tokenizers", "datasets", "hydra-core", "omegaconf",
             "fairlearn", "scikit-learn", "scipy", "numpy", "pandas"]
    out = {}
    for n in names:
        try:
            out[n] = metadata.version(n)
        except metadata.PackageNotFoundError:
            pass
    return out
