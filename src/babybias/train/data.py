"""Pretraining data: packing sentences into fixed-length blocks, the saved block order, MLM masking.

Packing (no padding): the train split is tokenized without special tokens, sentences are joined with
[SEP] into one stream, and the stream is cut into blocks of `seq_len - 2` tokens wrapped as
[CLS] ... [SEP]; the last partial block is dropped. Packed blocks are cached under a hash of
(tokenizer, text file, seq_len).

Order and masks are functions of (seed, step), not of the process's history: the block order of each
epoch is a permutation drawn from `child_seed(seed, "data_order")` and saved in the run directory, and
the masks of step s come from a generator seeded with (masking seed, s). So a resumed run, a
micro-batched run and a DDP run (each rank slices the same global batch) see exactly the same data.
"""

from __future__ import annotations

import hashlib
import io
import json
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from babybias.errors import BabybiasError, IntegrityError
from babybias.integrity import discard, read_json, verify_sums
from babybias.runs import atomic_path, atomic_write_json, config_hash, file_sha256

IGNORE_INDEX = -100


# ---------------------------------------------------------------- packing
def pack_ids(sentences: list[list[int]], seq_len: int, cls_id: int, sep_id: int) -> np.ndarray:
    """Pack token-id lists into [n_blocks, seq_len] blocks: [CLS] stream-chunk [SEP], sentences split by [SEP]."""
    body = seq_len - 2
    lengths = np.fromiter((len(s) + 1 for s in sentences), dtype=np.int64, count=len(sentences))
    stream = np.empty(int(lengths.sum()), dtype=np.int64)
    pos = 0
    for ids in sentences:
        stream[pos:pos + len(ids)] = ids
        stream[pos + len(ids)] = sep_id
        pos += len(ids) + 1
    n_blocks = len(stream) // body
    blocks = np.empty((n_blocks, seq_len), dtype=np.int64)
    blocks[:, 0] = cls_id
    blocks[:, 1:-1] = stream[: n_blocks * body].reshape(n_blocks, body)
    blocks[:, -1] = sep_id
    return blocks


def pack_text_file(text_path: str | Path, tokenizer, seq_len: int, max_lines: int | None = None) -> np.ndarray:
    """Tokenize a one-sentence-per-line file with a transformers fast tokenizer and pack it."""
    with open(text_path, encoding="utf-8") as fh:
        lines = [ln.strip() for ln in fh if ln.strip()]
    if max_lines is not None:
        lines = lines[:max_lines]
    encoded = tokenizer.backend_tokenizer.encode_batch(lines, add_special_tokens=False)
    blocks = pack_ids([e.ids for e in encoded], seq_len, tokenizer.cls_token_id, tokenizer.sep_token_id)
    return blocks.astype(np.uint16 if len(tokenizer) < 2**16 else np.int32)


def cached_blocks(text_path: str | Path, tokenizer_dir: str | Path, seq_len: int, cache_root: str | Path,
                  max_lines: int | None = None) -> np.ndarray:
    """Packed blocks of `text_path`, cached under <cache>/blocks/<hash(text sha256, tokenizer, seq_len)>.npy.

    Beside each .npy a `.sha256` file records the sha256 and size of its bytes (written first): an entry that
    does not match it (truncated, zeroed, altered) is reported and rebuilt, never trained on."""
    from babybias.tokenizer import load_tokenizer

    tok_hash = file_sha256(Path(tokenizer_dir) / "tokenizer.json")
    key = config_hash({"text": file_sha256(text_path), "tokenizer": tok_hash, "seq_len": seq_len, "max_lines": max_lines})
    path = Path(cache_root) / "blocks" / f"{key}.npy"
    sums = path.with_name(f"{key}.sha256")
    if path.exists():
        try:
            return _load_verified_blocks(path, sums)
        except IntegrityError as err:
            print(f"warning: {err.message}; rebuilding it")
            discard(path)
    blocks = pack_text_file(text_path, load_tokenizer(tokenizer_dir), seq_len, max_lines)
    buffer = io.BytesIO()
    np.save(buffer, blocks)
    payload = buffer.getvalue()
    atomic_write_json(sums, {"sha256": hashlib.sha256(payload).hexdigest(), "bytes": len(payload)})
    with atomic_path(path, keep_existing=True) as tmp:  # same key = same bytes: the first writer wins
        tmp.write_bytes(payload)
    return blocks


def _load_verified_blocks(path: Path, sums: Path) -> np.ndarray:
    what = f"token block cache {path}"
    if not sums.exists():
        raise IntegrityError(f"{what} has no checksum (written by an older babybias, or its writer was killed)")
    expected = read_json(sums, what=what)
    verify_sums(path.parent, {path.name: expected}, "token block cache")
    try:
        blocks = np.load(path, mmap_mode="r")
    except ValueError as err:
        raise IntegrityError(f"{what} is corrupt ({err})") from None
    if blocks.ndim != 2:
        raise IntegrityError(f"{what} is corrupt: {blocks.ndim}-d, not [blocks, seq_len]")
    return blocks


# ---------------------------------------------------------------- order
@dataclass
class BlockOrder:
    """The order in which blocks are visited: one saved permutation per epoch, drawn from `seed`.

    Global sample i (counting over steps and ranks) is block `perm[epoch][i % n_blocks]` with
    epoch = i // n_blocks. Permutations are written to `folder/order-epochNNNN.npy` the first time they
    are needed and read back from there afterwards (so a resume uses the saved order, not a re-draw).
    """

    n_blocks: int
    seed: int
    folder: Path | None = None

    def __post_init__(self) -> None:
        if self.n_blocks < 1:
            raise BabybiasError("the corpus yields no training block",
                                fix="use a bigger corpus (corpus.max_sentences) or a shorter train.seq_len")
        self._perms: dict[int, np.ndarray] = {}
        self._lock = threading.Lock()  # the batch prefetcher reads the order from background threads

    def permutation(self, epoch: int, write: bool = True) -> np.ndarray:
        with self._lock:
            return self._permutation(epoch, write)

    def _permutation(self, epoch: int, write: bool) -> np.ndarray:
        if epoch not in self._perms:
            path = self.folder / f"order-epoch{epoch:04d}.npy" if self.folder else None
            perm = self._saved(path) if path is not None and path.exists() else None
            if perm is None:
                rng = np.random.default_rng([self.seed, epoch])
                perm = rng.permutation(self.n_blocks)
                if path is not None and write:
                    buffer = io.BytesIO()
                    np.save(buffer, perm)
                    with atomic_path(path) as tmp:
                        tmp.write_bytes(buffer.getvalue())
                    atomic_write_json(path.with_suffix(".sha256"), {"sha256": file_sha256(path),
                                                                    "bytes": path.stat().st_size})
            self._perms[epoch] = perm
        return self._perms[epoch]

    def _saved(self, path: Path) -> np.ndarray | None:
        """The saved permutation, or None (reported) when it does not match its checksum or is no permutation of
        the blocks: it is then drawn again from the seed, as it was drawn the first time."""
        sums = path.with_suffix(".sha256")
        try:
            if sums.exists():  # orders saved before checksums existed are checked as permutations only
                verify_sums(path.parent, {path.name: read_json(sums, what=f"saved data order {path}")}, "data order")
            perm = np.load(path)
        except (IntegrityError, ValueError, OSError, EOFError) as err:
            print(f"warning: saved data order {path} is unreadable ({getattr(err, 'message', err)}); "
                  "drawing it again from the seed")
            return None
        if perm.ndim != 1 or len(perm) != self.n_blocks:
            raise BabybiasError(f"saved data order {path} has {len(perm)} blocks, the corpus {self.n_blocks}",
                                fix="resume with the same corpus/tokenizer/seq_len, or resume=false")
        if not np.array_equal(np.sort(perm), np.arange(self.n_blocks)):
            print(f"warning: saved data order {path} is corrupt (not a permutation of the {self.n_blocks} blocks); "
                  "drawing it again from the seed")
            return None
        return perm

    def indices(self, start: int, count: int, write: bool = True) -> np.ndarray:
        """Block indices of global samples start .. start+count-1."""
        sample = np.arange(start, start + count)
        epochs, within = np.divmod(sample, self.n_blocks)
        return np.array([self.permutation(int(e), write)[w] for e, w in zip(epochs, within)], dtype=np.int64)

    def write_manifest(self) -> None:
        if self.folder is not None:
            self.folder.mkdir(parents=True, exist_ok=True)
            (self.folder / "order.json").write_text(json.dumps({"n_blocks": self.n_blocks, "seed": self.seed}) + "\n")


# ---------------------------------------------------------------- masking
def mask_tokens(input_ids: torch.Tensor, generator: torch.Generator, mlm_probability: float, mask_id: int,
                vocab_size: int, special_ids: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT masking (Devlin et al. 2019, Sec. 3.1): select `mlm_probability` of the non-special tokens;
    of those 80% -> [MASK], 10% -> a random token, 10% unchanged. Returns (inputs, labels) with labels -100
    at unselected positions. At least one token per batch is selected so the loss is defined."""
    inputs = input_ids.clone()
    special = torch.isin(input_ids, torch.tensor(special_ids, dtype=input_ids.dtype))
    probs = torch.full(input_ids.shape, mlm_probability).masked_fill_(special, 0.0)
    selected = torch.bernoulli(probs, generator=generator).bool()
    if not selected.any():
        candidates = (~special).flatten().nonzero().flatten()
        if len(candidates):
            selected.view(-1)[candidates[0]] = True
    labels = torch.where(selected, input_ids, torch.full_like(input_ids, IGNORE_INDEX))
    to_mask = torch.bernoulli(torch.full(input_ids.shape, 0.8), generator=generator).bool() & selected
    to_random = torch.bernoulli(torch.full(input_ids.shape, 0.5), generator=generator).bool() & selected & ~to_mask
    random_ids = torch.randint(vocab_size, input_ids.shape, generator=generator, dtype=input_ids.dtype)
    inputs[to_mask] = mask_id
    inputs[to_random] = random_ids[to_random]
    return inputs, labels


class MLMBatches:
    """The masked global batch of each optimizer step, and each rank's slice of it."""

    def __init__(self, blocks: np.ndarray, order: BlockOrder, batch_size: int, masking_seed: int,
                 mlm_probability: float, mask_id: int, vocab_size: int, special_ids: list[int]):
        self.blocks, self.order, self.batch_size = blocks, order, batch_size
        self.masking_seed, self.mlm_probability = masking_seed, mlm_probability
        self.mask_id, self.vocab_size, self.special_ids = mask_id, vocab_size, list(special_ids)

    def global_batch(self, step: int, write_order: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """(inputs, labels) of optimizer step `step` (0-based), [batch_size, seq_len] int64."""
        idx = self.order.indices(step * self.batch_size, self.batch_size, write=write_order)
        ids = torch.from_numpy(np.asarray(self.blocks[idx], dtype=np.int64))
        gen = torch.Generator().manual_seed(self.masking_seed * 1_000_003 + step)
        return mask_tokens(ids, gen, self.mlm_probability, self.mask_id, self.vocab_size, self.special_ids)

    def rank_batch(self, step: int, rank: int, world_size: int, write_order: bool = True):
        """This rank's contiguous shard of the global batch of `step`."""
        inputs, labels = self.global_batch(step, write_order)
        per_rank = self.batch_size // world_size
        sl = slice(rank * per_rank, (rank + 1) * per_rank)
        return inputs[sl], labels[sl]


class BatchPrefetcher:
    """`impl.dataloader_workers`: the global batches of the next steps, prepared in background threads.

    A batch is a pure function of (seed, step) (`MLMBatches.global_batch`), so preparing it early changes
    nothing but when the work happens: cutting blocks, masking and (for a GPU) pinning memory overlap the
    model's step. `workers` threads keep up to `workers` steps ready beyond the one being trained.
    """

    def __init__(self, batches: MLMBatches, workers: int, last_step: int, write_order: bool = True,
                 pin_memory: bool = False):
        from concurrent.futures import ThreadPoolExecutor

        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.batches, self.workers, self.last_step = batches, workers, last_step
        self.write_order, self.pin_memory = write_order, pin_memory
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="babybias-batches")
        self._pending: dict = {}

    def _make(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        inputs, labels = self.batches.global_batch(step, write_order=self.write_order)
        if self.pin_memory:
            inputs, labels = inputs.pin_memory(), labels.pin_memory()
        return inputs, labels

    def get(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The global batch of `step`; schedules the following ones."""
        for stale in [s for s in self._pending if s < step]:
            self._pending.pop(stale).cancel()
        for ahead in range(step, max(step, min(step + self.workers, self.last_step - 1)) + 1):
            if ahead not in self._pending:
                self._pending[ahead] = self._pool.submit(self._make, ahead)
        return self._pending.pop(step).result()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._pending.clear()


def fixed_validation_batch(blocks: np.ndarray, n_blocks: int, seed: int, mlm_probability: float, mask_id: int,
                           vocab_size: int, special_ids: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """The first `n_blocks` validation blocks with masks fixed by `seed` (the same at every checkpoint)."""
    ids = torch.from_numpy(np.asarray(blocks[:n_blocks], dtype=np.int64))
    gen = torch.Generator().manual_seed(seed)
    return mask_tokens(ids, gen, mlm_probability, mask_id, vocab_size, special_ids)
