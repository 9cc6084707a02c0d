"""WordPiece tokenizer training (`tokenizers`) and export as a transformers fast tokenizer.

The tokenizer is trained on the corpus train split only and cached under
`<cache>/tokenizer/<hash of tokenizer config + corpus key>/`, so the same corpus and settings reuse it.
The saved folder loads with `AutoTokenizer.from_pretrained(folder)`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Iterator

from babybias.configs.model import TokenizerConfig
from babybias.errors import BabybiasError, IntegrityError
from babybias.integrity import discard, read_json, sums_of, verify_sums
from babybias.runs import atomic_path, config_hash

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
INFO_FILE = "babybias_tokenizer.json"
CHECKED_FILES = ("tokenizer.json",)
"""Files whose sha256 the info file records: tokenizer.json defines every id (checkpoints rewrite the others)."""


TRAINER_VERSION = 2
"""Bumped when training changes its output for the same inputs (2: deterministic merge order)."""


def tokenizer_key(tok_cfg: TokenizerConfig, corpus_key: str) -> str:
    """Cache key: the resolved tokenizer config, the trainer version and the key of the corpus it is trained on."""
    return config_hash({"tokenizer": tok_cfg, "corpus": corpus_key, "trainer": TRAINER_VERSION})


def build_tokenizer(tok_cfg: TokenizerConfig, corpus_artifact: Any, cache_root: str | Path) -> Path:
    """Train (or find in the cache) the WordPiece tokenizer of `corpus_artifact`; returns its folder."""
    key = tokenizer_key(tok_cfg, corpus_artifact.key)
    out = Path(cache_root) / "tokenizer" / key
    if (out / INFO_FILE).exists():
        try:
            verify_tokenizer(out, required=True)
            return out
        except IntegrityError as err:  # never train with altered ids: train it again under the same key
            print(f"warning: {err.message}; rebuilding it")
            discard(out)
    train_path = Path(corpus_artifact.train_path)
    if not train_path.exists() or train_path.stat().st_size == 0:
        raise BabybiasError(f"corpus train split {train_path} is missing or empty",
                            fix="rebuild the corpus with `babybias corpus` (check corpus.sources)")
    backend = train_wordpiece(_lines(train_path), tok_cfg)
    with atomic_path(out, keep_existing=True) as tmp:  # same key = same inputs: first writer wins
        save_fast_tokenizer(backend, tok_cfg, tmp)
        info = {"key": key, "corpus_key": corpus_artifact.key, "vocab_size": backend.get_vocab_size(),
                "trainer_version": TRAINER_VERSION, "files": sums_of(tmp, CHECKED_FILES),
                "config": {k: getattr(tok_cfg, k) for k in tok_cfg.__dataclass_fields__}}
        (tmp / INFO_FILE).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
    return out


def verify_tokenizer(folder: str | Path, required: bool = False) -> None:
    """Check the folder's tokenizer.json against the sha256 recorded in its babybias_tokenizer.json (IntegrityError
    naming the file). Folders without a record pass unless `required` (a cache entry must have one)."""
    folder = Path(folder)
    info_path = folder / INFO_FILE
    info = read_json(info_path, what=f"tokenizer {folder}") if info_path.exists() else None
    files = info.get("files") if isinstance(info, dict) else None
    if not isinstance(files, dict):
        if required:
            raise IntegrityError(f"tokenizer cache {folder} has no checksums (built by an older babybias)")
        return
    verify_sums(folder, files, "tokenizer")


def _lines(path: Path) -> Iterator[str]:
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if line:
                yield line


def _bert_normalizer(tok_cfg: TokenizerConfig):
    from tokenizers import normalizers

    # Same normalizer as BERT: uncased also strips accents; cased keeps text as is (apart from cleanup).
    return normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True,
                                      strip_accents=tok_cfg.lowercase, lowercase=tok_cfg.lowercase)


# Word-internal characters are renamed into the supplementary private-use planes while training (see below).
_INTERNAL_BASE = 0xF0000


def train_wordpiece(lines: Iterable[str], tok_cfg: TokenizerConfig):
    """A `tokenizers.Tokenizer` (WordPiece, BERT normalization and pre-tokenization, [CLS] ... [SEP]) trained
    on `lines` (read once).

    Deterministic: the same lines and config give the same vocabulary *and ids* in every process.
    `tokenizers`' own WordPieceTrainer does not: it gives the `##x` continuation characters ids in hash-map
    order, and merges with equal counts are broken by those ids, so two runs differ in a few entries and in
    many ids. Here the same merge algorithm (BPE over word counts, the one WordPieceTrainer runs) is given
    words in which every word-internal character is renamed to its own private-use code point (assigned in
    sorted order); the alphabet is then sorted by code point, every id is a function of the input, and the
    vocabulary is the one WordPieceTrainer learns up to the order of tied merges. Renamed tokens are mapped
    back to `##`-prefixed WordPiece entries.
    """
    from collections import Counter

    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from tokenizers.models import WordPiece

    normalizer, pre_tokenizer = _bert_normalizer(tok_cfg), pre_tokenizers.BertPreTokenizer()
    counts: Counter[str] = Counter()
    for line in lines:
        counts.update(w for w, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(line)))
    chars = sorted(set().union(*counts)) if counts else []
    if chars and ord(chars[-1]) >= _INTERNAL_BASE:  # BERT's clean_text removes them; guard all the same
        raise BabybiasError("the corpus contains supplementary private-use characters (U+F0000 and above), "
                            "which the tokenizer trainer reserves", fix="remove them from the corpus sources")
    rename = {ord(c): _INTERNAL_BASE + i for i, c in enumerate(chars)}
    restore = {chr(v): chr(k) for k, v in rename.items()}

    def renamed_words(chunk: int = 1024) -> Iterator[str]:
        """Each word as often as it occurs (in chunks of whitespace-joined copies), in sorted order."""
        for word in sorted(counts):
            renamed = word[0] + word[1:].translate(rename)
            for left in range(counts[word], 0, -chunk):
                yield " ".join([renamed] * min(left, chunk))

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    # like WordPieceTrainer, the alphabet holds every character both as a word start and as `##` continuation
    trainer = trainers.BpeTrainer(vocab_size=tok_cfg.vocab_size, min_frequency=tok_cfg.min_frequency,
                                  special_tokens=SPECIAL_TOKENS, show_progress=False, initial_alphabet=chars)
    bpe.train_from_iterator(renamed_words(), trainer=trainer)
    vocab = {}
    for token, idx in bpe.get_vocab().items():
        plain = "".join(restore.get(c, c) for c in token)
        vocab["##" + plain if token[0] in restore else plain] = idx

    tok = Tokenizer(WordPiece(vocab, unk_token="[UNK]", continuing_subword_prefix="##"))
    tok.add_special_tokens(SPECIAL_TOKENS)  # matched whole in text ("[MASK]"), skipped by decode; ids 0-4 kept
    tok.normalizer = _bert_normalizer(tok_cfg)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece(prefix="##")
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    return tok


def save_fast_tokenizer(backend, tok_cfg: TokenizerConfig, folder: Path) -> None:
    """Save as a transformers fast tokenizer (tokenizer.json + tokenizer_config.json)."""
    from transformers import PreTrainedTokenizerFast

    fast = PreTrainedTokenizerFast(
        tokenizer_object=backend, model_max_length=tok_cfg.model_max_length,
        unk_token="[UNK]", sep_token="[SEP]", pad_token="[PAD]", cls_token="[CLS]", mask_token="[MASK]",
        do_lower_case=tok_cfg.lowercase, model_input_names=["input_ids", "token_type_ids", "attention_mask"],
    )
    fast.save_pretrained(str(folder))


def load_tokenizer(folder: str | Path):
    """The transformers tokenizer saved in `folder` (a tokenizer cache dir, run dir or checkpoint)."""
    from transformers import AutoTokenizer

    folder = Path(folder)
    if not (folder / "tokenizer.json").exists():
        raise BabybiasError(f"{folder} holds no tokenizer.json", fix="pass a folder written by `babybias tokenizer` or `babybias pretrain`")
    return AutoTokenizer.from_pretrained(str(folder))


def copy_tokenizer_files(src: str | Path, dst: str | Path) -> None:
    """Copy the tokenizer files into a model/checkpoint folder so it is self-contained."""
    import shutil

    src, dst = Path(src), Path(dst)
    dst.mkdir(parents=True, exist_ok=True)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", INFO_FILE):
        if (src / name).exists():
            with atomic_path(dst / name) as tmp:  # a kill mid-copy leaves the old file, not half a new one
                shutil.copy2(src / name, tmp)
