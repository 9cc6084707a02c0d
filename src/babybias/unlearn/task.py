"""The downstream task: toxicity of identity-term sentences, with a sensitive group per example.

Data: `identity_toxicity_templates` (Dixon et al. 2018). Each of the 76,564 templated sentences in
`en_sentence_templates.csv` names one identity term; its group is derived from that term through the
identity rows of `madlibber_inputs_en_us/words.csv` (term -> attribute: gender, sexuality, race (the file's
"ethnicity"), religion, age, disability). The 1,492 real Wikipedia comments
(`toxicity_nonfuzzed_testset.csv`) are an extra test set; their group comes from matching the same terms,
and only comments that mention terms of exactly one group are kept.

Ids are stable: a template's id is its 0-based row in `en_sentence_templates.csv`; a real comment's id is
`REAL_ID_OFFSET` + its row in the comments file. Deletion requests name template ids.

Splits (stratified by group x label, seeded): `test` (balanced toxic/nontoxic within each group),
`calibration` (held out for the post-processors, unskewed) and `train`, the only split `task.skew` changes:
for each skewed group it drops training examples of one label until `skew` of the group's training
examples are toxic. Dropped examples get split `unused`, so the id space never changes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from babybias.configs.unlearn import TaskConfig
from babybias.errors import BabybiasError, ConfigError, DataError
from babybias.runs import child_seed

DATASET = "identity_toxicity_templates"
TEMPLATES = "en_sentence_templates.csv"
WORDS = "madlibber_inputs_en_us/words.csv"
REAL_COMMENTS = "toxicity_nonfuzzed_testset.csv"
REAL_ID_OFFSET = 10_000_000
ATTRIBUTE_OF_SUBTYPE = {"ethnicity": "race"}  # words.csv says "ethnicity"; the config says "race"
SPLITS = ("train", "calibration", "test", "real", "unused")


@dataclass
class ToxicityTask:
    """All examples of one task configuration: columns id, text, label (1 = toxic), term, group, split."""

    frame: pd.DataFrame
    groups: list
    """Group names, sorted."""

    def split(self, name: str) -> pd.DataFrame:
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r}")
        return self.frame[self.frame["split"] == name]

    @property
    def train_ids(self) -> np.ndarray:
        return np.sort(self.split("train")["id"].to_numpy(np.int64))

    def summary(self) -> dict:
        """Examples, toxic share per split and group (what the skew did)."""
        table = self.frame.groupby(["split", "group"])["label"].agg(["count", "mean"])
        return {f"{s}/{g}": {"count": int(r["count"]), "toxic_share": round(float(r["mean"]), 4)}
                for (s, g), r in table.iterrows()}


def load_lexicon(folder: Path) -> dict[str, str]:
    """Identity term (lowercase) -> attribute, from words.csv."""
    words = pd.read_csv(folder / WORDS)
    identity = words[words["type"] == "identity"]
    return {str(w).strip().lower(): ATTRIBUTE_OF_SUBTYPE.get(s, s)
            for w, s in zip(identity["word"], identity["subtype"])}


def term_pattern(terms) -> re.Pattern:
    """Whole-word match of any term; longer terms first so "african american" wins over "african"."""
    ordered = sorted(terms, key=lambda t: (-len(t), t))
    return re.compile(r"\b(" + "|".join(re.escape(t) for t in ordered) + r")\b")


def find_terms(texts: pd.Series, terms) -> pd.Series:
    """The identity terms each text mentions (lowercased, whole words), as a list per text."""
    return texts.str.lower().str.findall(term_pattern(terms))


def group_of_term(term: str, lexicon: dict[str, str], cfg: TaskConfig) -> str:
    if _grouping(cfg) == "binary":
        return "privileged" if term in cfg.privileged else "unprivileged"
    if cfg.grouping == "category":
        return lexicon[term]
    return term


def _grouping(cfg: TaskConfig) -> str:
    return "binary" if cfg.attribute == "binary" else cfg.grouping


def _kept_terms(lexicon: dict[str, str], cfg: TaskConfig) -> list[str]:
    if cfg.attribute in ("all", "binary"):
        return sorted(lexicon)
    return sorted(t for t, a in lexicon.items() if a == cfg.attribute)


def build_task(folder: str | Path, cfg: TaskConfig, seed: int) -> ToxicityTask:
    """Build the task from the data set folder (see the module docstring for ids, groups and splits)."""
    folder = Path(folder)
    lexicon = load_lexicon(folder)
    unknown = sorted(set(cfg.privileged) - set(lexicon))
    if unknown and _grouping(cfg) == "binary":
        raise ConfigError(f"task.privileged names terms that are not identity terms: {unknown}",
                          fix=f"choose from the identity terms in {WORDS}")
    terms = _kept_terms(lexicon, cfg)
    frame = _templates(folder, terms, lexicon, cfg)
    if cfg.max_examples is not None and cfg.max_examples < len(frame):
        frac = cfg.max_examples / len(frame)
        frame = frame.groupby(["group", "label"], group_keys=False).sample(
            frac=frac, random_state=child_seed(seed, "task/sample") % 2**32)
    frame = _assign_splits(frame.sort_values("id").reset_index(drop=True), cfg, seed)
    if cfg.real_comments:
        frame = pd.concat([frame, _real_comments(folder, terms, lexicon, cfg)], ignore_index=True)
    groups = sorted(frame.loc[frame["split"] == "train", "group"].unique().tolist())
    return ToxicityTask(frame=frame, groups=groups)


@lru_cache(maxsize=2)
def _template_table(path: str, stamp: tuple, lexicon_terms: tuple) -> pd.DataFrame:
    """Every template with its id, text, label and identity term (the longest it mentions), read once per file
    version (`stamp`: size, mtime) and lexicon: every run and resume rebuilds its task from this (~1 s)."""
    raw = pd.read_csv(path)
    if not {"phrase", "toxicity"} <= set(raw.columns):
        raise DataError(f"{TEMPLATES} lacks the columns phrase, toxicity",
                        fix=f"run `babybias data prepare datasets=[{DATASET}]`")
    found = find_terms(raw["phrase"], list(lexicon_terms))
    # one identity term per template; take the longest match (the term list has overlaps like "middle aged")
    term = found.map(lambda ts: max(ts, key=len) if ts else None)
    return pd.DataFrame({"id": np.arange(len(raw), dtype=np.int64), "text": raw["phrase"].astype(str),
                         "label": (raw["toxicity"] == "toxic").astype(np.int64), "term": term})


def _templates(folder: Path, terms: list[str], lexicon: dict[str, str], cfg: TaskConfig) -> pd.DataFrame:
    info = (folder / TEMPLATES).stat()
    frame = _template_table(str(folder / TEMPLATES), (info.st_size, info.st_mtime_ns), tuple(sorted(lexicon)))
    frame = frame[frame["term"].isin(terms)].copy()
    if frame.empty:
        raise ConfigError(f"no template mentions a term of task.attribute={cfg.attribute}",
                          fix="choose another attribute")
    frame["group"] = [group_of_term(t, lexicon, cfg) for t in frame["term"]]
    return frame


def _assign_splits(frame: pd.DataFrame, cfg: TaskConfig, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(child_seed(seed, "task/split"))
    split = np.full(len(frame), "train", dtype=object)
    for _, idx in frame.groupby(["group", "label"]).indices.items():
        idx = rng.permutation(np.sort(idx))
        n_test = int(round(len(idx) * cfg.test_fraction))
        n_cal = int(round(len(idx) * cfg.calibration_fraction))
        split[idx[:n_test]] = "test"
        split[idx[n_test:n_test + n_cal]] = "calibration"
    frame = frame.assign(split=split)
    frame = _balance_test(frame, rng)
    if cfg.skew is not None:
        frame = _skew_train(frame, cfg, rng)
    return frame


def _balance_test(frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Equal toxic and nontoxic test examples within each group (extra ones become `unused`)."""
    split = frame["split"].to_numpy(dtype=object).copy()
    test = frame[split == "test"]
    for _, part in test.groupby("group"):
        by_label = [part.index[part["label"] == lab].to_numpy() for lab in (0, 1)]
        keep = min(len(b) for b in by_label)
        for b in by_label:
            split[rng.permutation(np.sort(b))[keep:]] = "unused"
    return frame.assign(split=split)


def _skew_train(frame: pd.DataFrame, cfg: TaskConfig, rng: np.random.Generator) -> pd.DataFrame:
    """Drop training examples of one label per skewed group until its toxic share is `cfg.skew`."""
    split = frame["split"].to_numpy(dtype=object).copy()
    present = set(frame["group"])
    skewed = cfg.skewed_groups or sorted(g for g in present if g not in cfg.privileged and g != "privileged")
    missing = sorted(set(skewed) - present)
    if missing:
        raise ConfigError(f"task.skewed_groups names groups that do not exist: {missing}",
                          fix=f"choose from {sorted(present)}")
    train = frame[split == "train"]
    for group in skewed:
        part = train[train["group"] == group]
        toxic, clean = part.index[part["label"] == 1].to_numpy(), part.index[part["label"] == 0].to_numpy()
        if len(toxic) / max(len(part), 1) < cfg.skew:
            keep_toxic, keep_clean = len(toxic), int(np.floor(len(toxic) * (1 - cfg.skew) / cfg.skew))
        else:
            keep_toxic, keep_clean = int(np.floor(len(clean) * cfg.skew / (1 - cfg.skew))), len(clean)
        split[rng.permutation(np.sort(toxic))[keep_toxic:]] = "unused"
        split[rng.permutation(np.sort(clean))[keep_clean:]] = "unused"
    return frame.assign(split=split)


def _real_comments(folder: Path, terms: list[str], lexicon: dict[str, str], cfg: TaskConfig) -> pd.DataFrame:
    raw = pd.read_csv(folder / REAL_COMMENTS)
    found = find_terms(raw["comment"].astype(str), terms)
    groups = found.map(lambda ts: sorted({group_of_term(t, lexicon, cfg) for t in ts}))
    one = groups.map(len) == 1
    label = raw["toxic"].astype(str).str.lower().eq("true").astype(np.int64)
    frame = pd.DataFrame({"id": REAL_ID_OFFSET + np.arange(len(raw), dtype=np.int64),
                          "text": raw["comment"].astype(str),
                          "label": label, "term": found.map(lambda ts: ts[0] if ts else None),
                          "group": groups.map(lambda gs: gs[0] if len(gs) == 1 else None), "split": "real"})
    return frame[one].reset_index(drop=True)


def without_ids(task: ToxicityTask, ids) -> ToxicityTask:
    """The task without the examples `ids` (deleted ones): they leave every split; the group list stays."""
    frame = task.frame[~task.frame["id"].isin(np.asarray(ids, dtype=np.int64))]
    return ToxicityTask(frame=frame.reset_index(drop=True), groups=task.groups)


def check_calibration(task: ToxicityTask) -> None:
    """Equalized odds needs positives and negatives of every group in the calibration split."""
    cal = task.split("calibration")
    for group in task.groups:
        labels = set(cal.loc[cal["group"] == group, "label"])
        if labels != {0, 1}:
            lacking = "toxic (positive)" if 1 not in labels else "nontoxic (negative)"
            raise BabybiasError(
                f"group {group!r} has no {lacking} examples in the calibration split, so equalized-odds "
                "post-processing is undefined for it",
                fix="raise task.calibration_fraction or task.max_examples, or group terms more coarsely "
                    "(task.grouping=category|binary)")


def ids_in_population(task: ToxicityTask, distribution: str) -> np.ndarray:
    """Training ids a request distribution draws from: uniform | group:<name> | label:<toxic|nontoxic>."""
    train = task.split("train")
    kind, _, value = distribution.partition(":")
    if kind == "uniform":
        part = train
    elif kind == "group":
        if value not in task.groups:
            raise ConfigError(f"unlearn.distribution={distribution!r}: no group {value!r}",
                              fix=f"use one of group:{'|group:'.join(map(str, task.groups))}")
        part = train[train["group"] == value]
    elif kind == "label":
        part = train[train["label"] == (1 if value == "toxic" else 0)]
    else:
        raise ConfigError(f"unlearn.distribution={distribution!r} is not known",
                          fix="use uniform, group:<name> or label:<toxic|nontoxic>")
    return np.sort(part["id"].to_numpy(np.int64))
