"""LTG-BERT configuration (Samuel et al. 2023, "Trained on 100 million words and still in shape").

Self-contained: this file and modeling_ltg_bert.py are copied into every saved checkpoint, so
`AutoModelForMaskedLM.from_pretrained(folder, trust_remote_code=True)` works where babybias is not installed.
Import only the standard library, torch and transformers here.

The defaults are LTG-BERT base (hidden 768, 12 layers, 12 heads, GEGLU intermediate 2048, vocabulary 16,384,
32 relative-position buckets per direction, 512 positions, LayerNorm eps 1e-7, dropout 0.1); the dropout names
are BERT's, so code that reads `hidden_dropout_prob` / `attention_probs_dropout_prob` works for both.
"""

from __future__ import annotations

from transformers import PretrainedConfig

AUTO_MAP = {
    "AutoConfig": "configuration_ltg_bert.LtgBertConfig",
    "AutoModel": "modeling_ltg_bert.LtgBertModel",
    "AutoModelForMaskedLM": "modeling_ltg_bert.LtgBertForMaskedLM",
}


class LtgBertConfig(PretrainedConfig):
    """Sizes and rates of an LTG-BERT encoder with its masked-LM head.

    `hidden_dropout_prob` drops the word embeddings, the feed-forward output and the MLM head's input;
    `attention_probs_dropout_prob` drops the relative-position embeddings, the attention probabilities and the
    attention output (as the reference implementation, ltgoslo/ltg-bert, does).
    """

    model_type = "ltg_bert"

    vocab_size: int = 16384
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 2048
    max_position_embeddings: int = 512
    position_bucket_size: int = 32
    layer_norm_eps: float = 1e-7
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    pad_token_id: int | None = 0
    tie_word_embeddings: bool = True

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(f"hidden_size={self.hidden_size} is not a multiple of "
                             f"num_attention_heads={self.num_attention_heads}")
        if self.position_bucket_size < 2:
            raise ValueError(f"position_bucket_size={self.position_bucket_size} must be >= 2")
        if getattr(self, "auto_map", None) is None:
            # a checkpoint names its own code, so trust_remote_code loads it without babybias
            self.auto_map = dict(AUTO_MAP)


__all__ = ["LtgBertConfig"]
