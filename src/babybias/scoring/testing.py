"""Tiny masked LMs and checkpoint directories for tests (built in seconds, never downloaded).

`save_tiny_checkpoint(path, step=..., total_steps=...)` writes a checkpoint directory in the pretrain
layout (HF model + fast tokenizer files + state.json), so tests of any command can build a fake run.
"""

from __future__ import annotations

import json
import string
from pathlib import Path

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = ("the a an he she they man woman men women boy girl doctor nurse is was are were has have "
         "who what good bad poor rich smart lazy black white old young his her their people to of and "
         "in on at for with not very always never likes hates ran runs run home work cat cats dog dogs").split()


def tiny_vocab() -> list[str]:
    """Specials, single characters, `##` continuations and a few whole words: every ASCII word tokenizes."""
    chars = list(string.ascii_letters + string.digits + string.punctuation)
    return list(dict.fromkeys(SPECIALS + chars + [f"##{c}" for c in string.ascii_lowercase] + WORDS))


def tiny_tokenizer(model_max_length: int = 128):
    """A WordPiece fast tokenizer over `tiny_vocab()` adding [CLS] ... [SEP] (decoder as the real one)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {tok: i for i, tok in enumerate(tiny_vocab())}
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece(prefix="##")  # as `babybias.tokenizer`: decode joins ## pieces
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])])
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]",
                                   cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]",
                                   model_max_length=model_max_length)


def tiny_model(vocab_size: int, seed: int = 0, hidden_size: int = 32, num_layers: int = 2):
    """A randomly initialised `BertForMaskedLM` (2 x 32 by default), eval mode."""
    import torch
    from transformers import BertConfig, BertForMaskedLM

    torch.manual_seed(seed)
    config = BertConfig(vocab_size=vocab_size, hidden_size=hidden_size, num_hidden_layers=num_layers,
                        num_attention_heads=2, intermediate_size=2 * hidden_size, max_position_embeddings=128)
    return BertForMaskedLM(config).eval()


def save_tiny_checkpoint(path: str | Path, step: int = 100, total_steps: int = 100, tokens_per_step: int = 1000,
                         seed: int = 0) -> Path:
    """Write a checkpoint directory: HF model and tokenizer files plus state.json (pretrain layout)."""
    path = Path(path)
    tokenizer = tiny_tokenizer()
    tiny_model(len(tokenizer), seed=seed).save_pretrained(path)
    tokenizer.save_pretrained(path)
    state = {"step": step, "tokens_seen": step * tokens_per_step, "total_steps": total_steps,
             "fraction": step / total_steps}
    (path / "state.json").write_text(json.dumps(state))
    return path


def save_tiny_run(run_dir: str | Path, steps: tuple[int, ...] = (0, 50, 100), seed: int = 0) -> Path:
    """A fake pretrain run dir: config.yaml, checkpoints/step-XXXXXXX/ for each step, model/ (the last)."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(f"command: pretrain\nname: {run_dir.parent.name}\nseed: {seed}\n")
    total = max(steps)
    for k, step in enumerate(steps):
        save_tiny_checkpoint(run_dir / "checkpoints" / f"step-{step:07d}", step, total, seed=seed + k)
    save_tiny_checkpoint(run_dir / "model", total, total, seed=seed + len(steps) - 1)
    return run_dir


class PlantedLM:
    """A `MaskedLM` whose prediction at every masked position is one fixed distribution: softmax(`logits`).

    Ignores its input, so scores have closed forms: a token's masked log-probability is
    `log_softmax(logits)[token]` wherever it stands (`log_softmax(logits / T)` at temperature T). Tests plant
    a preference (a high logit for one token) and check a scorer against the hand-computed answer.
    """

    def __init__(self, logits):
        import torch

        self.logits = torch.as_tensor(logits, dtype=torch.float32)
        self.device = torch.device("cpu")

    def hidden_states(self, input_ids, attention_mask):
        import torch

        return torch.zeros((*input_ids.shape, 4))

    def lm_head(self, hidden):
        return self.logits.expand(*hidden.shape[:-1], -1)

    def masked_logprobs(self, input_ids, attention_mask, batch_index, positions):
        import torch

        return torch.log_softmax(self.logits, dim=-1).expand(len(batch_index), -1).clone()
