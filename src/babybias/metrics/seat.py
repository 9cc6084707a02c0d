"""SEAT (May et al. 2019), the sentence-level WEAT (Caliskan et al. 2017), on engine-made embeddings.

Definitions (Caliskan et al. 2017, Methods; as in `W4ngatang/sent-bias` `weat.py`, which bias-bench
copies; read for reference only):

- association `s(w, A, B) = mean_{a in A} cos(w, a) - mean_{b in B} cos(w, b)`;
- effect size `d = (mean_{x in X} s(x,A,B) - mean_{y in Y} s(y,A,B)) / std_{w in X u Y} s(w,A,B)`, the
  standard deviation with `ddof=1` (sample std), as in sent-bias;
- one-sided permutation p-value `P[s(X_i, Y_i, A, B) >= s(X, Y, A, B)]` over equal-size partitions
  `(X_i, Y_i)` of `X u Y`, using the equivalent statistic `sum_{x in X_i} s(x, A, B)`. All
  `C(|X|+|Y|, |X|)` partitions are enumerated when there are at most `n_samples` of them; otherwise the
  observed partition is counted once (sent-bias's "hallucinated positive observation") and `n_samples - 1`
  random partitions are drawn from `numpy.random.default_rng(seed)`. Ties count towards the p-value (the
  conservative test); unlike sent-bias we compare with a relative tolerance of 1e-12 so that sums equal
  up to floating-point rounding are ties too.

Intervals: 95% percentile bootstrap CIs of each test's effect size, resampling the stimuli *within* each
of its four word sets X, Y, A, B (sizes fixed), and of each group's mean |effect size| from the same
resamples (the tests' stimuli drawn independently). A resample recomputes d from the resampled sets
exactly (`effect_size_statistics`: counts of each stimulus, vectorized over resamples).
Mean |effect size| has a kink at 0: for a model with little bias every resample's mean |d| tends to
exceed the full-sample one, so the percentile interval may lie wholly above its estimate (about 1 in 10
random-embedding runs of the gender tests); the interval is reported as computed, not shifted.

The engine embeds each text (`embed(texts, pooling="mean"|"cls")`); `compute` takes a mapping text ->
vector. Vectors need not be normalised (cosine similarity is scale-free). For reference, bias-bench embeds
one text at a time and mean-pools the last hidden layer over all positions, [CLS] and [SEP] included.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from babybias.errors import DataError
from babybias.metrics.requests import MetricResult
from babybias.uncertainty import Resampling, interval_of, resample_items

DEFINITION_VERSION = 1
"""Bump when a change here changes the numbers: stored results of an older version are recomputed."""

SETS = ("targ1", "targ2", "attr1", "attr2")
# The test groups bias-bench (Meade et al. 2022) reports; aggregates are mean |effect size| over a group.
TEST_GROUPS = {
    "gender": ("sent-weat6", "sent-weat6b", "sent-weat7", "sent-weat7b", "sent-weat8", "sent-weat8b"),
    "race": ("sent-angry_black_woman_stereotype", "sent-angry_black_woman_stereotype_b", "sent-weat3",
             "sent-weat3b", "sent-weat4", "sent-weat5", "sent-weat5b"),
    "religion": ("sent-religion1", "sent-religion1b", "sent-religion2", "sent-religion2b"),
}
_FIX = "restore the SEAT files from the registry (`babybias data prepare`) or fix the file shown"


@dataclass(frozen=True)
class SeatTest:
    """One SEAT/WEAT test: target sets X (`targ1`), Y (`targ2`) and attribute sets A (`attr1`), B (`attr2`);
    `categories` names them in SETS order (e.g. MaleNames, FemaleNames, Career, Family)."""

    name: str
    categories: tuple[str, str, str, str]
    targ1: tuple[str, ...]
    targ2: tuple[str, ...]
    attr1: tuple[str, ...]
    attr2: tuple[str, ...]


@dataclass(frozen=True)
class PermutationTest:
    """A one-sided permutation test: `p_value`, how many partitions were evaluated, whether exactly."""

    p_value: float
    n_partitions: int
    n_evaluated: int
    exact: bool


def _load_test(file: Path) -> SeatTest:
    try:
        obj = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise DataError(f"{file}:{err.lineno}: invalid JSON ({err.msg}); a SEAT file holds one JSON object",
                        fix=_FIX) from None
    if not isinstance(obj, dict):
        raise DataError(f"{file}:1: expected one JSON object with keys {SETS}", fix=_FIX)
    sets = []
    for key in SETS:
        part = obj.get(key)
        examples = part.get("examples") if isinstance(part, dict) else None
        if not isinstance(examples, list) or not examples or not all(isinstance(e, str) for e in examples):
            raise DataError(f"{file}:1: '{key}' must be an object with a non-empty list of strings 'examples'",
                            fix=_FIX)
        sets.append((str(part.get("category", key)), tuple(examples)))
    return SeatTest(file.stem, tuple(c for c, _ in sets), *(e for _, e in sets))


def load_seat(path: Path, tests: Sequence[str] | None = None) -> list[SeatTest]:
    """Load SEAT tests from a directory of `<name>.jsonl` files (each ONE JSON object), sorted by name;
    `tests` picks some by name. DataError names the file (and the line, for invalid JSON)."""
    path = Path(path)
    if not path.is_dir():
        raise DataError(f"SEAT directory {path} is missing", fix="run `babybias data prepare` for seat")
    files = {f.stem: f for f in sorted(path.glob("*.jsonl"))}
    names = list(tests) if tests is not None else sorted(files)
    unknown = [n for n in names if n not in files]
    if unknown:
        raise DataError(f"SEAT tests {unknown} are not in {path}", fix=f"choose among {sorted(files)}")
    if not names:
        raise DataError(f"{path}: no SEAT test files (*.jsonl)", fix=_FIX)
    return [_load_test(files[n]) for n in names]


def requests_for(tests: Sequence[SeatTest]) -> list[str]:
    """The distinct texts to embed, in first-seen order."""
    return list(dict.fromkeys(t for test in tests for s in (test.targ1, test.targ2, test.attr1, test.attr2) for t in s))


def _unit(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float64)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def association(W: np.ndarray, A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """s(w, A, B) for each row w of W (Caliskan et al. 2017)."""
    W, A, B = _unit(W), _unit(A), _unit(B)
    return (W @ A.T).mean(axis=1) - (W @ B.T).mean(axis=1)


def weat_effect_size(X: np.ndarray, Y: np.ndarray, A: np.ndarray, B: np.ndarray) -> float:
    """Cohen's-d-style WEAT effect size, sample std (ddof=1) over X u Y (Caliskan et al. 2017)."""
    s_x, s_y = association(X, A, B), association(Y, A, B)
    return float((s_x.mean() - s_y.mean()) / np.concatenate([s_x, s_y]).std(ddof=1))


def weat_p_value(X: np.ndarray, Y: np.ndarray, A: np.ndarray, B: np.ndarray, n_samples: int = 100_000,
                 seed: int = 0, chunk: int = 4096) -> PermutationTest:
    """One-sided permutation p-value of the WEAT statistic (exact when C(2n, n) <= n_samples)."""
    n = len(X)
    if len(Y) != n:
        raise ValueError(f"the permutation test needs |X| == |Y|, got {len(X)} and {len(Y)}")
    s = np.concatenate([association(X, A, B), association(Y, A, B)])
    observed = s[:n].sum()
    tolerance = 1e-12 * max(1.0, float(np.abs(s).sum()))
    n_partitions = math.comb(2 * n, n)
    if n_partitions <= n_samples:
        parts = np.array(list(itertools.combinations(range(2 * n), n)), dtype=np.intp)
        hits = int((s[parts].sum(axis=1) >= observed - tolerance).sum())
        return PermutationTest(hits / n_partitions, n_partitions, n_partitions, True)
    rng = np.random.default_rng(seed)
    hits, drawn = 1, 1  # the observed partition, counted once
    while drawn < n_samples:
        size = min(chunk, n_samples - drawn)
        firsts = rng.random((size, 2 * n)).argsort(axis=1)[:, :n]
        hits += int((s[firsts].sum(axis=1) >= observed - tolerance).sum())
        drawn += size
    return PermutationTest(hits / drawn, n_partitions, drawn, False)


def _vectors(texts: Sequence[str], embeddings: Mapping[str, np.ndarray], test: str) -> np.ndarray:
    missing = [t for t in texts if t not in embeddings]
    if missing:
        raise ValueError(f"SEAT test {test}: {len(missing)} texts have no embedding, e.g. {missing[0]!r}")
    return np.stack([np.asarray(embeddings[t], dtype=np.float64) for t in texts])


def gender_aggregate(effect_sizes: Mapping[str, float]) -> float:
    """Mean |effect size| over the gender tests sent-weat6, 6b, 7, 7b, 8, 8b (Meade et al. 2022)."""
    return group_aggregate(effect_sizes, "gender")


def group_aggregate(effect_sizes: Mapping[str, float], group: str) -> float:
    """Mean |effect size| over the tests of `group` in TEST_GROUPS; NaN unless all of them are present."""
    names = TEST_GROUPS[group]
    if not all(n in effect_sizes for n in names):
        return math.nan
    return float(np.mean([abs(effect_sizes[n]) for n in names]))


def effect_size_statistics(X: np.ndarray, Y: np.ndarray, A: np.ndarray, B: np.ndarray):
    """The WEAT effect size as a function of stimulus counts: `counts (k, |X|+|Y|+|A|+|B|) -> (k,)`.

    Column j counts how often stimulus j (X, then Y, A, B) is in a resample; with every count 1 this is
    `weat_effect_size` exactly. Means and the ddof=1 variance become count-weighted ones.
    """
    W = _unit(np.concatenate([X, Y]))
    cos_a, cos_b = W @ _unit(A).T, W @ _unit(B).T  # (|X|+|Y|, |A|), (|X|+|Y|, |B|)
    n_x, n_y, n_a, n_b = len(X), len(Y), len(A), len(B)
    cuts = np.cumsum([n_x, n_y, n_a])

    def effect_size(counts: np.ndarray) -> np.ndarray:
        c_x, c_y, c_a, c_b = np.split(counts, cuts, axis=1)
        s = c_a @ cos_a.T / n_a - c_b @ cos_b.T / n_b  # (k, |X|+|Y|): s(w, A, B) under each resample
        c_w = np.concatenate([c_x, c_y], axis=1)
        mean_x = (c_x * s[:, :n_x]).sum(axis=1) / n_x
        mean_y = (c_y * s[:, n_x:]).sum(axis=1) / n_y
        mean_w = (c_w * s).sum(axis=1) / (n_x + n_y)
        variance = (c_w * (s - mean_w[:, None]) ** 2).sum(axis=1) / (n_x + n_y - 1)
        return (mean_x - mean_y) / np.sqrt(variance)

    return effect_size


def effect_size_intervals(sets: Mapping[str, tuple[np.ndarray, ...]],
                          resampling: Resampling | None = Resampling()) -> dict[str, dict]:
    """CIs of "<test>/effect_size" for each test (name -> (X, Y, A, B)) and of each complete group's mean
    |effect size| ("<group>_mean_abs_effect_size" and "<group>/mean_abs_effect_size")."""
    if resampling is None or not sets:
        return {}
    functions, slices, strata, start = {}, {}, [], 0
    for k, (name, vectors) in enumerate(sets.items()):
        functions[name] = effect_size_statistics(*vectors)
        sizes = [len(v) for v in vectors]
        slices[name] = slice(start, start + sum(sizes))
        strata += [4 * k + j for j, size in enumerate(sizes) for _ in range(size)]
        start += sum(sizes)
    groups = {g: names for g, names in TEST_GROUPS.items() if all(n in sets for n in names)}

    def statistics(counts: np.ndarray) -> dict[str, np.ndarray]:
        out = {f"{name}/effect_size": fn(counts[:, slices[name]]) for name, fn in functions.items()}
        for group, names in groups.items():
            out[f"{group}_mean_abs_effect_size"] = np.mean([np.abs(out[f"{n}/effect_size"]) for n in names], axis=0)
        return out

    estimates, samples = resample_items(statistics, start, strata=strata, resampling=resampling)
    size = {f"{name}/effect_size": part.stop - part.start for name, part in slices.items()}
    size.update({f"{g}_mean_abs_effect_size": sum(size[f"{n}/effect_size"] for n in names) for g, names in groups.items()})
    out = {k: interval_of(estimates[k], samples[k], size[k], resampling).as_dict() for k in estimates}
    out.update({f"{g}/mean_abs_effect_size": out[f"{g}_mean_abs_effect_size"] for g in groups})
    return out


def compute(tests: Sequence[SeatTest], embeddings: Mapping[str, np.ndarray], n_samples: int = 100_000,
            seed: int = 0, resampling: Resampling | None = Resampling()) -> MetricResult:
    """Effect size and p-value per test, plus mean |effect size| per bias-bench group (and their CIs;
    `resampling=None`: none)."""
    rows, sets = [], {}
    for test in tests:
        X, Y, A, B = sets[test.name] = tuple(_vectors(getattr(test, k), embeddings, test.name) for k in SETS)
        perm = weat_p_value(X, Y, A, B, n_samples=n_samples, seed=seed)
        rows.append({"test": test.name, "effect_size": weat_effect_size(X, Y, A, B), "p_value": perm.p_value,
                     "exact": perm.exact, "n_partitions_evaluated": perm.n_evaluated,
                     "categories": "/".join(test.categories)})
    sizes = {r["test"]: r["effect_size"] for r in rows}
    # groups none of whose tests ran are left out; a partly run group reports NaN (its aggregate needs all tests)
    per_category = {g: {"mean_abs_effect_size": group_aggregate(sizes, g), "tests": list(names)}
                    for g, names in TEST_GROUPS.items() if any(n in sizes for n in names)}
    summary = {f"{g}_mean_abs_effect_size": v["mean_abs_effect_size"] for g, v in per_category.items()}
    summary["n_tests"] = len(rows)
    return MetricResult("seat", summary, per_category, rows, {"n_samples": n_samples, "seed": seed},
                        effect_size_intervals(sets, resampling))
