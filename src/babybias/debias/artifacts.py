"""A fitted post-model debiasing method on disk: what was fitted, on which model, from which sentences.

Layout of an artifact folder (written atomically, `DONE` last):

    artifact.json    method, the debias config used, the model it was fitted on (path + weights sha256),
                     hidden size, fit diagnostics, the corpus file the sentences came from (+ sha256),
                     and each array's shape and sha256
    arrays.npz       the arrays (e.g. `projection` [H, H] for INLP and SentenceDebias)
    sentences.jsonl  every sentence used for fitting: {"label": ..., "text": ..., "line": ...}
    DONE

An artifact is reused only for the same fit: `fit_key` (every setting of the method, i.e. every DebiasConfig
field but `artifact`; the weights' sha256; the fit data, corpus sha256 and seed; fp32 fitting) is stored in
`info["fit_key"]` and compared by `fit_mismatches`. Non-default settings or fit data get their own folder
(`default_artifact_dir`), so two settings never overwrite each other's artifact.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from babybias.errors import BabybiasError
from babybias.runs import DONE, atomic_path, atomic_write_json, config_hash, to_jsonable

FORMAT_VERSION = 1


def _array_sha256(array: np.ndarray) -> str:
    array = np.ascontiguousarray(array)
    return hashlib.sha256(str(array.dtype).encode() + str(array.shape).encode() + array.tobytes()).hexdigest()


@dataclass
class DebiasArtifact:
    method: str
    config: dict
    """The DebiasConfig the artifact was fitted with (as a plain dict)."""
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    info: dict = field(default_factory=dict)
    """Fit diagnostics and provenance: model, hidden_size, corpus_file, per-method numbers."""
    sentences: list[dict] = field(default_factory=list)
    folder: str | None = None
    """Where it was saved or loaded from."""

    def save(self, folder: str | Path, extra_files: dict[str, str] | None = None) -> Path:
        """Write the artifact folder atomically (an existing folder is replaced whole).

        `extra_files` (name -> text, e.g. the command's resolved config.yaml and meta.json) are written too.
        """
        folder = Path(folder)
        with atomic_path(folder) as tmp:
            tmp.mkdir(parents=True)
            for name, text in (extra_files or {}).items():
                (tmp / name).write_text(text, encoding="utf-8")
            np.savez(tmp / "arrays.npz", **{k: np.asarray(v) for k, v in self.arrays.items()})
            with open(tmp / "sentences.jsonl", "w", encoding="utf-8") as fh:
                for record in self.sentences:
                    fh.write(json.dumps(record, ensure_ascii=False) + "\n")
            meta = {
                "format_version": FORMAT_VERSION, "method": self.method, "config": to_jsonable(self.config),
                "info": to_jsonable(self.info), "n_sentences": len(self.sentences),
                "arrays": {k: {"shape": list(np.shape(v)), "dtype": str(np.asarray(v).dtype),
                               "sha256": _array_sha256(np.asarray(v))} for k, v in self.arrays.items()},
            }
            atomic_write_json(tmp / "artifact.json", meta)
            atomic_write_json(tmp / DONE, {"method": self.method})
        self.folder = str(folder)
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> "DebiasArtifact":
        """Read and verify an artifact folder (array checksums must match artifact.json)."""
        folder = Path(folder)
        if not (folder / DONE).exists() or not (folder / "artifact.json").exists():
            raise BabybiasError(f"{folder} is not a finished debiasing artifact",
                                fix="fit one with `babybias debias fit debias=<method> run=<run>`")
        from babybias.integrity import read_json

        meta = read_json(folder / "artifact.json", what=f"debiasing artifact {folder}")
        if meta.get("format_version") != FORMAT_VERSION:
            raise BabybiasError(f"{folder}: artifact format {meta.get('format_version')} is not {FORMAT_VERSION}",
                                fix="refit it with this version (`babybias debias fit ... force=true`)")
        try:
            with np.load(folder / "arrays.npz") as npz:
                arrays = {k: npz[k] for k in npz.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
            raise BabybiasError(f"{folder}/arrays.npz is corrupt ({err})",
                                fix="refit the artifact (`babybias debias fit ... force=true`)") from None
        for name, spec in meta["arrays"].items():
            if name not in arrays or _array_sha256(arrays[name]) != spec["sha256"]:
                raise BabybiasError(f"{folder}: array {name!r} is missing or altered",
                                    fix="refit the artifact (`babybias debias fit ... force=true`)")
        sentences = [json.loads(line) for line in (folder / "sentences.jsonl").read_text(encoding="utf-8").splitlines()
                     if line.strip()]
        return cls(meta["method"], meta["config"], arrays, meta["info"], sentences, str(folder))

    def provenance(self) -> dict[str, Any]:
        """What a result computed with this artifact records: the configuration actually applied (read from the
        artifact, not the request), where it is, how it was fitted, and its arrays' checksums."""
        return {"method": self.method, "config": self.config, "folder": self.folder,
                "fit_key": self.info.get("fit_key"),
                "arrays_sha256": {k: _array_sha256(np.asarray(v)) for k, v in sorted(self.arrays.items())}}


    def describe(self) -> dict[str, Any]:
        """A short summary for logs and metrics.jsonl."""
        scalars = {k: v for k, v in self.info.items() if isinstance(v, (int, float, str, bool)) or v is None}
        return {"method": self.method, "n_sentences": len(self.sentences), **scalars}


IDENTITY_KEYS = ("method", "fit_key", "arrays_sha256")
"""What identifies a fitted artifact's effect: a result is reused only while the artifact it was computed with is
the one on disk (`babybias.results`: a refit at the same place, e.g. `debias.artifact=` refitted on other data,
recomputes the result)."""


def artifact_identity(folder: str | Path) -> dict[str, Any] | None:
    """{method, fit_key, arrays_sha256} of the finished artifact in `folder`, read from artifact.json (the arrays
    are not loaded); None when there is none (or it cannot be read). Equals those keys of `provenance()`."""
    folder = Path(folder)
    if not (folder / DONE).exists():
        return None
    try:
        meta = json.loads((folder / "artifact.json").read_text(encoding="utf-8"))
        return {"method": meta["method"], "fit_key": meta["info"].get("fit_key"),
                "arrays_sha256": {k: spec["sha256"] for k, spec in sorted(meta["arrays"].items())}}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def default_artifact_dir(artifact_root: str | Path, method: str, model_dir: str | Path, cfg=None,
                         corpus_file: str | Path | None = None, seed: int = 0) -> Path:
    """<artifact_root>/<method>/<checkpoint folder name>[-<hash>] (root: runs/<name>/debias): one per checkpoint
    and fit. The hash names settings that differ from the method's defaults and non-default fit data."""
    name = Path(model_dir).name
    if cfg is not None:
        differing = _non_default(cfg, include_artifact=False)
        differing.update({k: v for k, v in (("corpus_file", str(corpus_file) if corpus_file else None),
                                            ("seed", seed or None)) if v is not None})
        if differing:
            name = f"{name}-{config_hash(differing, 8)}"
    return Path(artifact_root) / method / name


# ---------------------------------------------------------------- what an artifact was fitted with
FIT_PRECISION = "fp32"


def method_settings(cfg) -> dict:
    """Every setting of the method: all DebiasConfig fields but `artifact` (where one is, not how it was fitted)."""
    settings = to_jsonable(cfg)
    settings.pop("artifact", None)
    return settings


def _non_default(cfg, include_artifact: bool) -> dict:
    defaults = to_jsonable(type(cfg)(method=cfg.method))
    current = to_jsonable(cfg)
    if not include_artifact:
        current.pop("artifact", None)
    return {k: v for k, v in current.items() if defaults.get(k) != v}


def settings_suffix(cfg) -> str | None:
    """A short hash of the debias settings (`artifact` included) that differ from the method's defaults; None
    when all are defaults. Names evaluation variants: crows_pairs-inlp vs crows_pairs-inlp-<hash>."""
    differing = _non_default(cfg, include_artifact=True)
    return config_hash(differing, 8) if differing else None


def fit_key(cfg, weights_sha256: str | None, corpus_sha256: str | None, seed: int) -> dict:
    """Everything a fitted artifact depends on (see the module docstring)."""
    return {"format": FORMAT_VERSION, "method": cfg.method, "settings": method_settings(cfg),
            "weights_sha256": weights_sha256, "fit_data": {"corpus_sha256": corpus_sha256, "seed": seed},
            "fit_precision": FIT_PRECISION}


def fit_mismatches(stored: dict | None, wanted: dict, fit_data: bool = True) -> list[str]:
    """Why an artifact fitted with `stored` is not the one `wanted` asks for (empty: it is). `fit_data=False`
    leaves the fit sentences out (an artifact chosen by path may have been fitted on other data: recorded)."""
    if not stored:
        return ["it was fitted by an older babybias (no fit key)"]
    reasons = []
    for key in sorted(set(stored.get("settings", {})) | set(wanted["settings"])):
        old, new = stored.get("settings", {}).get(key, "<absent>"), wanted["settings"].get(key, "<absent>")
        if old != new:
            reasons.append(f"debias.{key} was {old}, now {new}")
    if stored.get("weights_sha256") != wanted["weights_sha256"]:
        reasons.append("it was fitted on other weights")
    if fit_data and stored.get("fit_data") != wanted["fit_data"]:
        reasons.append(f"its fit data differ ({stored.get('fit_data')} vs {wanted['fit_data']})")
    for key in ("format", "method", "fit_precision"):
        if stored.get(key) != wanted[key]:
            reasons.append(f"{key} was {stored.get(key)}, now {wanted[key]}")
    return reasons
