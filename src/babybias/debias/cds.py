"""CDS (Bartl, Nissim & Gatt 2020): fine-tune a trained masked LM on the gender-flipped GAP corpus.

`babybias pretrain debias=cds init_from=<run>` (conf/debias/cds.yaml, the seed's settings; the loop is
`babybias.debias.finetune`). Data: the 4,454 GAP passages with gendered words and names swapped
(`gap_flipped`), split into sentences (`debias.cds_unit=sentence`, as the seed's `sent_tokenize`; `passage`
keeps each passage whole). Objective: BERT's MLM (15% of the non-special tokens; 80% [MASK], 10% random,
10% kept), the mean cross-entropy over the selected tokens. Sequence length: `debias.max_seq_len`, by default
the seed's rule, the next power of two >= the longest example counted in whitespace words, capped at the
model's maximum; longer examples are truncated (in tokens). Then `babybias evaluate eval=[bec_pro]` on the
model before and after gives the paper's comparison.

Deliberate differences from the seed's script (Bartl's `main.py`): sentences come from our regex splitter
(`babybias.corpus.clean.split_sentences`; NLTK's punkt is not a dependency); the seed pads with attended
[MASK] tokens (`pad_sequences(value=mask_token_id)`, attention `id > 0`), which the MLM masking then also
selects and trains on; we pad with [PAD] under an attention mask, so padding takes no part.
"""

from __future__ import annotations

import csv
from pathlib import Path

import torch

from babybias.data import store
from babybias.debias.finetune import Examples, Recipe, mlm_loss, next_power_of_two, sequence_limit
from babybias.errors import DataError

FILE = "gap_flipped.tsv"
MLM_PROBABILITY = 0.15


def gap_passages(path: Path) -> list[str]:
    """The `Text` column of gap_flipped.tsv, in file order."""
    path = Path(path)
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle, delimiter="\t")
        if "Text" not in (reader.fieldnames or []):
            raise DataError(f"{path}: no `Text` column", fix="run `babybias data prepare datasets=[gap_flipped]`")
        return [row["Text"] for row in reader if row["Text"].strip()]


def training_texts(passages: list[str], unit: str = "sentence") -> list[str]:
    """One training example per sentence of each passage (`sentence`) or per passage (`passage`)."""
    from babybias.corpus.clean import normalize, split_sentences

    if unit == "passage":
        return [normalize(p) for p in passages]
    return [s for p in passages for s in split_sentences(normalize(p))]


def seq_len_for(texts: list[str], limit: int, configured: int | None = None) -> int:
    """`configured`, else the next power of two >= the longest text in whitespace words; at most `limit`."""
    wanted = configured or next_power_of_two(max(len(t.split()) for t in texts))
    return min(wanted, limit)


class MaskedLMObjective:
    """BERT masking of each batch (a function of (seed, step), so a resumed run masks alike) and the MLM loss."""

    def __init__(self, tokenizer, seed: int, mlm_probability: float = MLM_PROBABILITY):
        self.mask_id, self.vocab = tokenizer.mask_token_id, len(tokenizer)
        self.special = sorted(set(tokenizer.all_special_ids))
        self.seed, self.mlm_probability = seed, mlm_probability

    def mask(self, input_ids: torch.Tensor, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        from babybias.train.data import mask_tokens

        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + step)
        return mask_tokens(input_ids.cpu(), generator, self.mlm_probability, self.mask_id, self.vocab, self.special)

    def __call__(self, lm, batch, step):
        inputs, labels = self.mask(batch["input_ids"], step)
        device = batch["input_ids"].device
        hidden = lm.hidden_states(inputs.to(device), batch["attention_mask"])
        loss = mlm_loss(lm, hidden, labels.to(device))
        return loss, {"mlm_loss": loss.item()}


def build(cfg, lm, tokenizer, source: Path) -> Recipe:
    """The CDS recipe: tokenized GAP-flipped sentences and the MLM objective."""
    from babybias.runs import child_seed

    settings = cfg.debias
    folder = store.require("gap_flipped", cfg.data)
    texts = training_texts(gap_passages(folder / FILE), settings.cds_unit)
    if settings.max_examples:
        texts = texts[: settings.max_examples]
    seq_len = seq_len_for(texts, sequence_limit(lm, tokenizer), settings.max_seq_len)
    ids = tokenizer(texts, truncation=True, max_length=seq_len)["input_ids"]
    at_limit = sum(len(i) == seq_len for i in ids)  # truncated, or exactly as long
    inputs = {"data": "gap_flipped", "examples": len(texts), "unit": settings.cds_unit, "seq_len": seq_len,
              "examples_at_length_limit": at_limit}
    print(f"CDS: {len(texts)} GAP-flipped {settings.cds_unit}s, sequence length {seq_len} ({at_limit} at the limit)")
    return Recipe(Examples([list(i) for i in ids]), MaskedLMObjective(tokenizer, child_seed(cfg.seed, "masking")),
                  inputs)
