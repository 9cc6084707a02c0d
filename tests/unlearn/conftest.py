"""Fixtures for the unlearning tests: a tiny saved encoder (2 x 32 BERT + WordPiece) laid out as a pretrain run."""

from __future__ import annotations

import string
from pathlib import Path

import pytest

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = ["is", "a", "the", "you", "are", "i", "am", "hate", "being", "gay", "straight", "male", "female", "white",
         "black", "muslim", "christian", "filthy", "nice", "great", "vile", "awful", "wonderful", "person"]


def build_tiny_encoder(run_dir: Path, seed: int = 0) -> Path:
    """Save a 2-layer, hidden-32 BertModel and a WordPiece fast tokenizer as `<run_dir>/model` (+ config.yaml)."""
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    letters = list(string.ascii_lowercase)
    tokens = list(dict.fromkeys(SPECIALS + WORDS + letters + [f"##{c}" for c in letters]))  # "a", "i" are both
    vocab = {tok: i for i, tok in enumerate(tokens)}
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]", model_max_length=64)
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64)
    model_dir = run_dir / "model"
    BertModel(config).save_pretrained(model_dir)
    fast.save_pretrained(model_dir)
    (run_dir / "config.yaml").write_text("command: pretrain\nname: tinyenc\n")
    return model_dir


@pytest.fixture(scope="session")
def tiny_encoder_run(tmp_path_factory) -> Path:
    """runs/tinyenc/pretrain with a tiny saved encoder; returns the runs root."""
    root = tmp_path_factory.mktemp("runs")
    build_tiny_encoder(root / "tinyenc" / "pretrain")
    return root
