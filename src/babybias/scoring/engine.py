"""The one batched masked-LM scoring engine: token log-probabilities (PLL) and sentence embeddings.

`ScoringEngine.score(requests)` answers the contract in `babybias.metrics.requests`: for each
`TokenScoreRequest` it masks, one at a time, every selected token and returns its fp32 log-probability;
for each `MaskedTokenRequest` it returns the fp32 log-probability of each given target at the first mask
of each (already masked) text. `score_temperatures` returns the same at several softmax temperatures, from
the same forward passes. How (the reason it is fast, ~4x over one forward per mask on CPU):

1. every request is tokenized once (with character offsets); each selected token gives one *masked
   variant* (the sentence with that one token replaced by [MASK]); each text of a `MaskedTokenRequest`
   is one variant as it stands;
2. all variants of all requests are sorted by sentence length (stable: ties keep request order, then
   token order), so a batch is padded only to its own longest sentence;
3. batches of `batch_size` variants run through the encoder together, the MLM head only at the one masked
   position of each row, and log-softmax in fp32, under `inference_mode`.

Precision: the whole forward runs in fp32 on every device by default, with autocast and TF32 off whatever
the caller left on (`babybias.scoring.numerics`); `impl.precision` (a training speed setting) is not
followed. A reduced precision is only an explicit scoring choice (`precision=` here, `scoring.precision`
in `babybias evaluate`) and is recorded with every result (`engine.precision`).

Results do not depend on the order of requests beyond floating-point noise of padding (< 1e-5, tested
against a one-forward-per-mask loop). The same input always gives the same bits on the same machine.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from babybias.metrics.requests import MaskedTokenRequest, ScoreRequest, TokenScoreRequest, TokenScores
from babybias.scoring.model import MaskedLM, load_masked_lm
from babybias.scoring.numerics import scoring_numerics

log = logging.getLogger(__name__)

POOLINGS = ("mean", "cls")


@dataclass(frozen=True)
class Encoded:
    """One tokenized request: ids with special tokens, per-token offsets, and the positions to score."""

    ids: tuple[int, ...]
    offsets: tuple[tuple[int, int], ...]
    positions: tuple[int, ...]


@dataclass(frozen=True)
class _Variants:
    """What one request asks the model: variant j scores `targets[j]` at `positions[j]` of `rows[j]`."""

    rows: tuple[tuple[int, ...], ...]
    positions: tuple[int, ...]
    targets: tuple[int, ...]
    offsets: tuple[tuple[int, int], ...]


class ScoringEngine:
    """Scores `TokenScoreRequest`s and embeds sentences with one `MaskedLM` and its fast tokenizer.

    `batch_size` is the number of masked variants (or sentences, for `embed`) per forward pass;
    `max_tokens` caps padded tokens per batch (default `batch_size * 64`) so long sentences do not blow up
    memory. Sentences longer than `max_length` tokens are truncated (a warning counts them).
    """

    def __init__(self, model: MaskedLM, tokenizer, batch_size: int = 128, max_tokens: int | None = None,
                 max_length: int | None = None, progress: bool = True):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if tokenizer.mask_token_id is None or tokenizer.pad_token_id is None:
            raise ValueError("the tokenizer needs a [MASK] and a [PAD] token")
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.max_tokens = max_tokens or batch_size * 64
        self.max_length = max_length or _max_length(model, tokenizer)
        self.progress = progress

    @classmethod
    def from_checkpoint(cls, path: str | Path, impl=None, progress: bool = True,
                        precision: str = "fp32") -> "ScoringEngine":
        """An engine for a checkpoint directory: device, threads and batch size from an `ImplConfig` (speed
        only); the scoring `precision` is its own argument, fp32 unless asked (`impl.precision` is ignored)."""
        from babybias.configs.common import ImplConfig

        impl = impl or ImplConfig(device="auto")
        if impl.num_threads:
            torch.set_num_threads(impl.num_threads)
        model, tokenizer = load_masked_lm(path, impl.device, precision, impl.masked_lm_head_only)
        return cls(model, tokenizer, batch_size=impl.eval_batch_size, progress=progress)

    @property
    def precision(self) -> str:
        """The scoring precision of the underlying model (fp32 | bf16 | fp16), through any wrappers."""
        model = self.model
        while not hasattr(model, "precision") and hasattr(model, "base"):
            model = model.base
        return getattr(model, "precision", "fp32")

    # ------------------------------------------------------------------ tokenization
    def encode(self, request: TokenScoreRequest) -> Encoded:
        """Tokenize `request.text` and pick the non-special tokens inside its character spans."""
        return self.encode_all([request])[0]

    def encode_all(self, requests: Sequence[TokenScoreRequest], chunk: int = 2048) -> list[Encoded]:
        """`encode` for many requests, tokenized in chunks by the fast tokenizer's batch call."""
        out: list[Encoded] = []
        for begin in range(0, len(requests), chunk):
            part = requests[begin: begin + chunk]
            enc = self.tokenizer([r.text for r in part], return_offsets_mapping=True,
                                 return_special_tokens_mask=True, truncation=True, max_length=self.max_length)
            for k, request in enumerate(part):
                offsets = tuple((int(s), int(e)) for s, e in enc["offset_mapping"][k])
                spans = request.score_char_spans
                positions = tuple(
                    i for i, ((start, end), special) in enumerate(zip(offsets, enc["special_tokens_mask"][k]))
                    if not special and end > start
                    and (spans is None or any(s <= start and end <= e for s, e in spans))
                )
                out.append(Encoded(tuple(enc["input_ids"][k]), offsets, positions))
        return out

    def _encode_masked(self, request: MaskedTokenRequest) -> _Variants:
        """Tokenize each text of `request` and find its first mask token (ValueError when there is none)."""
        if not request.texts:
            return _Variants((), (), (), ())
        enc = self.tokenizer(list(request.texts), return_offsets_mapping=True, truncation=True,
                             max_length=self.max_length)
        positions = []
        for text, ids in zip(request.texts, enc["input_ids"]):
            if self.tokenizer.mask_token_id not in ids:
                why = ("it has none" if self.tokenizer.mask_token not in text
                       else f"truncated to {self.max_length} tokens")
                raise ValueError(f"MaskedTokenRequest text {text!r} has no {self.tokenizer.mask_token} token ({why})")
            positions.append(ids.index(self.tokenizer.mask_token_id))
        return _Variants(tuple(tuple(ids) for ids in enc["input_ids"]), tuple(positions), request.target_token_ids,
                         tuple(tuple(int(x) for x in offs[p]) for offs, p in zip(enc["offset_mapping"], positions)))

    def _variants(self, requests: Sequence[ScoreRequest]) -> list[_Variants]:
        """Every request as the variants it asks for (token requests tokenized in one batch call)."""
        token_requests = [r for r in requests if isinstance(r, TokenScoreRequest)]
        encoded = iter(self.encode_all(token_requests))
        truncated, out = 0, []
        for request in requests:
            if isinstance(request, MaskedTokenRequest):
                out.append(self._encode_masked(request))
                continue
            if not isinstance(request, TokenScoreRequest):
                raise TypeError(f"cannot score a {type(request).__name__}; "
                                "expected TokenScoreRequest or MaskedTokenRequest")
            e = next(encoded)
            truncated += bool(e.offsets and _was_truncated(request.text, e))
            out.append(_Variants((e.ids,) * len(e.positions), e.positions, tuple(e.ids[p] for p in e.positions),
                                 tuple(e.offsets[p] for p in e.positions)))
        if truncated:
            log.warning("%d of %d texts were truncated to %d tokens", truncated, len(token_requests), self.max_length)
        return out

    # ------------------------------------------------------------------ token scores
    def score(self, requests: Sequence[ScoreRequest], desc: str = "scoring") -> list[TokenScores]:
        """One `TokenScores` per request, in request order (see the module docstring)."""
        return self._score(requests, desc, (1.0,))[1.0]

    def score_temperatures(self, requests: Sequence[ScoreRequest], temperatures: Sequence[float],
                           desc: str = "scoring") -> dict[float, list[TokenScores]]:
        """`score` at several softmax temperatures T from one forward pass per batch: temperature -> scores.

        At temperature T a token's score is log softmax(logits / T)[token] (the BabyLM 2025 pipeline's
        temperature scaling). It is computed from the model's fp32 log-probabilities `lp` as
        log softmax(lp / T), which is the same quantity (lp differs from the logits by a per-row constant), so
        it works for every `MaskedLM`, wrappers included. T = 1 gives exactly the bits of `score`.
        """
        temps = tuple(float(t) for t in temperatures)
        if not temps or any(not t > 0 for t in temps) or len(set(temps)) != len(temps):
            raise ValueError(f"temperatures must be distinct positive numbers, got {list(temperatures)}")
        return self._score(requests, desc, temps)

    def _score(self, requests: Sequence[ScoreRequest], desc: str,
               temperatures: tuple[float, ...]) -> dict[float, list[TokenScores]]:
        planned = self._variants(requests)
        # one variant per (request k, its j-th variant); stable sort: request order, then variant order
        variants = [(k, j) for k, p in enumerate(planned) for j in range(len(p.positions))]
        variants.sort(key=lambda v: len(planned[v[0]].rows[v[1]]))
        logprobs = [np.zeros((len(p.positions), len(temperatures)), dtype=np.float32) for p in planned]
        with torch.inference_mode(), scoring_numerics(), _progress(len(variants), desc, self.progress) as bar:
            for batch in self._batches(variants, lambda v: len(planned[v[0]].rows[v[1]])):
                values = self._score_batch([planned[k].rows[j] for k, j in batch],
                                           [planned[k].positions[j] for k, j in batch],
                                           [planned[k].targets[j] for k, j in batch], temperatures)
                for (k, j), value in zip(batch, values):
                    logprobs[k][j] = value
                bar.update(len(batch))
        return {t: [TokenScores(p.targets, p.offsets, tuple(lp[:, i].tolist())) for p, lp in zip(planned, logprobs)]
                for i, t in enumerate(temperatures)}

    def _batches(self, items: list, length_of):
        """Consecutive chunks of at most `batch_size` items and `max_tokens` padded tokens."""
        batch: list = []
        for item in items:
            longest = length_of(item)  # items come sorted by length: the newest is the longest
            if batch and (len(batch) >= self.batch_size or (len(batch) + 1) * longest > self.max_tokens):
                yield batch
                batch = []
            batch.append(item)
        if batch:
            yield batch

    def _score_batch(self, rows: list[tuple[int, ...]], positions: list[int], targets: list[int],
                     temperatures: tuple[float, ...] = (1.0,)) -> np.ndarray:
        """fp32 log P_T(targets[i] | rows[i] with position i masked) `[n, len(temperatures)]`, LM head only at
        the masked positions; column t is at temperature `temperatures[t]` (log softmax(log P / T))."""
        input_ids, attention_mask = self._pad(rows)
        batch_index = torch.arange(len(rows), device=input_ids.device)
        position = torch.tensor(positions, device=input_ids.device)
        targets = torch.tensor(targets, dtype=torch.long, device=input_ids.device)
        input_ids[batch_index, position] = self.tokenizer.mask_token_id
        logprobs = self.model.masked_logprobs(input_ids, attention_mask, batch_index, position)
        columns = [(logprobs if t == 1.0 else torch.log_softmax(logprobs.float() / t, dim=-1)).gather(1, targets[:, None])
                   for t in temperatures]
        return torch.cat(columns, dim=1).float().cpu().numpy()

    def _pad(self, rows: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        width = max(len(r) for r in rows)
        input_ids = torch.full((len(rows), width), self.tokenizer.pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            input_ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
            attention_mask[i, : len(row)] = 1
        return input_ids.to(self.model.device), attention_mask.to(self.model.device)

    def pll(self, texts: Sequence[str]) -> list[float]:
        """Pseudo-log-likelihood of each text (Salazar et al. 2020, Eq. 2): sum over all non-special tokens."""
        return [s.total for s in self.score([TokenScoreRequest(t) for t in texts], desc="PLL")]

    # ------------------------------------------------------------------ embeddings
    def embed(self, texts: Sequence[str], pooling: str = "mean") -> np.ndarray:
        """Sentence embeddings `[N, H]` (fp32) from the last hidden states, in input order.

        `mean`: average over every token of the sentence including [CLS] and [SEP], padding excluded (as
        bias-bench's SEAT runner, which encodes one unpadded sentence at a time); `cls`: the [CLS] vector.
        """
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        rows = [tuple(self.tokenizer(t, truncation=True, max_length=self.max_length)["input_ids"]) for t in texts]
        order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
        out: np.ndarray | None = None
        with torch.inference_mode(), scoring_numerics(), _progress(len(rows), "embedding", self.progress) as bar:
            for batch in self._batches(order, lambda i: len(rows[i])):
                input_ids, attention_mask = self._pad([rows[i] for i in batch])
                hidden = self.model.hidden_states(input_ids, attention_mask).float()
                if pooling == "cls":
                    pooled = hidden[:, 0]
                else:
                    mask = attention_mask[..., None].float()
                    pooled = (hidden * mask).sum(1) / mask.sum(1)
                pooled = pooled.cpu().numpy()
                if out is None:
                    out = np.zeros((len(rows), pooled.shape[1]), dtype=np.float32)
                out[batch] = pooled
                bar.update(len(batch))
        return out if out is not None else np.zeros((0, 0), dtype=np.float32)


def _max_length(model: MaskedLM, tokenizer) -> int:
    limits = [getattr(tokenizer, "model_max_length", None) or 10**9]
    while hasattr(model, "base") and not hasattr(model, "model"):  # unwrap MaskedLMWrapper chains
        model = model.base
    config = getattr(getattr(model, "model", None), "config", None)
    if config is not None and getattr(config, "max_position_embeddings", None):
        limits.append(config.max_position_embeddings)
    return int(min(limits))


def _was_truncated(text: str, encoded: Encoded) -> bool:
    """True when the last real token ends before the last non-space character of the text."""
    last_end = max(end for _, end in encoded.offsets)
    return last_end < len(text.rstrip())


def _progress(total: int, desc: str, enabled: bool):
    from tqdm.auto import tqdm

    # disable=None: shown on a terminal, silent in logs and tests
    return tqdm(total=total, desc=desc, unit="tok" if desc != "embedding" else "sent",
                disable=None if enabled else True, leave=False)
