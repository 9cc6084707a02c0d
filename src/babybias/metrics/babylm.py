"""The BabyLM 2025 evaluation pipeline's "fast" zero-shot suite, scored as its masked-LM (`mlm`) backend.

Three benchmarks (the seed paper's performance columns, `COLUMN`):

- `blimp_fast` (column `blimp`): BLiMP (Warstadt et al. 2020), the pipeline's fixed subset of 200 pairs in
  each of the 67 paradigms, chosen by `pair_id` (not the first 200 lines of each full BLiMP file);
- `blimp_supplement` (column `blimp_s`): the BabyLM supplement, 5 files x 50 pairs;
- `ewok` (column `ewok`): EWoK (Ivanova et al. 2024), 11 domains x 100 items.

Scoring (read from `evaluation_pipeline/sentence_zero_shot/` of babylm/evaluation-pipeline-2025, for
reference only): each candidate's score is the sum, over the tokens of its *completion*, of the token's
log-probability with that token alone masked (PLL, Salazar et al. 2020, Eq. 2), the rest of the sentence
([CLS] ... [SEP]) present. For BLiMP and the supplement the completion is the whole sentence; for EWoK the
sentence is `Context1 + " " + TargetN` and the completion is the target, so the target's tokens are scored
with the context present. Candidate 0 (the good sentence, Target1) is correct when its score is the
maximum; a tie counts as correct, because the pipeline's `torch.max` returns the first maximal index.
Accuracy (%) is macro-averaged over `UID` (BLiMP paradigm, supplement file, EWoK domain).

Temperatures: the pipeline can rescale logits by 1/T for T in `arange(min, max + interval, interval)` and
reports the best macro accuracy; the seed paper's runs used T = 1 only. We report both: `accuracy` at
T = 1 (the seed's column) and `best_temperature` / `accuracy_best_temperature` over the sweep (the grid
is `babybias.configs.evaluate.temperature_grid`; the engine scores every T from one forward pass).

EWoK contexts: the pipeline's `mlm` backend scores Target1 vs Target2 given Context1 only (its Context2 is
read into `prefixes`, which only its encoder-decoder backends use). `ewok_contexts="both"` adds the mirrored
comparison, Target2 (correct) vs Target1 given Context2, as in the EWoK paper; not the pipeline's number.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from babybias.errors import DataError
from babybias.metrics.requests import MetricResult, TokenScoreRequest, TokenScores, check_aligned
from babybias.uncertainty import Resampling

SUITES = ("blimp_fast", "blimp_supplement", "ewok")
COLUMN = {"blimp_fast": "blimp", "blimp_supplement": "blimp_s", "ewok": "ewok"}
"""The seed paper's table column of each benchmark."""
FOLDER = {"blimp_fast": "blimp_fast", "blimp_supplement": "supplement_fast", "ewok": "ewok_fast"}
"""Sub-folder of the `babylm_eval_fast` data set."""
EWOK_CONTEXTS = ("context1", "both")
DEFINITION_VERSION = 1
"""Bump when a change here changes the numbers: stored results of an older version are recomputed."""
_FIX = "restore the files with `babybias data prepare datasets=[babylm_eval_fast]` or fix the line shown"


@dataclass(frozen=True)
class Comparison:
    """One zero-shot item: `good` should score at least as high as `bad`.

    `good_span` / `bad_span` are the character spans of the scored completion in each text (None: the whole
    text). `uid` is the unit of the macro average; `item` identifies the item in its file (BLiMP `pair_id`,
    else `<file>:<line>`, plus `:context2` for mirrored EWoK items); `field` is BLiMP's field, `supplement`
    or `ewok`.
    """

    uid: str
    item: str
    good: str
    bad: str
    field: str = ""
    good_span: tuple[int, int] | None = None
    bad_span: tuple[int, int] | None = None


def _jsonl(file: Path):
    with file.open(encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataError(f"{file}:{line_no}: invalid JSON ({err.msg})", fix=_FIX) from None
            if not isinstance(obj, dict):
                raise DataError(f"{file}:{line_no}: not a JSON object", fix=_FIX)
            yield line_no, obj


def _need(obj: dict, keys: Sequence[str], where: str) -> None:
    if any(not isinstance(obj.get(k), str) or not obj[k].strip() for k in keys):
        raise DataError(f"{where}: needs non-empty string keys {tuple(keys)}", fix=_FIX)


def _files(path: Path) -> list[Path]:
    files = sorted(Path(path).glob("*.jsonl"))
    if not files:
        raise DataError(f"{path}: no *.jsonl files", fix=_FIX)
    return files


def load_minimal_pairs(path: Path) -> list[Comparison]:
    """BLiMP-style files (`sentence_good`, `sentence_bad`), as the pipeline's `decode_blimp`: `UID`/`field`
    when present (field `syntax_semantics` written `syntax/semantics`), else the file name and `supplement`."""
    out = []
    for file in _files(path):
        for line_no, obj in _jsonl(file):
            where = f"{file}:{line_no}"
            _need(obj, ("sentence_good", "sentence_bad"), where)
            if "field" in obj:
                _need(obj, ("UID", "field"), where)
                uid, field = obj["UID"], obj["field"].replace("syntax_semantics", "syntax/semantics")
            else:
                uid, field = file.stem, "supplement"
            item = str(obj["pair_id"]) if "pair_id" in obj else f"{file.stem}:{line_no}"
            out.append(Comparison(uid, item, obj["sentence_good"], obj["sentence_bad"], field))
    return out


def _with_context(context: str, target: str) -> tuple[str, tuple[int, int]]:
    text = f"{context} {target}"
    return text, (len(context) + 1, len(text))


def load_ewok(path: Path, contexts: str = "context1") -> list[Comparison]:
    """EWoK items as comparisons of Target1 vs Target2 given Context1 (and, with `both`, the mirror)."""
    if contexts not in EWOK_CONTEXTS:
        raise ValueError(f"contexts must be one of {EWOK_CONTEXTS}, got {contexts!r}")
    out = []
    for file in _files(path):
        for line_no, obj in _jsonl(file):
            _need(obj, ("Domain", "Context1", "Context2", "Target1", "Target2"), f"{file}:{line_no}")
            item = f"{file.stem}:{line_no}"
            pairs = [("", obj["Context1"], obj["Target1"], obj["Target2"])]
            if contexts == "both":
                pairs.append((":context2", obj["Context2"], obj["Target2"], obj["Target1"]))
            for suffix, context, good, bad in pairs:
                (good_text, good_span), (bad_text, bad_span) = _with_context(context, good), _with_context(context, bad)
                out.append(Comparison(obj["Domain"], item + suffix, good_text, bad_text, "ewok", good_span, bad_span))
    return out


def load_suite(root: Path, benchmark: str, ewok_contexts: str = "context1") -> list[Comparison]:
    """The items of one benchmark from the `babylm_eval_fast` data set folder."""
    if benchmark not in SUITES:
        raise ValueError(f"benchmark must be one of {SUITES}, got {benchmark!r}")
    folder = Path(root) / FOLDER[benchmark]
    if not folder.is_dir():
        raise DataError(f"{folder} is missing", fix="run `babybias data prepare datasets=[babylm_eval_fast]`")
    return load_ewok(folder, ewok_contexts) if benchmark == "ewok" else load_minimal_pairs(folder)


def requests_for(items: Sequence[Comparison]) -> list[TokenScoreRequest]:
    """Two requests per item, `[good, bad]`, scoring the completion's tokens (all tokens without a span)."""
    return [TokenScoreRequest(text, None if span is None else (span,))
            for c in items for text, span in ((c.good, c.good_span), (c.bad, c.bad_span))]


# ---------------------------------------------------------------- scores -> accuracy
def correct_matrix(scores: Sequence[TokenScores]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(good, bad, correct) per item from `[good, bad, good, bad, ...]` scores; a tie is correct."""
    good = np.array([s.total for s in scores[0::2]])
    bad = np.array([s.total for s in scores[1::2]])
    return good, bad, good >= bad


def macro_accuracy(correct: np.ndarray, uid_codes: np.ndarray, n_uids: int) -> float:
    """Mean over UIDs of each UID's accuracy (%); every UID weighs the same (the pipeline's average)."""
    totals = np.bincount(uid_codes, minlength=n_uids)
    hits = np.bincount(uid_codes, weights=correct.astype(float), minlength=n_uids)
    return float(100.0 * np.mean(hits[totals > 0] / totals[totals > 0]))


def compute(items: Sequence[Comparison], scores_by_temperature: Mapping[float, Sequence[TokenScores]],
            benchmark: str, resampling: Resampling | None = Resampling()) -> MetricResult:
    """Accuracy at T = 1 and over the temperature sweep, per UID and macro-averaged, with bootstrap CIs.

    `scores_by_temperature[T]` holds the engine's scores of `requests_for(items)` at temperature T (it must
    include T = 1). The best temperature is the first of the highest macro accuracy in ascending T (the
    pipeline keeps the first strict maximum of its ascending sweep). Intervals (T = 1, items resampled within
    each UID) are BLiMP's (`babybias.metrics.blimp.intervals`): macro, micro, per field and per UID.
    """
    from babybias.metrics.blimp import intervals

    temperatures = sorted(scores_by_temperature)
    if 1.0 not in scores_by_temperature:
        raise ValueError(f"the temperatures {temperatures} must include 1.0 (the reported accuracy)")
    for t in temperatures:
        check_aligned(scores_by_temperature[t], 2 * len(items), benchmark)
    uids = sorted({c.uid for c in items})
    code_of = {uid: k for k, uid in enumerate(uids)}
    codes = np.array([code_of[c.uid] for c in items], dtype=int)
    by_t = {t: correct_matrix(scores_by_temperature[t]) for t in temperatures}
    accuracy = {t: macro_accuracy(by_t[t][2], codes, len(uids)) for t in temperatures}
    best = max(temperatures, key=lambda t: (accuracy[t], -t))
    good, bad, correct = by_t[1.0]
    correct_best = by_t[best][2]
    field_of = {c.uid: c.field for c in items}
    per_category = {}
    for k, uid in enumerate(uids):
        mine = codes == k
        per_category[uid] = {"accuracy": 100.0 * float(correct[mine].mean()),
                             "accuracy_best_temperature": 100.0 * float(correct_best[mine].mean()),
                             "n_items": int(mine.sum()), "field": field_of[uid]}
    fields = sorted(set(field_of.values()))
    summary = {
        "accuracy": accuracy[1.0],
        "accuracy_micro": 100.0 * float(correct.mean()) if len(items) else float("nan"),
        "best_temperature": best,
        "accuracy_best_temperature": accuracy[best],
        "n_items": len(items), "n_uids": len(uids), "n_ties": int(np.sum(good == bad)),
        **{f"field/{f}": float(np.mean([c["accuracy"] for c in per_category.values() if c["field"] == f]))
           for f in fields},
        "accuracy_by_temperature": {f"{t:g}": accuracy[t] for t in temperatures},
    }
    rows = [{"uid": c.uid, "pair_id": c.item, "field": c.field, "score_good": float(g), "score_bad": float(b),
             "correct": bool(ok), "correct_best_temperature": bool(ok_best)}
            for c, g, b, ok, ok_best in zip(items, good, bad, correct, correct_best)]
    options = {"column": COLUMN[benchmark], "temperatures": list(temperatures), "reported_temperature": 1.0,
               "tie": "counted correct (the pipeline's argmax takes the first, good, candidate)",
               "average": "macro over UIDs"}
    return MetricResult(benchmark, summary, per_category, rows, options, intervals(rows, resampling))
