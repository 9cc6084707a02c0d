"""Attribute-word sentences for fitting post-model methods, drawn from the model's own pretraining corpus.

No Wikipedia dump is available offline, so (unlike bias-bench) the sentences come from the corpus the model
was pretrained on, one sentence per line. A sentence is *male* when it contains male attribute words and no
female ones, *female* vice versa, *neutral* when it has none (the three INLP classes of bias-bench);
SentenceDebias uses every gendered sentence with its gender-swapped counterpart. Words and swaps come
from the corpus lexicon (`babybias.corpus.gender`), the same one CDA uses. Every sentence used is recorded.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

from babybias.errors import BabybiasError

LABELS = ("male", "female", "neutral")


@dataclass
class AttributeSentences:
    by_label: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    """label -> [(line number in the corpus file, sentence)]."""
    pairs: list[tuple[int, str, str]] = field(default_factory=list)
    """[(line number, male version, female version)] counterfactual pairs."""

    def records(self) -> list[dict]:
        out = [{"label": label, "line": line, "text": text}
               for label in LABELS for line, text in self.by_label.get(label, [])]
        out += [{"label": "pair", "line": line, "text": male, "counterfactual": female}
                for line, male, female in self.pairs]
        return out


def gender_swapper(data_cfg, word_lists=("bias_attribute_words", "debiaswe_word_lists", "winobias"),
                   ambiguous_her: str = "heuristic"):
    """The corpus's gender `Swapper` (lexicon merged from the registered word lists)."""
    from babybias.corpus.gender import Swapper, build_lexicon
    from babybias.data.store import require

    folders = {name: require(name, data_cfg) for name in word_lists}
    return Swapper(build_lexicon(folders), ambiguous_her)


def select_sentences(lines: list[str], swapper, per_class: int, seed: int, max_words: int = 60,
                     pairs: bool = False) -> AttributeSentences:
    """Sample at most `per_class` sentences of each class (or counterfactual pairs) with `random.Random(seed)`."""
    pools: dict[str, list[tuple[int, str]]] = {label: [] for label in LABELS}
    for number, raw in enumerate(lines, start=1):
        text = raw.strip()
        if not text or len(text.split()) > max_words:
            continue
        male, female = swapper.count(text)
        label = "neutral" if male == female == 0 else "male" if female == 0 else "female" if male == 0 else None
        if label is not None:
            pools[label].append((number, text))
    rng = random.Random(seed)
    result = AttributeSentences()
    if pairs:
        gendered = pools["male"] + pools["female"]
        gendered.sort()
        chosen = sorted(rng.sample(gendered, min(per_class, len(gendered))))
        for number, text in chosen:
            swapped, n_swapped = swapper.swap(text)
            if n_swapped == 0 or swapped == text:
                continue
            is_male = swapper.count(text)[0] > 0
            result.pairs.append((number, text, swapped) if is_male else (number, swapped, text))
        return result
    for label, pool in pools.items():
        result.by_label[label] = sorted(rng.sample(pool, min(per_class, len(pool))))
    return result


def read_corpus_lines(path: str | Path) -> list[str]:
    path = Path(path)
    if not path.is_file():
        raise BabybiasError(f"corpus file {path} does not exist",
                            fix="pass debias corpus_file=<one sentence a line .txt> or a pretrain run that has corpus.json")
    return path.read_text(encoding="utf-8").splitlines()


def corpus_file_of_run(run_dir: str | Path) -> Path:
    """The train split a pretrain run was trained on (its corpus.json `train_path`)."""
    run_dir = Path(run_dir)
    reference = run_dir / "corpus.json"
    if not reference.is_file():
        raise BabybiasError(f"{run_dir} has no corpus.json naming its pretraining corpus",
                            fix="pass corpus_file=<train.txt> explicitly")
    from babybias.integrity import read_json

    data = read_json(reference, what="the run's corpus reference")
    if not isinstance(data, dict) or "train_path" not in data:
        raise BabybiasError(f"{reference} names no train_path", fix="pass corpus_file=<train.txt> explicitly")
    return Path(data["train_path"])
