"""Fit sentences for the post-model methods, built as bias-bench builds them, from the model's own corpus.

No Wikipedia dump is available offline, so (unlike bias-bench) the sentences come from the corpus the model
was pretrained on, one sentence per line. Words are matched as bias-bench matches them: whitespace tokens,
lower-cased, against `bias_attribute_words` (`babybias.debias.attribute_words`). Every sentence used is
recorded in the artifact.

INLP (bias-bench `dataset/inlp.py`, `inlp_sentences`): lines are visited in a seeded random order; a line
of fewer than 5 tokens is skipped. Gender: *male* = some male word and no female word, *female* vice versa,
*neutral* = neither (a line with both is skipped); race and religion: *bias* = some attribute word, *neutral*
= none. Each class takes the first `per_class` lines it meets (10,000 in bias-bench; attribute classes
without duplicates). Clipping: an attribute sentence is cut after a random token from the attribute word on
(`tokens[: randint(i, n) + 1]`, i = first position of the last attribute word met), a neutral one after a
random token from the fourth on (`tokens[: randint(4, n)]`); the clipped tokens are joined by spaces,
lower-cased when `lowercase`.

SentenceDebias (bias-bench `dataset/sentence_debias.py`, `counterfactual_examples`): for every line, every
tuple of the lexicon and every word of the tuple present in the line, one example: the line with that word
(all its occurrences, and nothing else) replaced by each other word of the tuple. Gender gives (male,
female) pairs, race and religion triples. bias-bench uses every example; `max_pairs` samples some.
`counterfactuals=all_words` (our earlier construction) swaps every attribute word at once instead
(gender only, lines with words of one gender only).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

from babybias.debias.attribute_words import AttributeWords, lower_words, match_case, replace_word, words_of
from babybias.errors import BabybiasError, ConfigError

GENDER_LABELS = ("male", "female", "neutral")
BINARY_LABELS = ("bias", "neutral")
MIN_TOKENS = 5
"""bias-bench skips INLP lines of fewer than 5 whitespace tokens."""


def inlp_labels(words: AttributeWords) -> tuple[str, ...]:
    """The INLP classes of a bias type: male/female/neutral for gender, bias/neutral for race and religion."""
    return GENDER_LABELS if words.bias_type == "gender" else BINARY_LABELS


@dataclass
class AttributeSentences:
    by_label: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    """INLP: label -> [(line number in the corpus file, sentence as fed to the model)]."""
    groups: list[tuple[int, tuple[str, ...]]] = field(default_factory=list)
    """SentenceDebias: [(line number, (version of group 0, version of group 1, ...))] counterfactual examples."""
    labels: tuple[str, ...] = GENDER_LABELS

    def records(self) -> list[dict]:
        out = [{"label": label, "line": line, "text": text}
               for label in self.labels for line, text in self.by_label.get(label, [])]
        out += [{"label": "counterfactual", "line": line, "text": versions[0], "counterfactual": list(versions[1:])}
                for line, versions in self.groups]
        return out


def _label(lowered: list[str], words: AttributeWords) -> tuple[str | None, int]:
    """(INLP class or None to skip, bias-bench's clip anchor: first position of the last attribute word met)."""
    if words.bias_type == "gender":
        male, female = words.words_at(0), words.words_at(1)
        found = [w for w in lowered if w in male or w in female]
        has_male, has_female = any(w in male for w in found), any(w in female for w in found)
        if has_male and has_female:
            return None, -1
        label = "male" if has_male else "female" if has_female else "neutral"
    else:
        found = [w for w in lowered if w in words.all_words]
        label = "bias" if found else "neutral"
    return label, (lowered.index(found[-1]) if found else -1)


def inlp_sentences(lines: list[str], words: AttributeWords, per_class: int, seed: int, *, clip: bool = True,
                   lowercase: bool = True, max_words: int | None = None) -> AttributeSentences:
    """At most `per_class` sentences of each INLP class, chosen and clipped as bias-bench does (module doc)."""
    labels = inlp_labels(words)
    rng = random.Random(seed)
    order = list(range(len(lines)))
    rng.shuffle(order)
    chosen: dict[str, list[tuple[int, str]]] = {label: [] for label in labels}
    seen: set[str] = set()
    for index in order:
        text = lines[index].strip()
        tokens = words_of(text)
        if len(tokens) < MIN_TOKENS or (max_words is not None and len(tokens) > max_words):
            continue
        label, anchor = _label([t.lower() for t in tokens], words)
        if label is None or len(chosen[label]) >= per_class:
            continue
        if label != "neutral":
            if text in seen:
                continue
            seen.add(text)
        if clip:  # random.randint is inclusive at both ends, as in bias-bench
            end = rng.randint(anchor, len(tokens)) + 1 if label != "neutral" else rng.randint(4, len(tokens))
            tokens = tokens[:end]
        out = " ".join(tokens)
        chosen[label].append((index + 1, out.lower() if lowercase else out))
        if all(len(v) >= per_class for v in chosen.values()):
            break
    return AttributeSentences(by_label={k: sorted(v) for k, v in chosen.items()}, labels=labels)


def counterfactual_examples(lines: list[str], words: AttributeWords, *, lowercase: bool = True,
                            mode: str = "per_word", max_examples: int | None = None,
                            seed: int = 0) -> AttributeSentences:
    """SentenceDebias's counterfactual examples (module doc), at most `max_examples` (seeded sample)."""
    if mode not in ("per_word", "all_words"):
        raise ConfigError(f"debias.counterfactuals={mode!r} is not known", fix="use debias.counterfactuals=per_word|all_words")
    if mode == "all_words" and words.bias_type != "gender":
        raise ConfigError("debias.counterfactuals=all_words swaps gender words only",
                          fix="use debias.counterfactuals=per_word for race and religion")
    make = _per_word if mode == "per_word" else _all_words(words)
    groups: list[tuple[int, tuple[str, ...]]] = []
    for number, raw in enumerate(lines, start=1):
        text = raw.strip()
        if text:
            groups += [(number, versions) for versions in make(text.lower() if lowercase else text, words)]
    if max_examples is not None and len(groups) > max_examples:
        keep = sorted(random.Random(seed).sample(range(len(groups)), max_examples))
        groups = [groups[i] for i in keep]
    return AttributeSentences(groups=groups)


def _per_word(text: str, words: AttributeWords) -> list[tuple[str, ...]]:
    present = set(lower_words(text))
    out = []
    for group in words.tuples:
        for i, word in enumerate(group):
            if word in present:
                out.append(tuple(text if j == i else replace_word(text, word, other) for j, other in enumerate(group)))
    return out


def _all_words(words: AttributeWords):
    partner: dict[str, tuple[int, str]] = {}
    for male, female in words.tuples:  # the first pair that lists a word gives its counterpart
        partner.setdefault(male, (0, female))
        partner.setdefault(female, (1, male))

    def make(text: str, _words: AttributeWords) -> list[tuple[str, ...]]:
        tokens = words_of(text)
        sides = {partner[t.lower()][0] for t in tokens if t.lower() in partner}
        if len(sides) != 1:
            return []
        swapped = " ".join(match_case(t, partner[t.lower()][1]) if t.lower() in partner else t for t in tokens)
        return [(text, swapped) if sides == {0} else (swapped, text)]

    return make


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
