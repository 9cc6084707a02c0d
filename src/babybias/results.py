"""Evaluation result files: their names, what their numbers depend on, when one may be reused, and which
results may share a report column.

`babybias evaluate` writes one file per (checkpoint, benchmark variant), runs/<name>/eval/<checkpoint>/<stem>.json.
Besides the numbers it records everything they depend on:

    options          every result-changing option: the benchmark's own config block (`crows_pairs.scoring`,
                     `stereoset.source`, ...) and, for a debiased model, the `debias` settings
    scoring          {"precision": fp32 | bf16 | fp16, "autocast": bool, "tf32": false}
    bootstrap        how the confidence intervals were drawn (resamples, level, seed)
    weights_sha256   sha256 of the checkpoint's weights file (hashed once per checkpoint and process)
    code_version     {"definition": the metric module's DEFINITION_VERSION, "babybias": the package version}
    inputs           registered checksums of the data files present for the benchmark's data sets
    git_commit       recorded, not compared (and git_dirty: uncommitted changes to tracked files)

A stored result is reused only when all of these match (`stale_reason`): a retrained model, another
precision, another option, a new metric definition or other data files mean a recomputation. The stem is the
benchmark plus its non-default naming options, the debias method (and a hash of non-default debias
settings) and a non-fp32 precision, `crows_pairs-modified-inlp-bf16`, so variants never overwrite each other.
A new benchmark needs no code here: its config block (a dataclass field named after it in `EvaluateConfig`)
is read generically, fields declared with `configs.evaluate.stem(...)` name the file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

from babybias.errors import BabybiasError
from babybias.runs import file_sha256, to_jsonable

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
KEY_REASONS = {"options": "options changed", "precision": "scoring precision changed",
               "weights_sha256": "the checkpoint's weights changed", "code_version": "metric definition changed",
               "inputs": "data files changed", "bootstrap": "confidence interval settings changed",
               "debias_artifact": "the debiasing artifact was refitted"}


@dataclasses.dataclass(frozen=True)
class Variant:
    benchmark: str
    stem: str
    """File stem: benchmark, non-default naming options, debias method (+ settings hash), non-fp32 precision."""
    base_stem: str
    """The stem without its debias part: how a debiased result is paired with its baseline."""
    options: dict
    """Every result-changing option (recorded; part of the reuse key)."""
    precision: str
    """Scoring precision (fp32 | bf16 | fp16)."""
    bootstrap: dict | None = None
    """How its confidence intervals are drawn (`cfg.bootstrap`; part of the reuse key)."""


def variant(benchmark: str, cfg) -> Variant:
    """The variant of `benchmark` under an `EvaluateConfig` (see the module docstring)."""
    block = getattr(cfg, benchmark, None)
    options: dict[str, Any] = {}
    parts: list[str] = []
    if dataclasses.is_dataclass(block):
        for f in dataclasses.fields(block):
            value = to_jsonable(getattr(block, f.name))
            options[f.name] = value
            label = f.metadata.get("stem")
            if label is not None and value != to_jsonable(_default(f)):
                parts.append(_stem_part(f.name, label, value))
    debias_parts: list[str] = []
    debias = getattr(cfg, "debias", None)
    if debias is not None and debias.method != "none":  # a debiased model is its own variant
        from babybias.debias.artifacts import settings_suffix

        options["debias"] = to_jsonable(debias)
        debias_parts = [debias.method, *filter(None, [settings_suffix(debias)])]
    precision = cfg.scoring.precision
    tail = [precision] if precision != "fp32" else []
    return Variant(benchmark, "-".join([benchmark, *parts, *debias_parts, *tail]), "-".join([benchmark, *parts, *tail]),
                   options, precision, to_jsonable(getattr(cfg, "bootstrap", None)))


def _default(f: dataclasses.Field) -> Any:
    return f.default_factory() if f.default is dataclasses.MISSING else f.default  # type: ignore[misc]


def _stem_part(name: str, label: str, value: Any) -> str:
    if isinstance(value, (list, dict)):  # e.g. seat.tests=[...]: "tests" + a short hash
        return name + hashlib.sha256(",".join(map(str, value)).encode()).hexdigest()[:6]
    return label.format(value)


# ---------------------------------------------------------------- what a number depends on
def weights_files(model_dir: str | os.PathLike) -> list[Path]:
    """The checkpoint's weights: model.safetensors (else pytorch_model.bin), or its shards; [] when none."""
    folder = Path(model_dir)
    for name in WEIGHT_FILES:
        if (folder / name).is_file():
            return [folder / name]
    for pattern in ("model-*-of-*.safetensors", "pytorch_model-*-of-*.bin"):
        shards = sorted(folder.glob(pattern))
        if shards:
            return shards
    return []


_WEIGHTS_SHA256: dict[tuple, str] = {}


def weights_sha256(model_dir: str | os.PathLike) -> str | None:
    """sha256 of a checkpoint's weights file (of the shards' `name sha256` lines when sharded), hashed once per
    process while the files stay the same (path, inode, size, mtime): every benchmark and artifact asks for it."""
    files = weights_files(model_dir)
    if not files:
        return None
    stats = [(str(f.resolve()), f.stat().st_ino, f.stat().st_size, f.stat().st_mtime_ns) for f in files]
    key = tuple(stats)
    if key not in _WEIGHTS_SHA256:
        digests = [file_sha256(f) for f in files]
        _WEIGHTS_SHA256[key] = digests[0] if len(files) == 1 else hashlib.sha256(
            "".join(f"{f.name} {d}\n" for f, d in zip(files, digests)).encode()).hexdigest()
    return _WEIGHTS_SHA256[key]


@lru_cache(maxsize=None)
def package_version() -> str | None:
    from importlib import metadata

    try:
        return metadata.version("babybias")
    except metadata.PackageNotFoundError:
        return None


def code_version(metric_module: str) -> dict:
    """{"definition": babybias.metrics.<metric_module>.DEFINITION_VERSION, "babybias": package version}."""
    module = importlib.import_module(f"babybias.metrics.{metric_module}")
    return {"definition": module.DEFINITION_VERSION, "babybias": package_version()}


def data_inputs(datasets: Iterable[str], data_cfg) -> dict:
    """{data set: {file: registered checksum}} of the registered files present under the data root."""
    from babybias.data.registry import files_of

    root = Path(data_cfg.root)
    return {name: {rel: digest for rel, digest in sorted(files_of(name).items()) if (root / name / rel).is_file()}
            for name in datasets}


def reuse_key(var: Variant, weights: str | None, code: dict, inputs: dict, artifact: dict | None = None) -> dict:
    """What must match for a stored result of `var` to be reused. `artifact`: for a post-model debiased variant,
    the identity of the fitted artifact it would be computed with now (`debias.artifacts.artifact_identity`)."""
    return {"options": to_jsonable(var.options), "precision": var.precision, "weights_sha256": weights,
            "code_version": code, "inputs": inputs, "bootstrap": var.bootstrap,
            "debias_artifact": to_jsonable(artifact)}


def stored_key(payload: dict) -> dict:
    """The reuse key a result file records (None where an older file lacks a field); its artifact is the one
    applied (`debias_applied`, written from the artifact itself)."""
    from babybias.debias.artifacts import IDENTITY_KEYS

    applied = payload.get("debias_applied")
    artifact = {k: applied.get(k) for k in IDENTITY_KEYS} if isinstance(applied, dict) else None
    return {"options": payload.get("options"), "precision": (payload.get("scoring") or {}).get("precision"),
            "weights_sha256": payload.get("weights_sha256"), "code_version": payload.get("code_version"),
            "inputs": payload.get("inputs"), "bootstrap": payload.get("bootstrap"), "debias_artifact": artifact}


def stale_reason(path: Path, key: dict) -> str | None:
    """None when the result file at `path` may be reused for `key`; otherwise why it must be (re)computed."""
    if not path.is_file():
        return "new"
    if key.get("weights_sha256") is None:
        return "the checkpoint has no weights file to identify it"
    try:
        stored = stored_key(json.loads(path.read_text()))
    except (OSError, ValueError):
        return "unreadable result file"
    for name, reason in KEY_REASONS.items():
        if stored[name] != key[name]:
            return reason
    return None


# ---------------------------------------------------------------- report columns
def column_identity(payload: dict) -> dict:
    """What must agree for two results to share a report column (or be paired by `babybias compare`): the scoring
    precision, the recorded options, the metric's own options and the metric definition (DEFINITION_VERSION: a
    number computed before a definition changed is not the same quantity). Older files without `scoring` give
    the precision they were run at."""
    scoring = payload.get("scoring") or {}
    precision = scoring.get("precision") or (payload.get("engine") or {}).get("precision") or "unknown"
    return {"scoring precision": precision, "options": payload.get("options"),
            "metric options": payload.get("metric_options"),
            "metric definition": (payload.get("code_version") or {}).get("definition")}


def identity_difference(a: dict, b: dict) -> str | None:
    """None when two result payloads may share a column or be paired; else the first difference, e.g.
    "scoring precision: fp32 vs bf16"."""
    left, right = (json.loads(json.dumps(to_jsonable(column_identity(p)), sort_keys=True)) for p in (a, b))
    return None if left == right else _first_difference(left, right)


def check_columns(results: Iterable[tuple[str, str, dict]]) -> None:
    """Refuse (BabybiasError) when one column's results differ in `column_identity`.

    `results` are (column, where, payload): e.g. ("crows_pairs", "runs/a/eval/final", {...}).
    """
    seen: dict[str, dict[str, str]] = {}
    for column, where, payload in results:
        identity = json.dumps(to_jsonable(column_identity(payload)), sort_keys=True)
        groups = seen.setdefault(column, {})
        groups.setdefault(identity, where)
        if len(groups) > 1:
            (first, where_a), (second, where_b) = list(groups.items())[:2]
            what = _first_difference(json.loads(first), json.loads(second))
            raise BabybiasError(f"report column {column!r} would mix results that differ in {what} "
                                f"({where_a} vs {where_b})",
                                fix="re-evaluate one side the same way (`babybias evaluate run=<run> force=true ...`), "
                                    "or report them apart (runs=<glob>)")


def interval_levels(payload: dict) -> set[float]:
    """The confidence levels of a result's intervals (each interval records its own; empty when it has none)."""
    intervals = payload.get("intervals") if isinstance(payload.get("intervals"), dict) else {}
    return {float(v["level"]) for v in intervals.values()
            if isinstance(v, dict) and isinstance(v.get("level"), (int, float)) and not isinstance(v.get("level"), bool)}


def check_interval_levels(results: Iterable[tuple[str, str, dict]]) -> float | None:
    """The one confidence level of all results' intervals (None when none has a level); BabybiasError when they
    differ (`bootstrap.level` is a setting; a report labels its intervals with one level)."""
    where: dict[float, str] = {}
    for _, place, payload in results:
        for level in interval_levels(payload):
            where.setdefault(level, place)
    if len(where) > 1:
        from babybias.uncertainty import level_label

        (first, where_a), (second, where_b) = sorted(where.items())[:2]
        raise BabybiasError(f"the results hold intervals at different levels ({level_label(first)} in {where_a}, "
                            f"{level_label(second)} in {where_b})",
                            fix="re-evaluate one side with the other's bootstrap.level (`babybias evaluate run=<run> "
                                "bootstrap.level=...`), or report them apart (runs=<glob>)")
    return next(iter(where), None)


def _first_difference(a: Any, b: Any, prefix: str = "") -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if a.get(k) != b.get(k):
                return _first_difference(a.get(k), b.get(k), f"{prefix}{k}" if not prefix else f"{prefix}.{k}")
    return f"{prefix}: {a} vs {b}"
