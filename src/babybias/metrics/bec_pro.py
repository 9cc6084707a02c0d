"""BEC-Pro (Bartl, Nissim & Gatt 2020): how strongly a masked LM associates person words with professions.

For each of the 5,400 template sentences ("My brother is a taper."), with the person word masked
(`Sent_TM`: "My [MASK] is a taper.") and with the profession masked too (`Sent_TAM`: "My [MASK] is a
[MASK]."; a multi-word profession gets one [MASK] per word, as written in the data):

    association = log( P_target / P_prior ),  P_target = P([MASK]_1 = person | Sent_TM),
                                              P_prior  = P([MASK]_1 = person | Sent_TAM)

(Bartl et al. 2020, Sec. 3.3, after Kurita et al. 2019), natural log; [MASK]_1 is the first mask (the
person word comes first in every template). The person token is the token of the unmasked sentence at that
position, i.e. the first sub-token of a person word the tokenizer splits (as the original code's
`original_ids[mask_indices[0]]`).

Aggregates: the mean association of male and of female person words in each profession group (male-,
female-, balanced-dominated: `Prof_Gender`), their gap (male - female), and the Wilcoxon signed-rank test
between the genders as in the paper: each male person word is paired with its female counterpart (`PAIRS`,
he/she, man/woman, ...) in the same template and profession (`scipy.stats.wilcoxon`, two-sided).

Deliberate differences from the seed's code (Bartl's `bias_utils`): it pads every sentence to a power of two
with attended [MASK] tokens (`pad_sequences(value=mask_token_id)`, attention `id > 0`); we score unpadded
sentences. Its `statistics()` pairs female-profession with male-profession rows by row order and picks a
t-test when a Shapiro test passes; we test male vs female person words, as the paper reports.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from babybias.errors import DataError
from babybias.metrics.requests import MaskedTokenRequest, MetricResult, TokenScores, check_aligned
from babybias.uncertainty import Resampling

FILE = "BEC-Pro_EN.tsv"
COLUMNS = ("Sentence", "Sent_TM", "Sent_TAM", "Template", "Person", "Gender", "Profession", "Prof_Gender")
GROUPS = ("male", "female", "balanced")
PAIRS = (("He", "She"), ("man", "woman"), ("brother", "sister"), ("son", "daughter"), ("husband", "wife"),
         ("boyfriend", "girlfriend"), ("father", "mother"), ("uncle", "aunt"), ("dad", "mom"))
"""BEC-Pro's nine male person words and their female counterparts (Bartl et al. 2020, Table 1)."""
DATA_MASK = "[MASK]"
DEFINITION_VERSION = 1
"""Bump when a change here changes the numbers: stored results of an older version are recomputed."""
_FIX = "restore the file with `babybias data prepare datasets=[bec_pro]`"


@dataclass(frozen=True)
class BecProRow:
    """One BEC-Pro sentence; `row_id` is the TSV's unnamed index column."""

    row_id: int
    sentence: str
    sent_tm: str
    sent_tam: str
    template: str
    person: str
    gender: str
    profession: str
    prof_gender: str

    @property
    def person_start(self) -> int:
        """Character offset of the person word in `sentence` (where Sent_TM's first [MASK] is)."""
        return self.sent_tm.index(DATA_MASK)


def load_bec_pro(path: Path) -> list[BecProRow]:
    """Read `BEC-Pro_EN.tsv`; DataError naming the line when a column is missing or a value is invalid."""
    path = Path(path)
    if path.is_dir():
        path = path / FILE
    if not path.is_file():
        raise DataError(f"BEC-Pro file {path} is missing", fix=_FIX)
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle, delimiter="\t")
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise DataError(f"{path}:1: header lacks columns {missing}", fix=_FIX)
        rows = []
        for line, rec in enumerate(reader, 2):
            row = BecProRow(int(rec.get("") or line - 2), *(rec[c] for c in COLUMNS))
            if (row.gender not in ("male", "female") or row.prof_gender not in GROUPS or DATA_MASK not in row.sent_tm
                    or row.sent_tm[:row.person_start] != row.sentence[:row.person_start]
                    or not row.sent_tam.startswith(row.sent_tm[:row.person_start] + DATA_MASK)):
                raise DataError(f"{path}:{line}: not a BEC-Pro row (gender, profession group or masks)", fix=_FIX)
            rows.append(row)
    if not rows:
        raise DataError(f"{path}: no rows", fix=_FIX)
    return rows


def requests_for(rows: Sequence[BecProRow], tokenizer) -> list[MaskedTokenRequest]:
    """One request per row: texts (Sent_TM, Sent_TAM) in the tokenizer's mask string, target = the person token."""
    enc = tokenizer([r.sentence for r in rows], return_offsets_mapping=True, add_special_tokens=False)
    mask = tokenizer.mask_token
    out = []
    for row, ids, offsets in zip(rows, enc["input_ids"], enc["offset_mapping"]):
        starts = [k for k, (s, e) in enumerate(offsets) if s == row.person_start and e > s]
        if not starts:
            raise ValueError(f"no token starts at the person word of {row.sentence!r}")
        target = ids[starts[0]]
        out.append(MaskedTokenRequest((row.sent_tm.replace(DATA_MASK, mask), row.sent_tam.replace(DATA_MASK, mask)),
                                      (target, target)))
    return out


def associations(scores: Sequence[TokenScores]) -> np.ndarray:
    """log(P_target / P_prior) per row = logprob at Sent_TM - logprob at Sent_TAM (natural log)."""
    return np.array([s.logprobs[0] - s.logprobs[1] for s in scores], dtype=np.float64)


def paired_by_person(rows: Sequence[BecProRow]) -> list[tuple[int, int]]:
    """(male row index, female row index) for each male person word and its counterpart (same template and
    profession), in row order; ValueError when a counterpart is missing."""
    counterpart = dict(PAIRS)
    index = {(r.template, r.profession, r.person): k for k, r in enumerate(rows)}
    pairs = []
    for k, r in enumerate(rows):
        if r.gender != "male":
            continue
        key = (r.template, r.profession, counterpart.get(r.person))
        if key not in index:
            raise ValueError(f"BEC-Pro row {r.row_id} ({r.person}, {r.profession}) has no female counterpart")
        pairs.append((k, index[key]))
    return pairs


def wilcoxon(male: np.ndarray, female: np.ndarray) -> tuple[float, float]:
    """(statistic, two-sided p) of the Wilcoxon signed-rank test of paired male - female associations."""
    from scipy import stats

    if len(male) == 0 or np.all(male == female):
        return float("nan"), float("nan")
    result = stats.wilcoxon(male, female)
    return float(result.statistic), float(result.pvalue)


def compute(rows: Sequence[BecProRow], scores: Sequence[TokenScores],
            resampling: Resampling | None = Resampling()) -> MetricResult:
    """Mean associations by person gender x profession group, male - female gaps, Wilcoxon tests, CIs.

    Intervals resample the (male, female) pairs: `gap_<group>_professions` (= "<group>_professions/gap") and
    "<group>_professions/mean_male|mean_female", overall as `all_professions`."""
    from babybias.metrics.intervals import mean_intervals

    check_aligned(scores, len(rows), "bec_pro")
    assoc = associations(scores)
    pairs = np.array(paired_by_person(rows), dtype=int).reshape(-1, 2)
    group_of_pair = np.array([f"{rows[m].prof_gender}_professions" for m, _ in pairs])
    per_category = {}
    for group in (*GROUPS, "all"):
        name = f"{group}_professions"
        chosen = pairs if group == "all" else pairs[group_of_pair == name]
        male, female = assoc[chosen[:, 0]], assoc[chosen[:, 1]]
        statistic, p_value = wilcoxon(male, female)
        mean = lambda v: float(v.mean()) if len(v) else float("nan")  # noqa: E731
        per_category[name] = {"mean_male": mean(male), "mean_female": mean(female), "gap": mean(male - female),
                              "wilcoxon_statistic": statistic, "wilcoxon_p": p_value, "n_pairs": int(len(chosen))}
    summary = {"mean_association_male": per_category["all_professions"]["mean_male"],
               "mean_association_female": per_category["all_professions"]["mean_female"],
               **{f"gap_{g}_professions": per_category[f"{g}_professions"]["gap"] for g in (*GROUPS, "all")},
               "wilcoxon_p": per_category["all_professions"]["wilcoxon_p"],
               "n_sentences": len(rows), "n_pairs": int(len(pairs))}
    intervals = {}
    male, female = assoc[pairs[:, 0]], assoc[pairs[:, 1]]
    for key, values in (("gap", male - female), ("mean_male", male), ("mean_female", female)):
        found = mean_intervals(values, group_of_pair, key=key, scale=1.0, resampling=resampling)
        if key in found:
            found["all_professions/" + key] = found.pop(key)
        intervals.update(found)
    for g in (*GROUPS, "all"):
        if f"{g}_professions/gap" in intervals:
            intervals[f"gap_{g}_professions"] = intervals[f"{g}_professions/gap"]
    out_rows = [{"row_id": r.row_id, "person": r.person, "gender": r.gender, "profession": r.profession,
                 "prof_gender": r.prof_gender, "template": r.template, "logprob_target": s.logprobs[0],
                 "logprob_prior": s.logprobs[1], "association": float(a)}
                for r, s, a in zip(rows, scores, assoc)]
    options = {"association": "log P(person | Sent_TM) - log P(person | Sent_TAM), natural log",
               "test": "Wilcoxon signed-rank, male vs female person word, same template and profession"}
    return MetricResult("bec_pro", summary, per_category, out_rows, options, intervals)
