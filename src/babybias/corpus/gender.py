"""Gender word pairs, term counting and counterfactual swapping (CDA; Zmigrod et al. 2019, Webster et al. 2020).

The lexicon merges, in this priority order, bias-bench `bias_attribute_words` (male, female), debiaswe
`definitional_pairs` (female, male) and `equalize_pairs` (mixed), and WinoBias `generalized_swaps.txt`
(both directions) and `extra_gendered_words.txt` (male, female). Rules, applied in that order:

- Orientation: each file's declared order is used, flipped when it contradicts a word already known from
  an earlier file or the "male" word looks female (-woman, -girl, -ess) and its partner does not
  (equalize_pairs and extra_gendered_words each list a few pairs female-first).
- Conflicts: a word keeps the counterpart from the first pair that names it (bias-bench first), e.g.
  guy->gal (not girl), lady->gentleman (not lord), mr.->mrs. (not ms.), girl->boy (not guy).
- Skipped (`SKIP_WORDS`): multi-word entries (`Catholic_priest`), names (Mary/John: a two-name list would
  be arbitrary), misspellings in the WinoBias lists (godess, adultor, barnoesses, mentleman, seamstress'),
  and words whose everyday sense is not gendered, which would corrupt ordinary text: miss (the verb),
  god, governor, host, master, tailor, monastery, testosterone, fella, chick.
- Ambiguous words, by a POS-free rule on the next word (`ambiguous_her=heuristic`): `her` becomes `his`
  when a noun-ish word follows (her book), `him` when the sentence ends, punctuation or a function word
  follows (told her that, gave her a); likewise `his` becomes `her` before a word and `hers` otherwise
  (the book is his.). `hers` -> `his`. Without a POS tagger a verb after `her` is taken for a noun
  (saw her leave -> saw his leave); the rule is right on the common determiner and clause-final cases.
  `ambiguous_her=his|him` fixes the choice instead.
- Whole words only (`shepherd` is untouched); clitics and a trailing period are kept
  (man's -> woman's, he'd -> she'd, Mr. -> Mrs.); case follows the source word (He -> She, HE -> SHE).
  As in bias-bench, capitalized attribute words inside names are swapped too (King James -> Queen James).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from babybias.errors import DataError

SKIP_WORDS = frozenset({
    "mary", "john", "godess", "godesses", "adultor", "adultors", "adultress", "adultresses", "barnoesses",
    "mentleman", "seamstress'", "miss", "god", "gods", "governor", "governors", "governess", "governesses",
    "host", "hosts", "master", "masters", "tailor", "tailors", "monastery", "convent", "testosterone",
    "estrogen", "fella", "granny", "chick", "chicks",
})
# Closed-class words after which `her`/`his` is an object/standalone pronoun, not a determiner.
FUNCTION_WORDS = frozenset("""
a an the to and or but nor so yet if then than that this these those there here as at by for from in into
of off on onto out over up down with without about above after again against along among around away back
before behind below beneath beside besides between beyond during except inside near since through
throughout till toward towards under until upon via when where while who whom whose which what why how
i you he she it we they me him her us them my your his its our their mine yours hers ours theirs myself
yourself himself herself itself ourselves themselves is are was were be been being am do does did have
has had will would shall should can could may might must not no too very well all now today tomorrow
yesterday tonight once twice anymore either neither alone home just only also even still already soon
some any every each much many more most few several both half enough
""".split())

WORD_RE = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)*\.?")


@dataclass
class GenderLexicon:
    """Bidirectional swap map over lower-case words, with the side of each word."""

    swap: dict[str, str] = field(default_factory=dict)
    male: frozenset = frozenset()
    female: frozenset = frozenset()
    sources: list[str] = field(default_factory=list)

    def side(self, word: str) -> str | None:
        w = word.lower()
        return "male" if w in self.male else "female" if w in self.female else None


def _pairs_from_files(folders: dict[str, Path]) -> list[tuple[str, list[tuple[str, str]], bool]]:
    """(label, pairs as listed, declared male-first) per word-list file, in priority order."""
    out: list[tuple[str, list[tuple[str, str]], bool]] = []
    if "bias_attribute_words" in folders:
        data = json.loads((folders["bias_attribute_words"] / "bias_attribute_words.json").read_text())
        out.append(("bias_attribute_words", [tuple(p) for p in data["gender"]], True))
    if "debiaswe_word_lists" in folders:
        folder = folders["debiaswe_word_lists"]
        out.append(("definitional_pairs", [tuple(p) for p in json.loads((folder / "definitional_pairs.json").read_text())], False))
        out.append(("equalize_pairs", [tuple(p) for p in json.loads((folder / "equalize_pairs.json").read_text())], True))
    if "winobias" in folders:
        for name, male_first in (("generalized_swaps.txt", True), ("extra_gendered_words.txt", True)):
            pairs = []
            for line in (folders["winobias"] / name).read_text(encoding="utf-8").splitlines():
                parts = [p.strip() for p in line.split("\t")]
                if len(parts) == 2 and all(parts):
                    pairs.append((parts[0], parts[1]))
            out.append((name, pairs, male_first))
    unknown = set(folders) - {"bias_attribute_words", "debiaswe_word_lists", "winobias"}
    if unknown:
        raise DataError(f"no word-list reader for {sorted(unknown)}",
                        fix="use corpus.word_lists from bias_attribute_words, debiaswe_word_lists, winobias")
    return out


def _looks_female(word: str) -> bool:
    return re.search(r"wom[ae]n|girl|ess(es)?$", word) is not None


def build_lexicon(folders: dict[str, Path]) -> GenderLexicon:
    """Merge the word lists found in `folders` (data set name -> folder) by the rules in the module doc."""
    male: dict[str, str] = {}    # male word -> female counterpart
    female: dict[str, str] = {}  # female word -> male counterpart
    for _label, pairs, male_first in _pairs_from_files(folders):
        for a, b in pairs:
            a, b = a.lower(), b.lower()
            if "_" in a or "_" in b or " " in a or " " in b or a in SKIP_WORDS or b in SKIP_WORDS or a == b:
                continue
            m, f = (a, b) if male_first else (b, a)
            if m in female or f in male or (_looks_female(m) and not _looks_female(f)):  # listed female-first
                m, f = f, m
            if m in female or f in male:  # still contradictory: ambiguous pair, skip
                continue
            male.setdefault(m, f)
            female.setdefault(f, m)
    if "mr." in male:  # titles also appear without the period
        male.setdefault("mr", "mrs")
        female.setdefault("mrs", "mr")
        female.setdefault("ms", "mr")
    swap = {**male, **female}
    # `hers` is the standalone form of `her`; `his` maps to `her`/`hers` by the heuristic in `swap_word`.
    swap.setdefault("hers", "his")
    female_set = set(female) | {"hers"}
    return GenderLexicon(swap=swap, male=frozenset(male), female=frozenset(female_set), sources=sorted(folders))


DEFAULT_WORD_LISTS = ("bias_attribute_words", "debiaswe_word_lists", "winobias")


def load_swapper(data_cfg, word_lists=DEFAULT_WORD_LISTS, ambiguous_her: str = "heuristic") -> "Swapper":
    """A Swapper over the word lists under the data root (checksums verified; DataError with the fix)."""
    from babybias.data import store

    return Swapper(build_lexicon({name: store.require(name, data_cfg) for name in word_lists}), ambiguous_her)


def match_case(source: str, target: str) -> str:
    """`target` in the capitalisation of `source` (He -> She, HE -> SHE, he -> she)."""
    if len(source) > 1 and source.isupper():
        return target.upper()
    if source[:1].isupper():
        return target[:1].upper() + target[1:]
    return target


class Swapper:
    """Gender-swap sentences with a lexicon (see module doc for the rules)."""

    def __init__(self, lexicon: GenderLexicon, ambiguous_her: str = "heuristic"):
        self.lexicon = lexicon
        self.ambiguous_her = ambiguous_her

    def _lookup(self, token: str) -> tuple[str, str, str] | None:
        """(lower-case lexicon word, source text of it, suffix kept as is) for a token, or None."""
        low = token.lower()
        if low in self.lexicon.swap:
            return low, token, ""
        if low.endswith(".") and low[:-1] in self.lexicon.swap:
            return low[:-1], token[:-1], token[-1:]
        stem = low[:-1] if low.endswith(".") else low
        cut = stem.find("'")
        if cut > 0 and stem[:cut] in self.lexicon.swap:  # man's, he'd, she'll: keep the clitic
            return stem[:cut], token[:cut], token[cut:]
        return None

    def _target(self, word: str, next_word: str | None) -> str:
        if word in ("her", "his"):
            determiner = next_word is not None and next_word.lower() not in FUNCTION_WORDS
            if word == "her":
                rule = self.ambiguous_her
                if rule == "heuristic":
                    return "his" if determiner else "him"
                return rule
            return "her" if determiner else "hers"
        return self.lexicon.swap[word]

    def swap(self, sentence: str) -> tuple[str, int]:
        """The gender-swapped sentence and how many words were swapped."""
        matches = list(WORD_RE.finditer(sentence))
        if not matches:
            return sentence, 0
        pieces, last, n = [], 0, 0
        for i, match in enumerate(matches):
            token = match.group()
            found = self._lookup(token)
            if found is None:
                continue
            word, source, suffix = found
            nxt = None
            if not suffix and i + 1 < len(matches) and not token.endswith("."):
                between = sentence[match.end():matches[i + 1].start()]
                if between.strip() == "":  # punctuation in between means `her` ends a clause
                    nxt = matches[i + 1].group()
            pieces.append(sentence[last:match.start()])
            pieces.append(match_case(source, self._target(word, nxt)) + suffix)
            last = match.end()
            n += 1
        pieces.append(sentence[last:])
        return "".join(pieces), n

    def count(self, sentence: str) -> tuple[int, int]:
        """(male terms, female terms) in a sentence, whole words, possessives and trailing periods included."""
        m = f = 0
        male, female = self.lexicon.male, self.lexicon.female
        for token in WORD_RE.findall(sentence):
            found = self._lookup(token)
            if found is None:
                continue
            if found[0] in male:
                m += 1
            elif found[0] in female:
                f += 1
        return m, f
