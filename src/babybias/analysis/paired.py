"""Paired comparison of two models on the same items, from their per-example result files.

`babybias evaluate` writes `<eval dir>/<variant>.examples.jsonl`, one line per item. For every variant both
checkpoints have, the items are matched by id (CrowS-Pairs `pair_id`, StereoSet `example_id`, BLiMP and the
BabyLM fast set (UID, pair id), pseudo-perplexity line `index` when both scored the same text file) and each
headline score is compared on the items both models have:

- **paired bootstrap** of the difference a - b: one draw of items serves both models, every score is
  recomputed from the resampled items (`babybias.uncertainty.paired_bootstrap_sums`); a 95% percentile CI and
  a two-sided bootstrap p-value;
- **McNemar's exact test** where the score is a share of binary per-item outcomes (CrowS-Pairs metric score:
  `sent_more` preferred; BLiMP micro accuracy: the pair is right): the exact sign test on the discordant
  items, `a_only` (1 for a, 0 for b) against `b_only`.

Pairs that either model skipped (CrowS-Pairs `modified` scoring) are left out, so `value_a`/`value_b` are the
scores on the common items and can differ slightly from each result file's own number. SEAT is not paired:
its result files keep per-test effect sizes, not the per-stimulus embeddings a paired resample would need.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from babybias.uncertainty import Resampling, paired_bootstrap_sums, sign_test

PAIRED_COLUMNS = ["variant", "category", "metric", "n_items", "value_a", "value_b", "difference", "ci_low", "ci_high",
                  "p_bootstrap", "a_only", "b_only", "p_exact"]
EXAMPLES = ".examples.jsonl"


@dataclass(frozen=True)
class PairedScore:
    """One score of both models on their common items (rows of `columns_a` and `columns_b` are the same items)."""

    category: str
    metric: str
    columns_a: Any
    columns_b: Any
    statistic: Callable[[np.ndarray], np.ndarray]
    """Column sums `(k, m)` -> the score `(k,)` (as in `babybias.metrics.intervals`)."""
    strata: np.ndarray | None = None
    outcomes: tuple[np.ndarray, np.ndarray] | None = None
    """Binary per-item outcomes of a and b whose share is the score: adds McNemar's exact test."""


def read_examples(path: Path) -> list[dict]:
    with Path(path).open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def common_items(rows_a: Sequence[dict], rows_b: Sequence[dict], key: Callable[[dict], Any]) -> tuple[list, list]:
    """The rows of both models for the items both have, in a's order (matched by `key`)."""
    by_key_b = {key(r): r for r in rows_b}
    by_key_a = {key(r): r for r in rows_a}
    keys = [k for k in by_key_a if k in by_key_b]
    return [by_key_a[k] for k in keys], [by_key_b[k] for k in keys]


def _share(flags: np.ndarray) -> np.ndarray:
    return np.column_stack([flags, np.ones(len(flags))]).astype(np.float64)


def _percent_of_first(sums: np.ndarray) -> np.ndarray:
    return 100.0 * sums[:, 0] / sums[:, 1]


def _by_category(rows: Sequence[dict], field: str) -> list[tuple[str, np.ndarray]]:
    labels = np.array([r[field] for r in rows], dtype=object)
    return [("overall", np.ones(len(rows), dtype=bool))] + [(c, labels == c) for c in sorted(set(labels), key=str)]


def crows_pairs_scores(rows_a: Sequence[dict], rows_b: Sequence[dict]) -> list[PairedScore]:
    """Metric score (% of pairs preferring `sent_more`) overall and per bias type, with McNemar's exact test."""
    counted = lambda rows: [r for r in rows if r["outcome"] != "skipped"]  # noqa: E731
    a, b = common_items(counted(rows_a), counted(rows_b), lambda r: r["pair_id"])
    more_a = np.array([r["outcome"] == "more" for r in a], dtype=float)
    more_b = np.array([r["outcome"] == "more" for r in b], dtype=float)
    return [PairedScore(category, "metric_score", _share(more_a[mask]), _share(more_b[mask]), _percent_of_first,
                        outcomes=(more_a[mask], more_b[mask])) for category, mask in _by_category(a, "bias_type")]


def stereoset_scores(rows_a: Sequence[dict], rows_b: Sequence[dict]) -> list[PairedScore]:
    """LMS, SS and ICAT overall and per domain (all recomputed from each paired resample)."""
    from babybias.metrics.stereoset import score_columns, scores_of_sums

    a, b = common_items(rows_a, rows_b, lambda r: r["example_id"])
    targets = sorted({r["target"] for r in a} | {r["target"] for r in b})
    out = []
    for category, mask in _by_category(a, "bias_type"):
        rows = np.flatnonzero(mask)
        part_a, part_b = [a[i] for i in rows], [b[i] for i in rows]
        for metric in ("lms", "ss", "icat"):
            out.append(PairedScore(category, metric, score_columns(part_a, targets), score_columns(part_b, targets),
                                   lambda sums, m=metric: scores_of_sums(sums)[m]))
    return out


def blimp_scores(rows_a: Sequence[dict], rows_b: Sequence[dict]) -> list[PairedScore]:
    """Macro accuracy (pairs resampled within phenomena) and micro accuracy with McNemar's exact test."""
    from babybias.metrics.blimp import accuracy_columns, macro_accuracy

    a, b = common_items(rows_a, rows_b, lambda r: (r["uid"], str(r["pair_id"])))
    uids = sorted({r["uid"] for r in a})
    phenomenon, columns_a = accuracy_columns(a, uids)
    _, columns_b = accuracy_columns(b, uids)
    correct_a = np.array([float(r["correct"]) for r in a])
    correct_b = np.array([float(r["correct"]) for r in b])
    return [PairedScore("overall", "accuracy", columns_a, columns_b, macro_accuracy, strata=phenomenon),
            PairedScore("overall", "accuracy_micro", _share(correct_a), _share(correct_b), _percent_of_first,
                        strata=phenomenon, outcomes=(correct_a, correct_b))]


def pppl_scores(rows_a: Sequence[dict], rows_b: Sequence[dict]) -> list[PairedScore]:
    """Pseudo-perplexity over the same texts (line `index`)."""
    a, b = common_items(rows_a, rows_b, lambda r: r["index"])

    def columns(rows):
        return np.array([[r["pll"], r["n_tokens"]] for r in rows], dtype=np.float64).reshape(-1, 2)

    return [PairedScore("overall", "pppl", columns(a), columns(b), lambda s: np.exp(-s[:, 0] / s[:, 1]))]


PAIRERS: dict[str, Callable[[Sequence[dict], Sequence[dict]], list[PairedScore]]] = {
    "crows_pairs": crows_pairs_scores, "stereoset": stereoset_scores, "blimp": blimp_scores, "pppl": pppl_scores,
    # the BabyLM fast set's per-item rows (uid, pair_id, correct at T = 1) are BLiMP's
    "blimp_fast": blimp_scores, "blimp_supplement": blimp_scores, "ewok": blimp_scores}


def compare_score(score: PairedScore, resampling: Resampling) -> dict:
    """One row of PAIRED_COLUMNS (without `variant`) for one paired score."""
    from babybias.uncertainty import weighted_sums

    n = int(score.columns_a.shape[0])
    with np.errstate(divide="ignore", invalid="ignore"):
        value_a, value_b = (float(score.statistic(weighted_sums(np.ones((1, n)), c))[0])
                            for c in (score.columns_a, score.columns_b))
    result = paired_bootstrap_sums(score.columns_a, score.columns_b, score.statistic, strata=score.strata,
                                   resampling=resampling)
    row = {"category": score.category, "metric": score.metric, "n_items": n, "value_a": value_a, "value_b": value_b,
           "difference": result.difference.estimate, "ci_low": result.difference.low,
           "ci_high": result.difference.high, "p_bootstrap": result.p_bootstrap,
           "a_only": None, "b_only": None, "p_exact": None}
    if score.outcomes is not None:
        xa, xb = score.outcomes
        a_only, b_only = int(np.sum((xa == 1) & (xb == 0))), int(np.sum((xa == 0) & (xb == 1)))
        row.update(a_only=a_only, b_only=b_only, p_exact=sign_test(a_only, b_only))
    return row


def _same_texts(eval_a: Path, eval_b: Path, stem: str) -> bool:
    """Pseudo-perplexity pairs only when both scored the same explicit file (`pppl.path`), not each its own split."""
    try:
        paths = [json.loads((folder / f"{stem}.json").read_text()).get("options", {}).get("path")
                 for folder in (eval_a, eval_b)]
    except (OSError, ValueError):
        return False
    return paths[0] is not None and paths[0] == paths[1]


def _identity_difference(eval_a: Path, eval_b: Path, stem: str) -> str | None:
    """Why the two checkpoints' `stem` results are not the same quantity (`results.column_identity`), else None."""
    from babybias.results import identity_difference

    try:
        a, b = (json.loads((folder / f"{stem}.json").read_text()) for folder in (eval_a, eval_b))
    except (OSError, ValueError):
        return "an unreadable or missing result file"
    return identity_difference(a, b)


def paired_table(eval_a: Path, eval_b: Path, resampling: Resampling = Resampling(),
                 variants: Sequence[str] | None = None):
    """(DataFrame of PAIRED_COLUMNS, notes on variants not compared) for two checkpoints' eval folders."""
    import pandas as pd

    stems = [sorted(p.name[: -len(EXAMPLES)] for p in Path(folder).glob(f"*{EXAMPLES}")) for folder in (eval_a, eval_b)]
    shared = [s for s in stems[0] if s in stems[1] and (variants is None or s in variants)]
    rows, notes = [], []
    for stem in shared:
        benchmark = stem.split("-")[0]
        if benchmark not in PAIRERS:
            notes.append(f"{stem}: no paired test (its result files keep no per-item values to resample)")
            continue
        different = _identity_difference(Path(eval_a), Path(eval_b), stem)
        if different:
            notes.append(f"{stem}: not paired (the two results differ in {different}; re-evaluate one side alike)")
            continue
        if benchmark == "pppl" and not _same_texts(Path(eval_a), Path(eval_b), stem):
            notes.append(f"{stem}: not paired (each model scored its own validation text; set pppl.path for both)")
            continue
        scores = PAIRERS[benchmark](read_examples(Path(eval_a) / f"{stem}{EXAMPLES}"),
                                    read_examples(Path(eval_b) / f"{stem}{EXAMPLES}"))
        if not scores or scores[0].columns_a.shape[0] == 0:
            notes.append(f"{stem}: no items in common")
            continue
        rows += [{"variant": stem, **compare_score(score, resampling)} for score in scores]
    if variants is not None:
        notes += [f"{v}: not evaluated on both checkpoints" for v in variants if v not in shared]
    return pd.DataFrame(rows, columns=PAIRED_COLUMNS), notes
