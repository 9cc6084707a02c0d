"""BLiMP (Warstadt et al. 2020) minimal pairs scored by masked-LM pseudo-log-likelihood (Salazar et al. 2020).

A pair is correct when PLL(sentence_good) > PLL(sentence_bad) strictly (a tie is wrong), where PLL is the
sum over all tokens of log P(token | sentence with that token masked) (Salazar et al. 2020, Eq. 2).
Accuracy is reported per phenomenon (`UID`, one file each), per `field` as the mean of its phenomena's
accuracies, and overall as the **macro** mean over phenomena (each phenomenon weighs the same, as in the
BLiMP paper's and BabyLM's averages); the micro accuracy over all pairs is reported too.
`limit` keeps the first N pairs of each phenomenon file (file order), for quick runs.

Intervals: 95% percentile bootstrap CIs, resampling pairs *within* each phenomenon (its size fixed, as in
the data set), of every phenomenon's accuracy ("<UID>/accuracy"), the macro and micro accuracies and each
field's mean, all recomputed from the same resamples.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from babybias.errors import DataError
from babybias.metrics.requests import MetricResult, TokenScoreRequest, TokenScores, check_aligned
from babybias.uncertainty import Resampling, interval_of, resample_items, sums_statistics

DEFINITION_VERSION = 1
"""Bump when a change here changes the numbers: stored results of an older version are recomputed."""

KEYS = ("sentence_good", "sentence_bad", "field", "UID")
_FIX = "restore the BLiMP files from the registry (`babybias data prepare`) or fix the line shown"


@dataclass(frozen=True)
class BlimpPair:
    """One minimal pair; `line` is its 1-based line in `<uid>.jsonl`."""

    uid: str
    field: str
    linguistics_term: str
    pair_id: str
    line: int
    sentence_good: str
    sentence_bad: str


def _load_file(file: Path, limit: int | None) -> list[BlimpPair]:
    pairs = []
    with file.open(encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, 1):
            if limit is not None and len(pairs) >= limit:
                break
            if not line.strip():
                continue
            where = f"{file}:{line_no}"
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataError(f"{where}: invalid JSON ({err.msg})", fix=_FIX) from None
            if not isinstance(obj, dict) or any(not isinstance(obj.get(k), str) or not obj[k] for k in KEYS):
                raise DataError(f"{where}: needs non-empty string keys {KEYS}", fix=_FIX)
            pairs.append(BlimpPair(obj["UID"], obj["field"], str(obj.get("linguistics_term", "")),
                                   str(obj.get("pairID", line_no - 1)), line_no,
                                   obj["sentence_good"], obj["sentence_bad"]))
    if not pairs:
        raise DataError(f"{file}: no BLiMP pairs", fix=_FIX)
    return pairs


def load_blimp(path: Path, limit: int | None = None, phenomena: Sequence[str] | None = None) -> list[BlimpPair]:
    """Load the `<UID>.jsonl` files of a BLiMP directory (sorted by name), first `limit` pairs of each."""
    path = Path(path)
    if not path.is_dir():
        raise DataError(f"BLiMP directory {path} is missing", fix="run `babybias data prepare` for blimp")
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be a positive number of pairs per phenomenon or None, got {limit}")
    files = {f.stem: f for f in sorted(path.glob("*.jsonl"))}
    names = list(phenomena) if phenomena is not None else sorted(files)
    unknown = [n for n in names if n not in files]
    if unknown:
        raise DataError(f"BLiMP phenomena {unknown} are not in {path}", fix=f"choose among {sorted(files)}")
    if not names:
        raise DataError(f"{path}: no BLiMP files (*.jsonl)", fix=_FIX)
    return [pair for name in names for pair in _load_file(files[name], limit)]


def requests_for(pairs: Sequence[BlimpPair]) -> list[TokenScoreRequest]:
    """Two requests per pair, `[good, bad]`, every token scored (PLL)."""
    return [TokenScoreRequest(s) for p in pairs for s in (p.sentence_good, p.sentence_bad)]


def accuracy_columns(rows: Sequence[dict], uids: Sequence[str]):
    """(phenomenon index per pair, sparse `(n, 2P)` columns [correct | 1] per phenomenon in `uids` order):
    their sums are each phenomenon's correct pairs and pairs."""
    from scipy import sparse

    index = {u: i for i, u in enumerate(uids)}
    n = len(rows)
    phenomenon = np.array([index[r["uid"]] for r in rows], dtype=np.int64)
    correct = np.array([float(r["correct"]) for r in rows])
    columns = sparse.csr_matrix((np.concatenate([correct, np.ones(n)]),
                                 (np.tile(np.arange(n), 2), np.concatenate([phenomenon, phenomenon + len(uids)]))),
                                shape=(n, 2 * len(uids)))
    return phenomenon, columns


def macro_accuracy(sums: np.ndarray) -> np.ndarray:
    """The macro accuracy (%) from `(k, 2P)` sums of `accuracy_columns`: the mean of the phenomena's accuracies."""
    n_uids = sums.shape[1] // 2
    return (100.0 * sums[:, :n_uids] / sums[:, n_uids:]).mean(axis=1)


def intervals(rows: Sequence[dict], resampling: Resampling | None = Resampling()) -> dict[str, dict]:
    """Bootstrap CIs (pairs resampled within phenomena) of every accuracy `compute` reports."""
    if resampling is None or not rows:
        return {}
    uids = sorted({r["uid"] for r in rows})
    field_of = {r["uid"]: r["field"] for r in rows}
    n, n_uids = len(rows), len(uids)
    phenomenon, columns = accuracy_columns(rows, uids)
    fields = {f: np.array([field_of[u] == f for u in uids]) for f in sorted(set(field_of.values()))}

    def accuracies(sums: np.ndarray) -> dict[str, np.ndarray]:
        per_uid = 100.0 * sums[:, :n_uids] / sums[:, n_uids:]
        out = {"accuracy": macro_accuracy(sums),
               "accuracy_micro": 100.0 * sums[:, :n_uids].sum(axis=1) / sums[:, n_uids:].sum(axis=1)}
        out.update({f"field/{f}": per_uid[:, mask].mean(axis=1) for f, mask in fields.items()})
        out.update({f"{u}/accuracy": per_uid[:, i] for i, u in enumerate(uids)})
        return out

    estimates, samples = resample_items(sums_statistics(columns, accuracies), n, strata=phenomenon,
                                        resampling=resampling)
    size = {f"{u}/accuracy": int(np.sum(phenomenon == i)) for i, u in enumerate(uids)}
    size.update({f"field/{f}": int(np.isin(phenomenon, np.flatnonzero(mask)).sum()) for f, mask in fields.items()})
    return {k: interval_of(estimates[k], samples[k], size.get(k, n), resampling).as_dict() for k in estimates}


def compute(pairs: Sequence[BlimpPair], scores: Sequence[TokenScores],
            resampling: Resampling | None = Resampling()) -> MetricResult:
    """Accuracy per phenomenon, per field (macro over its phenomena) and overall (macro and micro).

    `resampling` sets the bootstrap CIs (`None`: none)."""
    check_aligned(scores, 2 * len(pairs), "blimp")
    rows = []
    for k, pair in enumerate(pairs):
        good, bad = scores[2 * k].total, scores[2 * k + 1].total
        rows.append({"uid": pair.uid, "field": pair.field, "pair_id": pair.pair_id, "pll_good": good,
                     "pll_bad": bad, "correct": good > bad})
    by_uid: dict[str, list[bool]] = {}
    field_of: dict[str, str] = {}
    for r in rows:
        by_uid.setdefault(r["uid"], []).append(r["correct"])
        field_of[r["uid"]] = r["field"]
    per_category = {uid: {"accuracy": 100.0 * float(np.mean(v)), "n_pairs": len(v), "field": field_of[uid]}
                    for uid, v in sorted(by_uid.items())}
    fields = sorted(set(field_of.values()))
    summary = {
        "accuracy": float(np.mean([c["accuracy"] for c in per_category.values()])) if rows else float("nan"),
        "accuracy_micro": 100.0 * float(np.mean([r["correct"] for r in rows])) if rows else float("nan"),
        "n_pairs": len(rows),
        "n_phenomena": len(per_category),
        **{f"field/{f}": float(np.mean([c["accuracy"] for c in per_category.values() if c["field"] == f]))
           for f in fields},
    }
    return MetricResult("blimp", summary, per_category, rows, {}, intervals(rows, resampling))
