"""A fitted post-model debiasing method on disk: what was fitted, on which model, from which sentences.

Layout of an artifact folder (written atomically, `DONE` last):

    artifact.json    method, the debias config used, the model it was fitted on (path + weights sha256),
                     hidden size, fit diagnostics, the corpus file the sentences came from (+ sha256),
                     and each array's shape and sha256
    arrays.npz       the arrays (e.g. `projection` [H, H] for INLP and SentenceDebias)
    sentences.jsonl  every sentence used for fitting: {"label": ..., "text": ..., "line": ...}
    DONE
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from babybias.errors import BabybiasError
from babybias.runs import DONE, atomic_path, atomic_write_json, to_jsonable

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
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> "DebiasArtifact":
        """Read and verify an artifact folder (array checksums must match artifact.json)."""
        folder = Path(folder)
        if not (folder / DONE).exists() or not (folder / "artifact.json").exists():
            raise BabybiasError(f"{folder} is not a finished debiasing artifact",
                                fix="fit one with `babybias debias fit debias=<method> run=<run>`")
        meta = json.loads((folder / "artifact.json").read_text())
        if meta.get("format_version") != FORMAT_VERSION:
            raise BabybiasError(f"{folder}: artifact format {meta.get('format_version')} is not {FORMAT_VERSION}",
                                fix="refit it with this version (`babybias debias fit ... force=true`)")
        with np.load(folder / "arrays.npz") as npz:
            arrays = {k: npz[k] for k in npz.files}
        for name, spec in meta["arrays"].items():
            if name not in arrays or _array_sha256(arrays[name]) != spec["sha256"]:
                raise BabybiasError(f"{folder}: array {name!r} is missing or altered",
                                    fix="refit the artifact (`babybias debias fit ... force=true`)")
        sentences = [json.loads(line) for line in (folder / "sentences.jsonl").read_text(encoding="utf-8").splitlines()
                     if line.strip()]
        return cls(meta["method"], meta["config"], arrays, meta["info"], sentences)

    def describe(self) -> dict[str, Any]:
        """A short summary for logs and metrics.jsonl."""
        scalars = {k: v for k, v in self.info.items() if isinstance(v, (int, float, str, bool)) or v is None}
        return {"method": self.method, "n_sentences": len(self.sentences), **scalars}


def default_artifact_dir(artifact_root: str | Path, method: str, model_dir: str | Path) -> Path:
    """<artifact_root>/<method>/<checkpoint folder name> (root: runs/<name>/debias): one per model checkpoint."""
    return Path(artifact_root) / method / Path(model_dir).name
