"""The canonical StereoSet file: `data/dev.json` of `moinnadeem/StereoSet` (Nadeem et al. 2021).

Layout (as the official `code/dataloader.py` reads it):

    {"version": ..., "data": {"intrasentence": [example, ...], "intersentence": [example, ...]}}
    example  = {"id", "target", "bias_type", "context", "sentences": [sentence, sentence, sentence]}
    sentence = {"id", "sentence", "labels": [{"label", "human_id"}, ...], "gold_label"}

`gold_label` is one of stereotype / anti-stereotype / unrelated, each exactly once per example. Only the
intrasentence part is scored (the masked-LM task); the intersentence part must be there (it marks the
file as the canonical one) but is not read further.
"""

from __future__ import annotations

import json
from pathlib import Path

from babybias.errors import DataError
from babybias.metrics.stereoset import LABELS, StereoSetExample, make_example

_FIX = "download it again (`babybias data prepare datasets=[stereoset] force=true data.mirror=null`)"


def load_canonical(path: Path, word_rule: str = "official") -> list[StereoSetExample]:
    """Intrasentence examples of a canonical dev.json, with their example and sentence ids."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as err:
        raise DataError(f"{path}: invalid JSON ({err})", fix=_FIX) from None
    sections = data.get("data") if isinstance(data, dict) else None
    if not isinstance(sections, dict) or not all(isinstance(sections.get(k), list)
                                                 for k in ("intrasentence", "intersentence")):
        raise DataError(f"{path}: not the canonical StereoSet layout "
                        "({'data': {'intrasentence': [...], 'intersentence': [...]}})", fix=_FIX)
    examples = [_example(obj, word_rule, f"{path}: data.intrasentence[{k}]")
                for k, obj in enumerate(sections["intrasentence"])]
    if not examples:
        raise DataError(f"{path}: no intrasentence examples", fix=_FIX)
    ids = [ex.example_id for ex in examples]
    if len(set(ids)) != len(ids):
        raise DataError(f"{path}: intrasentence example ids are not unique", fix=_FIX)
    return examples


def _example(obj, word_rule: str, where: str) -> StereoSetExample:
    if not isinstance(obj, dict):
        raise DataError(f"{where}: expected an object", fix=_FIX)
    missing = [k for k in ("id", "target", "bias_type", "context") if not isinstance(obj.get(k), str)]
    if missing or not isinstance(obj.get("sentences"), list):
        raise DataError(f"{where}: missing or malformed keys {missing or ['sentences']}", fix=_FIX)
    by_label: dict[str, tuple[str, str]] = {}
    for sentence in obj["sentences"]:
        if not isinstance(sentence, dict) or not isinstance(sentence.get("sentence"), str):
            raise DataError(f"{where} ({obj['id']}): a sentence without text", fix=_FIX)
        label = sentence.get("gold_label")
        if label in by_label:
            raise DataError(f"{where} ({obj['id']}): two sentences with gold_label {label!r}", fix=_FIX)
        by_label[label] = (sentence["sentence"], str(sentence.get("id")))
    if set(by_label) != set(LABELS):
        raise DataError(f"{where} ({obj['id']}): gold labels {sorted(map(str, by_label))}, "
                        f"expected one each of {list(LABELS)}", fix=_FIX)
    return make_example(obj["id"], obj, by_label, word_rule, f"{where} ({obj['id']})")
