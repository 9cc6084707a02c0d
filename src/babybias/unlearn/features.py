"""Frozen-encoder features: mean-pooled last hidden states, cached under a hash of their inputs.

`resolve_encoder(ref, runs_root)` turns `encoder=` (a pretrain run name, a run directory, a checkpoint
directory or an HF model directory) into the folder `AutoModel.from_pretrained` loads. `encoder_features`
embeds texts once and caches the (n, hidden) float32 matrix under
`<paths.cache>/features/<hash>.npy`, the hash covering the encoder's weight files, the texts and the
tokenization length, so a changed model or task never reuses stale features.
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


def tokenize(tokenizer, texts: list[str], max_length: int):
    return tokenizer(list(texts), padding="max_length", truncation=True, max_length=max_length, return_tensors="pt")


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


def encoder_features(model_dir: Path, texts: list[str], max_length: int, cache_dir: str | Path,
                     batch_size: int = 128, device: str = "cpu") -> tuple[np.ndarray, str]:
    """Features of `texts` (cached); returns (features, cache key)."""
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
