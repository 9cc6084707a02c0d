"""The seed paper's debiasing loss (its `ase/` code): `babybias pretrain debias=orthogonal_ewc init_from=<run>`.

Continued training of a trained masked LM with

    loss = MLM + orthogonal_weight * sum_{b,t in N} |h_L[b,t] . g| + ewc_importance * sum_n F_n (theta_n - theta0_n)^2

- **Data**: WinoBias type-1 sentences (pro-stereotyped, dev + test: the seed's `pro1comb.txt`) with the pronoun
  replaced by [MASK] and the pronoun as the MLM label, plus their gender-flipped copies (the other gendered
  words swapped by the CDA lexicon, `babybias.corpus.gender`; the label is the anti-stereotyped file's
  pronoun of the same line). MLM is the mean cross-entropy at the [MASK] positions.
- **h_L, N**: last-layer hidden states at the tokens of the first occurrence of each neutral word in the
  sentence (the seed's `make_debias_id`); the neutral words are WinoBias' 40 stereotyped occupations (the
  seed's `stereotype_list.tsv` is not in our data; these are the occupations its training sentences contain).
  The sum runs over the batch (not a mean), as the seed's.
- **g**: the gender direction (the seed's `calculate_gender_vector`): the male words of the bias-bench gender
  pairs, joined into word sequences, summed last hidden states (specials left out) minus the same for the
  female words, over the number of pairs, normalized to unit length; computed once from the original model
  in eval mode. Sequences are cut into chunks the model's positions hold.
- **EWC** (Kirkpatrick et al. 2017): theta0 are the original weights, F the diagonal empirical Fisher: the mean
  over WinoBias type-1 test sentences (pro and anti, pronoun masked) of the squared gradient of the sentence's
  loss of reproducing its own non-special tokens (the seed's `labels=input_ids`), original model in eval mode.

Deliberate differences from the seed: its Fisher loop never zeroes gradients, so each squared "gradient" is
the running sum over the sentences so far; we zero them per sentence (the Fisher's definition). Its loss
labels include [CLS]/[SEP]/[MASK]; ours leave special tokens out. Its Fisher sentences replace the occupation
with man/woman; ours keep the sentences as written. The optimizer steps only the trained model (the seed's
also holds the frozen reference copy).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import torch

from babybias.data import store
from babybias.debias.finetune import IGNORE_INDEX, Examples, Recipe, mlm_loss, sequence_limit

PRONOUN = re.compile(r"\[(he|she|him|his|her|He|She|His|Her|Him)\]")
TRAIN_FILES = ("pro_stereotyped_type1.txt.dev", "pro_stereotyped_type1.txt.test")
FISHER_FILES = ("pro_stereotyped_type1.txt.test", "anti_stereotyped_type1.txt.test")
OCCUPATION_FILES = ("male_occupations.txt", "female_occupations.txt")


@dataclass(frozen=True)
class MaskedSentence:
    text: str
    """The sentence with its pronoun written as [MASK] (the data's mask string; replaced by the tokenizer's)."""
    pronoun: str
    """The masked word (the MLM label)."""


def parse_winobias(line: str) -> tuple[str, str] | None:
    """(sentence with the pronoun as [MASK] and other brackets removed, pronoun); None unless one pronoun."""
    pronouns = PRONOUN.findall(line)
    if len(pronouns) != 1:
        return None
    text = re.sub(r"^\s*\d+\s+", "", line.strip())
    text = PRONOUN.sub("[MASK]", text)
    text = re.sub(r"\[([^\]]*)\]", lambda m: m.group(1) if m.group(1) != "MASK" else "[MASK]", text)
    return text, pronouns[0]


def _lines(folder: Path, name: str) -> list[str]:
    return (folder / name).read_text(encoding="utf-8").splitlines()


def training_sentences(folder: Path, swap) -> list[MaskedSentence]:
    """Pro-stereotyped type-1 sentences and their gender-flipped copies (label: the anti file's pronoun)."""
    out = []
    for name in TRAIN_FILES:
        for pro, anti in zip(_lines(folder, name), _lines(folder, name.replace("pro_", "anti_"))):
            parsed, parsed_anti = parse_winobias(pro), parse_winobias(anti)
            if parsed is None or parsed_anti is None:
                continue
            out.append(MaskedSentence(*parsed))
            out.append(MaskedSentence(swap(parsed[0]), parsed_anti[1]))
    return out


def fisher_sentences(folder: Path) -> list[str]:
    """WinoBias type-1 test sentences (pro, then anti) with the pronoun masked."""
    return [p[0] for name in FISHER_FILES for line in _lines(folder, name) if (p := parse_winobias(line))]


# ---------------------------------------------------------------- tokenized pieces
def neutral_positions(ids: list[int], neutral: list[list[int]]) -> list[int]:
    """1 at the tokens of the first occurrence of each neutral word's token sequence in `ids`, else 0."""
    flags = [0] * len(ids)
    for word in neutral:
        if not word or word[0] not in ids:
            continue
        start = ids.index(word[0])
        if ids[start:start + len(word)] == word:
            flags[start:start + len(word)] = [1] * len(word)
    return flags


def encode(sentences: list[MaskedSentence], tokenizer, neutral: list[list[int]], max_len: int) -> Examples:
    """input_ids with the MLM label (the pronoun's first token) at the mask and the neutral-word flags."""
    texts = [s.text.replace("[MASK]", tokenizer.mask_token) for s in sentences]
    ids = tokenizer(texts, truncation=True, max_length=max_len)["input_ids"]
    labels, flags = [], []
    for sentence, row in zip(sentences, ids):
        target = tokenizer(sentence.pronoun, add_special_tokens=False)["input_ids"][0]
        labels.append([target if t == tokenizer.mask_token_id else IGNORE_INDEX for t in row])
        flags.append(neutral_positions(list(row), neutral))
    return Examples([list(r) for r in ids], {"labels": labels, "neutral": flags}, {"labels": IGNORE_INDEX, "neutral": 0})


@torch.no_grad()
def gender_direction(lm, tokenizer, pairs: list[tuple[str, str]], max_len: int) -> torch.Tensor:
    """Unit vector: (sum of last hidden states over the male words - the same for the female words) / n_pairs."""
    def summed(words: list[str]) -> torch.Tensor:
        ids = [t for w in words for t in tokenizer(w, add_special_tokens=False)["input_ids"]]
        total = 0
        body = max_len - 2
        for start in range(0, len(ids), body):
            chunk = [tokenizer.cls_token_id, *ids[start:start + body], tokenizer.sep_token_id]
            x = torch.tensor([chunk], device=lm.device)
            total = total + lm.hidden_states(x, torch.ones_like(x))[0, 1:-1].float().sum(0)
        return total

    was_training = lm.model.training
    lm.model.eval()
    vector = (summed([m for m, _ in pairs]) - summed([f for _, f in pairs])) / len(pairs)
    lm.model.train(was_training)
    return vector / vector.norm()


def diagonal_fisher(lm, tokenizer, sentences: list[str], max_len: int) -> dict[str, torch.Tensor]:
    """Mean over sentences of the squared gradient of each sentence's token-reconstruction loss (eval mode)."""
    model = lm.model
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    fisher = {n: torch.zeros_like(p) for n, p in params.items()}
    special = torch.tensor(sorted(set(tokenizer.all_special_ids)))
    was_training = model.training
    model.eval()
    for text in sentences:
        ids = torch.tensor([tokenizer(text.replace("[MASK]", tokenizer.mask_token), truncation=True,
                                      max_length=max_len)["input_ids"]])
        labels = ids.masked_fill(torch.isin(ids, special), IGNORE_INDEX).to(lm.device)
        if not bool((labels != IGNORE_INDEX).any()):
            continue
        model.zero_grad(set_to_none=True)
        hidden = lm.hidden_states(ids.to(lm.device), torch.ones_like(ids).to(lm.device))
        mlm_loss(lm, hidden, labels).backward()
        for n, p in params.items():
            if p.grad is not None:
                fisher[n] += p.grad.detach() ** 2 / len(sentences)
    model.zero_grad(set_to_none=True)
    model.train(was_training)
    return fisher


class OrthogonalEWCObjective:
    """MLM at the masked pronoun + lambda * sum |h . g| at neutral words + importance * EWC penalty."""

    def __init__(self, model, direction: torch.Tensor, fisher: dict[str, torch.Tensor], weight: float,
                 importance: float):
        self.direction, self.fisher, self.weight, self.importance = direction, fisher, weight, importance
        self.anchor = {n: p.detach().clone() for n, p in model.named_parameters() if n in fisher}

    def ewc_penalty(self, model) -> torch.Tensor:
        """sum_n F_n (theta_n - theta0_n)^2 over every trained parameter (0 at the original weights)."""
        terms = [(self.fisher[n] * (p.float() - self.anchor[n]) ** 2).sum()
                 for n, p in model.named_parameters() if n in self.fisher]
        return torch.stack(terms).sum()

    def orthogonal_loss(self, hidden: torch.Tensor, neutral: torch.Tensor) -> torch.Tensor:
        """sum over the batch's neutral-word positions of |h . g| (the seed's `orth_loss_ver=abs`)."""
        return ((hidden.float() @ self.direction).abs() * neutral).sum()

    def __call__(self, lm, batch, step):
        hidden = lm.hidden_states(batch["input_ids"], batch["attention_mask"])
        mlm = mlm_loss(lm, hidden, batch["labels"])
        orthogonal = self.orthogonal_loss(hidden, batch["neutral"])
        penalty = self.ewc_penalty(lm.model) if self.importance else torch.zeros((), device=hidden.device)
        loss = mlm + self.weight * orthogonal + self.importance * penalty
        return loss, {"mlm_loss": mlm.item(), "orthogonal_loss": orthogonal.item(), "ewc_penalty": penalty.item()}


def gender_pairs(data_cfg) -> list[tuple[str, str]]:
    """The bias-bench gender word pairs (male, female) (`bias_attribute_words`)."""
    path = store.require("bias_attribute_words", data_cfg) / "bias_attribute_words.json"
    return [(m, f) for m, f in json.loads(path.read_text())["gender"]]


def examples_for(cfg, tokenizer, max_len: int) -> Examples:
    """The tokenized training examples of `cfg.debias` (WinoBias + flipped copies, labels, neutral-word flags)."""
    from babybias.corpus.gender import load_swapper

    folder = store.require("winobias", cfg.data)
    swapper = load_swapper(cfg.data)
    sentences = training_sentences(folder, lambda s: swapper.swap(s)[0])
    if cfg.debias.max_examples:
        sentences = sentences[: cfg.debias.max_examples]
    occupations = [w.strip() for name in OCCUPATION_FILES for w in _lines(folder, name) if w.strip()]
    neutral = [tokenizer(w, add_special_tokens=False)["input_ids"] for w in occupations]
    return encode(sentences, tokenizer, neutral, max_len)


def build(cfg, lm, tokenizer, source: Path) -> Recipe:
    """The debiasing-loss recipe: WinoBias examples, the gender direction, the Fisher, the objective."""
    settings = cfg.debias
    max_len = settings.max_seq_len or sequence_limit(lm, tokenizer)
    examples = examples_for(cfg, tokenizer, max_len)
    direction = gender_direction(lm, tokenizer, gender_pairs(cfg.data), max_len)
    fisher_texts = fisher_sentences(store.require("winobias", cfg.data))[: settings.fisher_sentences or None]
    fisher = diagonal_fisher(lm, tokenizer, fisher_texts, max_len) if settings.ewc_importance else {}
    objective = OrthogonalEWCObjective(lm.model, direction, fisher, settings.orthogonal_weight, settings.ewc_importance)
    flagged = sum(any(f) for f in examples.tracks["neutral"])
    print(f"orthogonal_ewc: {len(examples)} WinoBias examples ({flagged} with a neutral word), "
          f"Fisher on {len(fisher_texts)} sentences")
    return Recipe(examples, objective, {"data": "winobias", "examples": len(examples),
                                        "examples_with_neutral_words": flagged, "fisher_sentences": len(fisher_texts)})
