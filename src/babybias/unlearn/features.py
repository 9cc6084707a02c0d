"""Frozen-encoder features: mean-pooled last hidden states, cached under a hash of their inputs.

`resolve_encoder(ref, runs_root)` turns `encoder=` (a pretrain run name, a run directory, a checkpoint
directory or an HF model directory) into the folder `AutoModel.from_pretrained` loads. `encoder_features`
embeds texts once and caches the (n, hidden) float32 matrix under
`<paths.cache>/features/<hash>.npy`, the hash covering the encoder's weight files, the texts and the
tokenization length, so a changed model or task never reuses stale features. The length defaults to the
encoder's own maximum (`encoder_max_length`): texts are cut only where the model itself must cut them.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from babybias.errors import BabybiasError
from babybias.runs import atomic_path, config_hash, file_sha256, find_run

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def _is_model_dir(path: Path) -> bool:
    return (path / "config.json").is_file() and any((path / w).is_file() for w in WEIGHT_FILES)


def resolve_encoder(ref: str, runs_root: str) -> Path:
    """The HF model folder for `encoder=`: a model dir, `<dir>/model`, or `<pretrain run>/model`."""
    path = Path(ref)
    for candidate in (path, path / "model"):
        if _is_model_dir(candidate):
            return candidate
    run = find_run(ref, runs_root=runs_root, command="pretrain")
    if _is_model_dir(run.path / "model"):
        return run.path / "model"
    raise BabybiasError(f"pretrain run {run.path} has no finished model/ folder",
                        fix="wait for `babybias pretrain` to finish, or pass a checkpoint directory as encoder=")


def encoder_fingerprint(model_dir: Path) -> str:
    """sha256 over the encoder's config and weight files (what decides its features)."""
    h = hashlib.sha256()
    for name in ("config.json", *WEIGHT_FILES, "tokenizer.json"):
        if (model_dir / name).is_file():
            h.update(name.encode())
            h.update(file_sha256(model_dir / name).encode())
    return h.hexdigest()[:16]


def encoder_max_length(model_dir: Path) -> int:
    """Tokens the encoder takes: its tokenizer's `model_max_length`, capped by `max_position_embeddings` (read
    from the saved JSON files, so a cache hit loads no model). Raises when neither is recorded."""
    limits = []
    for name, key in (("tokenizer_config.json", "model_max_length"), ("config.json", "max_position_embeddings")):
        path = Path(model_dir) / name
        value = json.loads(path.read_text()).get(key) if path.is_file() else None
        if isinstance(value, (int, float)) and 0 < value < 10**8:  # HF writes 1e30 for "no limit"
            limits.append(int(value))
    if not limits:
        raise BabybiasError(f"{model_dir} records no maximum length (model_max_length, max_position_embeddings)",
                            fix="set sisa.max_length=<tokens>")
    return min(limits)


def resolve_max_length(model_dir: Path, max_length: int | None) -> int:
    """`sisa.max_length`, or the encoder's own maximum when it is null (never more than the encoder takes)."""
    limit = encoder_max_length(model_dir)
    return limit if max_length is None else min(int(max_length), limit)


def quiet_from_pretrained(cls, model_dir: Path):
    """`cls.from_pretrained` without the load report: a pretraining run saves a masked-LM model, and loading
    its encoder alone always reports the unused MLM-head weights."""
    from transformers.utils import logging

    from babybias.ltg_bert import register_auto_classes

    register_auto_classes()  # model_type ltg_bert
    before = logging.get_verbosity()
    logging.set_verbosity_error()
    try:
        return cls.from_pretrained(model_dir)
    finally:
        logging.set_verbosity(before)


def tokenize(tokenizer, texts: list[str], max_length: int) -> list[list[int]]:
    """Token ids of each text, cut at `max_length` tokens, unpadded (batches are padded by `pad_batch`)."""
    return [list(ids) for ids in tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]]


def pad_batch(rows: list[list[int]], pad_id: int):
    """(input_ids, attention_mask) long tensors padded to the longest row of this batch."""
    import torch

    width = max(len(r) for r in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        input_ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
        attention_mask[i, : len(row)] = 1
    return input_ids, attention_mask


def mean_pool(hidden, attention_mask):
    """Mean of the hidden states over real (non-padding) tokens: (batch, seq, d) -> (batch, d)."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)


def embed_texts(model_dir: Path, texts: list[str], max_length: int, batch_size: int = 128,
                device: str = "cpu") -> np.ndarray:
    """Mean-pooled last-layer features, fp32, shape (len(texts), hidden), through the one scoring engine."""
    from babybias.configs.common import ImplConfig
    from babybias.scoring import ScoringEngine

    engine = ScoringEngine.from_checkpoint(model_dir, ImplConfig(device=device, eval_batch_size=batch_size),
                                           progress=True)  # minutes for a real encoder on CPU
    engine.max_length = max_length
    return engine.embed(list(texts), pooling="mean").astype(np.float32)


def encoder_features(model_dir: Path, texts: list[str], max_length: int | None, cache_dir: str | Path,
                     batch_size: int = 128, device: str = "cpu") -> tuple[np.ndarray, str]:
    """Features of `texts` (cached); returns (features, cache key). `max_length` null = the encoder's maximum."""
    max_length = resolve_max_length(model_dir, max_length)
    texts_hash = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]
    key = config_hash({"encoder": encoder_fingerprint(model_dir), "texts": texts_hash, "max_length": max_length,
                       "pooling": "mean_last_hidden"})
    path = Path(cache_dir) / "features" / f"{key}.npy"
    if path.is_file():
        return np.load(path), key
    feats = embed_texts(model_dir, texts, max_length, batch_size, device)
    try:
        with atomic_path(path, keep_existing=True) as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, feats)
        (path.with_suffix(".json")).write_text(json.dumps({"encoder": str(model_dir), "n": len(texts),
                                                           "max_length": max_length}))
    except OSError as err:  # a read-only cache only costs recomputation
        print(f"babybias unlearn: warning: cannot cache features in {path.parent} ({err}); set paths.cache=DIR")
    return feats, key


class FeatureStore:
    """A run's own copy of its features: `<run>/features/<digest>.npy` (float32 rows) and `<digest>.ids.npy`
    (int64 example ids, aligned), content-addressed by a digest of both.

    The run trains from this copy, never from the shared cache again: a deletion round writes the copy
    without the deleted rows (the kept rows bit for bit, so a retrained constituent equals one trained from
    scratch on them), and the purge removes every copy the current state does not name.
    """

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def _paths(self, digest: str) -> tuple[Path, Path]:
        return self.root / f"{digest}.npy", self.root / f"{digest}.ids.npy"

    def save(self, ids, matrix) -> str:
        ids = np.asarray(ids, dtype=np.int64)
        matrix = np.ascontiguousarray(matrix, dtype=np.float32)
        if matrix.ndim != 2 or len(ids) != len(matrix):
            raise ValueError(f"features {matrix.shape} do not align with {len(ids)} ids")
        digest = hashlib.sha256(ids.astype("<i8").tobytes() + matrix.astype("<f4").tobytes()).hexdigest()[:16]
        for path, array in zip(self._paths(digest), (matrix, ids)):
            with atomic_path(path, keep_existing=True) as tmp:
                with open(tmp, "wb") as fh:
                    np.save(fh, array)
        return digest

    def load(self, digest: str) -> tuple[np.ndarray, np.ndarray]:
        """(ids, features) of one stored copy."""
        rows, ids = self._paths(digest)
        if not rows.is_file() or not ids.is_file():
            raise BabybiasError(f"the run's features {digest} are missing from {self.root}",
                                fix="the run directory is incomplete; retrain it from scratch")
        return np.load(ids), np.load(rows)

    def without(self, digest: str, deleted) -> tuple[str, np.ndarray]:
        """Store the copy without the rows of `deleted` ids; returns (new digest, the removed rows)."""
        ids, matrix = self.load(digest)
        drop = np.isin(ids, np.asarray(deleted, dtype=np.int64))
        return self.save(ids[~drop], matrix[~drop]), matrix[drop]

    def remove_except(self, keep: str | None) -> list[Path]:
        """Delete every stored copy but `keep`; returns what was removed."""
        removed = []
        for path in sorted(self.root.glob("*.npy")) if self.root.is_dir() else []:
            if keep is None or not path.name.startswith(f"{keep}."):
                path.unlink(missing_ok=True)
                removed.append(path)
        return removed


def cache_entry_files(cache_dir: str | Path, key: str) -> list[Path]:
    """The files of one shared-cache entry (`features/<key>.npy`, its `.json` note, any half-written copies)."""
    folder = Path(cache_dir) / "features"
    return [p for p in (folder / f"{key}.npy", folder / f"{key}.json") if p.exists()] + sorted(
        folder.glob(f".{key}.npy.*"))
