"""Corpus mutations: pure functions from a list of sentences to (new list, report), in a registry.

Each `Mutation` names the `CorpusConfig` fields it reads (they, not the whole config, enter the cache key)
and whether it draws random numbers (then the seed enters the key too). Reports say what was added,
replaced or removed, why, and give a few examples; they end up in manifest.json.

A sentence is male (female) when it has more male (female) terms than female (male) ones; sentences with
equal counts (including none) are neutral/mixed and never removed by `imbalanced`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Callable

from babybias.corpus.gender import Swapper
from babybias.corpus.group_swap import GroupSwapper
from babybias.errors import BabybiasError

N_EXAMPLES = 3
COPIES_AFTER_TEXT = "after_text"
"""Where two_sided cda/balanced write the swapped copies: after all original lines, never beside their original
(in the cache key of those corpora: earlier versions wrote each copy right after its original)."""


@dataclass
class MutationContext:
    cfg: object
    """The CorpusConfig."""
    swapper: Swapper
    seed: int
    """Child seed for this split (already derived from the run seed)."""
    progress: bool = True
    reference_removed: int | None = None
    """random_drop: sentences the reference mutation removed from this split."""
    extra: dict = field(default_factory=dict)
    group_swapper: GroupSwapper | None = None
    """cda with corpus.cda_bias_type=race|religion: the triples' swapper."""


@dataclass(frozen=True)
class Mutation:
    name: str
    apply: Callable[[list[str], MutationContext], tuple[list[str], dict]]
    options: tuple[str, ...]
    seeded: bool | Callable[[object], bool]
    """Whether it draws random numbers (then the seed enters the cache key); may depend on the CorpusConfig."""

    def is_seeded(self, cfg) -> bool:
        return self.seeded(cfg) if callable(self.seeded) else self.seeded


def _clip(text: str, width: int = 200) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _bar(items, desc: str, ctx: MutationContext):
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, unit="sent", disable=not ctx.progress, leave=False, mininterval=1.0)


def gender_class(male: int, female: int) -> str:
    return "male" if male > female else "female" if female > male else "neutral"


# ---------------------------------------------------------------- original, cda
def original(sentences: list[str], ctx: MutationContext) -> tuple[list[str], dict]:
    return list(sentences), {"reason": "unchanged (cleaned, split, deduplicated)", "added": 0, "removed": 0}


def cda(sentences: list[str], ctx: MutationContext) -> tuple[list[str], dict]:
    """Counterfactual data augmentation: two_sided adds a swapped copy, one_sided replaces (Webster et al. 2020).

    Gender swaps with the corpus lexicon (corpus/gender.py); race and religion with bias-bench's ternary
    random swap (corpus/group_swap.py, one seeded draw per unit). `cda_scope=augmented_only` keeps only the
    windows of text holding an attribute word (original + swapped), as bias-bench trains on its augmented
    blocks only; `all_text` (default) keeps every sentence.

    two_sided writes the swapped copies after all of the original text, in the same order (`COPIES_AFTER_TEXT`):
    pretraining packs consecutive lines into one block, so a copy written next to its original would share
    its context and let MLM copy the masked words across; bias-bench trains the two as separate examples.
    """
    cfg = ctx.cfg
    two_sided, keep_all = cfg.cda_mode == "two_sided", cfg.cda_scope == "all_text"
    units = [[s] for s in sentences] if keep_all else _windows(sentences, cfg.cda_window_words)
    swap_unit, draws = _unit_swapper(ctx)
    out, copies, n_units, n_sentences, words, dropped, examples = [], [], 0, 0, 0, 0, []
    for unit in _bar(units, "cda", ctx):
        swapped, n = swap_unit(unit)
        if n == 0 or swapped == unit:
            out.extend(unit if keep_all else ())
            dropped += 0 if keep_all else len(unit)
            continue
        n_units, n_sentences, words = n_units + 1, n_sentences + len(unit), words + n
        out.extend(unit if two_sided else swapped)
        copies.extend(swapped if two_sided else ())
        if len(examples) < N_EXAMPLES:
            examples.append({"original": _clip(" ".join(unit)), "swapped": _clip(" ".join(swapped))})
    unit_name = "sentences" if keep_all else f"windows of >= {cfg.cda_window_words} words"
    report = {
        "reason": f"counterfactual {cfg.cda_bias_type} swap ({cfg.cda_mode}, {cfg.cda_scope}) of {unit_name} "
                  "holding an attribute word", "bias_type": cfg.cda_bias_type, "scope": cfg.cda_scope,
        "sentences_swapped": n_sentences, "units_swapped": n_units, "words_swapped": words,
        "added": n_sentences if two_sided else 0, "replaced": 0 if two_sided else n_sentences, "removed": dropped,
        "examples": examples,
    }
    if two_sided:
        report["copies"] = COPIES_AFTER_TEXT
    if draws is not None:
        report["target_draws"] = dict(sorted(draws.items()))
    return out + copies, report


def _windows(sentences: list[str], min_words: int) -> list[list[str]]:
    """Consecutive sentences grouped until each group has at least `min_words` words (the last may have fewer)."""
    units, unit, count = [], [], 0
    for sentence in sentences:
        unit.append(sentence)
        count += len(sentence.split())
        if count >= min_words:
            units.append(unit)
            unit, count = [], 0
    return units + ([unit] if unit else [])


def _unit_swapper(ctx: MutationContext):
    """(unit -> (swapped unit, words swapped), counts of ternary target draws or None for gender)."""
    if ctx.cfg.cda_bias_type == "gender":
        def swap_gender(unit: list[str]) -> tuple[list[str], int]:
            pairs = [ctx.swapper.swap(s) for s in unit]
            return [p[0] for p in pairs], sum(p[1] for p in pairs)

        return swap_gender, None
    groups, rng, draws = ctx.group_swapper, random.Random(ctx.seed), {}

    def swap_groups(unit: list[str]) -> tuple[list[str], int]:
        if not any(groups.count(s) for s in unit):
            return unit, 0
        targets = groups.draw_targets(rng)  # one draw per unit, as bias-bench draws one per block
        for source, target in enumerate(targets):
            draws[f"{source}->{target}"] = draws.get(f"{source}->{target}", 0) + 1
        pairs = [groups.swap(s, targets) for s in unit]
        return [p[0] for p in pairs], sum(p[1] for p in pairs)

    return swap_groups, draws


# ---------------------------------------------------------------- balanced
def balanced(sentences: list[str], ctx: MutationContext) -> tuple[list[str], dict]:
    """CDA on a seeded random subset of majority-side sentences until male and female term counts match.

    Greedy: visit majority-leaning sentences in seeded random order and swap one when that does not
    overshoot the remaining gap; stop at a gap of 0 (or when no sentence fits). one_sided replaces the
    sentence (gap shrinks by 2(m - f)), two_sided adds the swapped copy (gap shrinks by m - f), written after
    all of the original text as `cda` writes its copies.
    """
    swapper, two_sided = ctx.swapper, ctx.cfg.cda_mode == "two_sided"
    counts = [swapper.count(s) for s in sentences]
    male, female = sum(c[0] for c in counts), sum(c[1] for c in counts)
    majority = "male" if male >= female else "female"
    sign = 1 if majority == "male" else -1
    gap = sign * (male - female)
    candidates = [i for i, (m, f) in enumerate(counts) if sign * (m - f) > 0]
    random.Random(ctx.seed).shuffle(candidates)
    replacements: dict[int, str] = {}
    examples = []
    for i in candidates:
        if gap <= 0:
            break
        swapped, _ = swapper.swap(sentences[i])
        m2, f2 = swapper.count(swapped)
        m, f = counts[i]
        gain = sign * ((m - f) - (m2 - f2)) if not two_sided else -sign * (m2 - f2)
        if gain <= 0 or gain > gap:
            continue
        replacements[i] = swapped
        gap -= gain
        if len(examples) < N_EXAMPLES:
            examples.append({"original": _clip(sentences[i]), "swapped": _clip(swapped)})
    if two_sided:  # the copies after the text, as in `cda`
        out = list(sentences) + [replacements[i] for i in sorted(replacements)]
    else:
        out = [replacements.get(i, sentence) for i, sentence in enumerate(sentences)]
    larger = max(male, female)
    final_gap = abs(gap)
    warning = None
    if larger == 0:
        warning = (f"corpus=balanced: the {len(sentences)} sentences hold no gendered words of the lexicon "
                   "(0 male, 0 female terms), so nothing was balanced; this corpus equals corpus=original")
    if final_gap > ctx.cfg.balance_tolerance * larger:
        raise BabybiasError(
            f"balanced: could not equalize gender terms (gap {final_gap} of {larger} after swapping "
            f"{len(replacements)} of {len(candidates)} {majority}-leaning sentences)",
            fix="add sources, use corpus.cda_mode=two_sided, or raise corpus.balance_tolerance")
    return out, {
        "reason": f"CDA ({ctx.cfg.cda_mode}) on a seeded subset of {majority}-leaning sentences to equalize term counts",
        "majority": majority, "before": {"male_terms": male, "female_terms": female},
        "remaining_gap": final_gap, "sentences_swapped": len(replacements), "candidates": len(candidates),
        "added": len(replacements) if two_sided else 0, "replaced": 0 if two_sided else len(replacements),
        "removed": 0, "examples": examples, **({"warning": warning} if warning else {}),
        **({"copies": COPIES_AFTER_TEXT} if two_sided else {}),
    }


# ---------------------------------------------------------------- imbalanced
def imbalanced(sentences: list[str], ctx: MutationContext) -> tuple[list[str], dict]:
    """Remove seeded random male or female sentences until female/(male + female) sentences = female_ratio."""
    target = ctx.cfg.female_ratio
    classes = [gender_class(*ctx.swapper.count(s)) for s in sentences]
    males = [i for i, c in enumerate(classes) if c == "male"]
    females = [i for i, c in enumerate(classes) if c == "female"]
    if not males and not females:
        raise BabybiasError("imbalanced: the corpus has no gendered sentences",
                            fix="add sources with gendered text or use corpus=original")
    before = len(females) / (len(males) + len(females))
    if before > target:
        side, pool = "female", females
        keep = round(target * len(males) / (1 - target))
    else:
        side, pool = "male", males
        keep = round(len(females) * (1 - target) / target)
    if keep == 0:  # the ratio would be 0 or 1 (or undefined), never the one asked for
        raise BabybiasError(
            f"imbalanced: female_ratio={target} cannot be reached: the split has {len(males)} male and "
            f"{len(females)} female sentences, and reaching it would remove every {side} sentence",
            fix="add sources with more gendered text (or a larger corpus.max_sentences / dryrun size), "
                "or choose a corpus.female_ratio nearer the corpus's own")
    n_remove = max(0, len(pool) - keep)
    removed = set(random.Random(ctx.seed).sample(pool, n_remove))
    out = [s for i, s in enumerate(sentences) if i not in removed]
    n_male = len(males) - (n_remove if side == "male" else 0)
    n_female = len(females) - (n_remove if side == "female" else 0)
    achieved = n_female / (n_male + n_female) if n_male + n_female else float("nan")
    return out, {
        "reason": f"removed seeded random {side} sentences to reach female_ratio={target}",
        "female_ratio_target": target, "female_ratio_before": before, "female_ratio_achieved": achieved,
        "sentences_before": {"male": len(males), "female": len(females),
                             "neutral": len(classes) - len(males) - len(females)},
        "removed_side": side, "removed": n_remove, "added": 0,
        "examples": [_clip(sentences[i]) for i in sorted(removed)[:N_EXAMPLES]],
    }


# ---------------------------------------------------------------- detox
def detox(sentences: list[str], ctx: MutationContext) -> tuple[list[str], dict]:
    """Remove sentences whose toxicity score is strictly above `threshold` (scorer from corpus/toxicity.py)."""
    from babybias.corpus.toxicity import get_scorer, score_summary, score_texts

    cfg = ctx.cfg
    scores = score_texts(sentences, get_scorer(cfg.scorer), cfg.score_batch_size, ctx.progress)
    flagged = scores > cfg.threshold
    out = [s for s, bad in zip(sentences, flagged) if not bad]
    worst = sorted((i for i in range(len(sentences)) if flagged[i]), key=lambda i: -scores[i])[:N_EXAMPLES]
    return out, {
        "reason": f"toxicity score > {cfg.threshold} by scorer {cfg.scorer}",
        "removed": int(flagged.sum()), "added": 0, "scores": score_summary(scores, cfg.threshold),
        "examples": [{"text": _clip(sentences[i]), "score": float(scores[i])} for i in worst],
    }


# ---------------------------------------------------------------- random_drop
def random_drop(sentences: list[str], ctx: MutationContext) -> tuple[list[str], dict]:
    """Remove as many seeded random sentences as the reference mutation removed (a size-matched control)."""
    n_remove = ctx.reference_removed or 0
    if n_remove > len(sentences):
        raise BabybiasError(f"random_drop: the reference removed {n_remove} sentences but this split has {len(sentences)}",
                            fix="build both corpora from the same sources and options")
    removed = set(random.Random(ctx.seed).sample(range(len(sentences)), n_remove))
    return [s for i, s in enumerate(sentences) if i not in removed], {
        "reason": f"removed {n_remove} seeded random sentences, as many as `{ctx.cfg.random_drop_reference}` removed",
        "reference": ctx.cfg.random_drop_reference, "reference_key": ctx.extra.get("reference_key"),
        "removed": n_remove, "added": 0, "examples": [_clip(sentences[i]) for i in sorted(removed)[:N_EXAMPLES]],
    }


MUTATIONS: dict[str, Mutation] = {
    m.name: m
    for m in [
        Mutation("original", original, (), False),
        Mutation("cda", cda, ("cda_mode", "ambiguous_her", "cda_bias_type", "cda_scope", "cda_window_words"),
                 lambda cfg: cfg.cda_bias_type != "gender"),
        Mutation("balanced", balanced, ("cda_mode", "ambiguous_her", "balance_tolerance"), True),
        Mutation("imbalanced", imbalanced, ("female_ratio",), True),
        Mutation("detox", detox, ("scorer", "threshold"), False),
        Mutation("random_drop", random_drop, ("random_drop_reference",), True),
    ]
}
