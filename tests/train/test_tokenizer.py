"""WordPiece training: deterministic across processes, the same vocabulary as `tokenizers`' own trainer."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from babybias.configs.model import TokenizerConfig
from babybias.tokenizer import SPECIAL_TOKENS, train_wordpiece

TEXT = [
    "The nurse said she would help him tomorrow.",
    "His brother, a carpenter, builds tables and chairs; her sister paints them.",
    "Dr. Smith's patients waited (patiently) for 3 hours.",
    "Naïve café owners serve crème brûlée at the théâtre.",
    "Whether the weather is warm or cold, we will walk to the walled garden.",
    "Unbelievable!  Undeniably unbeatable understatements underline understanding.",
] * 3


def _vocab(tok) -> dict[str, int]:
    return tok.get_vocab()


def test_training_is_deterministic_across_processes(tmp_path):
    """Rust hash maps are seeded per process: train in three fresh interpreters and compare ids."""
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(TEXT * 2) + "\n", encoding="utf-8")
    code = (
        "import json, sys\n"
        "from babybias.configs.model import TokenizerConfig\n"
        "from babybias.tokenizer import train_wordpiece\n"
        "lines = open(sys.argv[1], encoding='utf-8').read().splitlines()\n"
        "tok = train_wordpiece(lines, TokenizerConfig(vocab_size=150, min_frequency=2))\n"
        "print(json.dumps(sorted(tok.get_vocab().items(), key=lambda kv: kv[1])))\n"
    )
    outputs = {subprocess.run([sys.executable, "-c", code, str(corpus)], capture_output=True, text=True,
                              check=True).stdout for _ in range(3)}
    assert len(outputs) == 1
    vocab = json.loads(outputs.pop())
    assert len(vocab) == 150  # the budget is reached, so tied merges at the cut-off had to be chosen
    assert [t for t, _ in vocab[:5]] == SPECIAL_TOKENS


def _reference(lines, vocab_size: int, lowercase: bool) -> dict[str, int]:
    from tokenizers import Tokenizer, normalizers, pre_tokenizers, trainers
    from tokenizers.models import WordPiece

    ref = Tokenizer(WordPiece(unk_token="[UNK]", continuing_subword_prefix="##"))
    ref.normalizer = normalizers.BertNormalizer(lowercase=lowercase, strip_accents=lowercase)
    ref.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    ref.train_from_iterator(lines, trainer=trainers.WordPieceTrainer(
        vocab_size=vocab_size, min_frequency=2, special_tokens=SPECIAL_TOKENS, continuing_subword_prefix="##",
        show_progress=False))
    return ref.get_vocab()


@pytest.mark.parametrize("lowercase", [False, True])
def test_alphabet_and_ids(lowercase):
    ours = _vocab(train_wordpiece(TEXT, TokenizerConfig(vocab_size=5000, min_frequency=2, lowercase=lowercase)))
    assert sorted(ours.values()) == list(range(len(ours)))
    assert [t for t, i in sorted(ours.items(), key=lambda kv: kv[1])][:5] == SPECIAL_TOKENS
    if not lowercase:
        assert "T" in ours and "##T" not in ours  # "T" only ever starts a word
    for char in "nurséâ":  # characters inside words: both plain and as `##` continuation, as WordPieceTrainer has
        char = char.lower() if lowercase else char
        if lowercase:
            char = {"é": "e", "â": "a"}.get(char, char)  # uncased BERT strips accents
        assert char in ours and "##" + char in ours
    assert ("café" in ours) != lowercase


@pytest.mark.parametrize("vocab_size", [1000, 3000])
def test_same_vocabulary_as_tokenizers_wordpiece_trainer(vocab_size, shared_data):
    """On real text the learned set equals WordPieceTrainer's up to the order of tied merges (which that
    trainer itself decides differently from run to run)."""
    lines = (shared_data / "nltk_brown" / "brown_plain.txt").read_text(encoding="utf-8").splitlines()[:3000]
    ours = _vocab(train_wordpiece(lines, TokenizerConfig(vocab_size=vocab_size, min_frequency=2)))
    ref = _reference(lines, vocab_size, lowercase=False)
    assert len(ours) == len(ref) == vocab_size
    assert len(set(ours) ^ set(ref)) <= 0.01 * vocab_size


def test_encodes_with_continuation_pieces_and_decodes_back():
    tok = train_wordpiece(iter(TEXT), TokenizerConfig(vocab_size=120, min_frequency=2))  # a one-shot iterator
    enc = tok.encode("The understanding carpenter waited.")
    assert enc.tokens[0] == "[CLS]" and enc.tokens[-1] == "[SEP]"
    assert any(t.startswith("##") for t in enc.tokens)
    assert "[UNK]" not in enc.tokens
    masked = tok.encode("The [MASK] waited.")
    assert masked.tokens[2] == "[MASK]" and masked.ids[2] == SPECIAL_TOKENS.index("[MASK]")
    assert tok.decode(enc.ids, skip_special_tokens=True) == "The understanding carpenter waited."


def test_private_use_characters_are_cleaned_before_renaming():
    """Training renames word-internal characters to U+F0000 and above; BERT's cleanup removes such characters
    from the input first, so they cannot collide (the trainer would refuse them otherwise)."""
    tok = train_wordpiece(["plain te\U000F0041xt here", "plain text"], TokenizerConfig(vocab_size=60, min_frequency=1))
    assert all(ord(c) < 0xF0000 for t in tok.get_vocab() for c in t)
    assert "text" in tok.get_vocab()
