"""LTG-BERT (Samuel et al. 2023, "Trained on 100 million words and still in shape", EACL Findings) for transformers.

Written from the paper and the public reference (ltgoslo/ltg-bert, read, not copied). Self-contained: it is
copied into every saved checkpoint next to configuration_ltg_bert.py, so import only torch and transformers.

What defines the architecture (x: [batch, T, H] hidden states):
- embeddings: word embedding -> LayerNorm without affine parameters -> dropout; no absolute position and no
  token-type embeddings. A learned table of 2P-1 relative-position embeddings (P = `position_bucket_size`),
  LayerNorm-ed, is shared by all layers.
- attention (pre-norm, disentangled as in DeBERTa, He et al. 2021): LayerNorm (no affine) -> one shared q/k
  projection and a v projection; the relative table goes through the same q/k projection, giving q_r and k_r
  for every bucket r. With r(i, j) = bucket of i - j,
      score(i, j) = (q_i . k_j + q_i . k_r(i,j) + k_j . q_r(i,j)) / sqrt(3 d_head)
  then softmax, dropout, values, output projection, a LayerNorm *with* affine parameters (NormFormer, Shleifer
  et al. 2021), dropout, residual.
- feed-forward: LayerNorm (no affine) -> Linear H->2I without bias -> GEGLU (a * gelu(g)) -> LayerNorm (no
  affine) -> Linear I->H without bias -> dropout -> residual. No final LayerNorm after the last layer.
- MLM head: LayerNorm (no affine) -> Linear(H, H) -> GELU -> LayerNorm (no affine) -> dropout -> Linear(H, V)
  whose weight is the word embedding matrix, with its own bias.
- init: truncated normal (+-2 std) with std sqrt(2 / (5 H)); both feed-forward weights of layer i (0-based)
  scaled by sqrt(1 / (2 (i + 1))); biases zero.
Buckets: exact for |i - j| <= P/2, logarithmic beyond, the largest bucket reached at `max_position_embeddings`
- 1 (longer distances share it). The q.k_r and k.q_r terms are computed per bucket and then gathered per
(i, j), which is exact and cheaper than materializing a [T, T, H] table.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.modeling_outputs import BaseModelOutput, MaskedLMOutput

from .configuration_ltg_bert import LtgBertConfig


def relative_position_bucket(relative_position: torch.Tensor, bucket_size: int, max_position: int) -> torch.Tensor:
    """Signed bucket of each relative position i - j: itself for |i - j| <= bucket_size // 2, beyond that
    mid + ceil(log(|i - j| / mid) / log((max_position - 1) / mid) * (mid - 1)) with mid = bucket_size // 2,
    so the bucket reaches +-(bucket_size - 1) at |i - j| = max_position - 1 and stays there."""
    mid = bucket_size // 2
    distance = relative_position.abs()
    # distances inside the exact range are replaced by a harmless value before the log (they are not used)
    far = torch.where(distance > mid, distance.clamp(max=max_position - 1), torch.full_like(distance, mid))
    log_ratio = torch.log(far.float() / mid) / math.log((max_position - 1) / mid)
    log_bucket = torch.ceil(log_ratio * (mid - 1)).long() + mid
    return torch.where(distance <= mid, relative_position, log_bucket * torch.sign(relative_position))


def relative_position_index(length: int, bucket_size: int, max_position: int, device=None) -> torch.Tensor:
    """[length, length] row index into the (2 bucket_size - 1)-row relative table for query i and key j."""
    positions = torch.arange(length, device=device)
    relative = positions[:, None] - positions[None, :]
    return relative_position_bucket(relative, bucket_size, max_position) + bucket_size - 1


class LtgBertEmbedding(nn.Module):
    def __init__(self, config: LtgBertConfig):
        super().__init__()
        self.word_embedding = nn.Embedding(config.vocab_size, config.hidden_size)
        self.word_layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps, elementwise_affine=False)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.relative_embedding = nn.Parameter(torch.empty(2 * config.position_bucket_size - 1, config.hidden_size))
        self.relative_layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, input_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        words = self.dropout(self.word_layer_norm(self.word_embedding(input_ids)))
        return words, self.relative_layer_norm(self.relative_embedding)


class LtgBertAttention(nn.Module):
    def __init__(self, config: LtgBertConfig):
        super().__init__()
        hidden = config.hidden_size
        self.num_heads = config.num_attention_heads
        self.head_size = hidden // self.num_heads
        self.scale = 1.0 / math.sqrt(3 * self.head_size)
        self.pre_layer_norm = nn.LayerNorm(hidden, eps=config.layer_norm_eps, elementwise_affine=False)
        self.in_proj_qk = nn.Linear(hidden, 2 * hidden)
        self.in_proj_v = nn.Linear(hidden, hidden)
        self.out_proj = nn.Linear(hidden, hidden)
        self.post_layer_norm = nn.LayerNorm(hidden, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.attention_probs_dropout_prob)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        """[..., n, H] -> [..., heads, n, d_head]"""
        return x.unflatten(-1, (self.num_heads, self.head_size)).transpose(-3, -2)

    def forward(self, x: torch.Tensor, relative_embedding: torch.Tensor, position_index: torch.Tensor,
                key_padding: torch.Tensor | None) -> torch.Tensor:
        batch, length, hidden = x.shape
        normed = self.pre_layer_norm(x)
        query, key = (self._heads(t) for t in self.in_proj_qk(normed).chunk(2, dim=-1))  # [B, h, T, d]
        value = self._heads(self.in_proj_v(normed))
        query_pos, key_pos = (self._heads(t) for t in self.in_proj_qk(self.dropout(relative_embedding)).chunk(2, -1))
        index = position_index.expand(batch, self.num_heads, length, length)
        # q_i . k_r(i,j): scores against every bucket, then pick bucket r(i, j) for each key j
        content_to_position = torch.matmul(query, key_pos.transpose(-1, -2)).gather(-1, index)
        # k_j . q_r(i,j): the same with keys in the rows (index transposed), then back to [i, j]
        position_to_content = torch.matmul(key, query_pos.transpose(-1, -2)).gather(-1, index.transpose(-1, -2))
        bias = (content_to_position + position_to_content.transpose(-1, -2)) * self.scale
        if key_padding is not None:
            bias = bias.masked_fill(key_padding[:, None, None, :], float("-inf"))
        context = F.scaled_dot_product_attention(query, key, value, attn_mask=bias, scale=self.scale,
                                                 dropout_p=self.dropout.p if self.training else 0.0)
        context = context.transpose(1, 2).reshape(batch, length, hidden)
        return self.dropout(self.post_layer_norm(self.out_proj(context)))


class GeGLU(nn.Module):
    """a * gelu(g) for [a, g] = the two halves of the input (Shazeer 2020); gelu in its tanh form, as the reference."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        value, gate = x.chunk(2, dim=-1)
        return value * F.gelu(gate, approximate="tanh")


class LtgBertFeedForward(nn.Module):
    def __init__(self, config: LtgBertConfig, layer_index: int):
        super().__init__()
        eps = config.layer_norm_eps
        self.pre_layer_norm = nn.LayerNorm(config.hidden_size, eps=eps, elementwise_affine=False)
        self.up = nn.Linear(config.hidden_size, 2 * config.intermediate_size, bias=False)
        self.activation = GeGLU()
        self.mid_layer_norm = nn.LayerNorm(config.intermediate_size, eps=eps, elementwise_affine=False)
        self.down = nn.Linear(config.intermediate_size, config.hidden_size, bias=False)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        for linear in (self.up, self.down):  # read by _init_weights: depth-scaled init
            linear.init_scale = math.sqrt(1.0 / (2.0 * (layer_index + 1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = self.activation(self.up(self.pre_layer_norm(x)))
        return self.dropout(self.down(self.mid_layer_norm(hidden)))


class LtgBertLayer(nn.Module):
    def __init__(self, config: LtgBertConfig, layer_index: int):
        super().__init__()
        self.attention = LtgBertAttention(config)
        self.mlp = LtgBertFeedForward(config, layer_index)

    def forward(self, x, relative_embedding, position_index, key_padding):
        x = x + self.attention(x, relative_embedding, position_index, key_padding)
        return x + self.mlp(x)


class LtgBertMaskedLMHead(nn.Module):
    def __init__(self, config: LtgBertConfig):
        super().__init__()
        eps = config.layer_norm_eps
        self.pre_layer_norm = nn.LayerNorm(config.hidden_size, eps=eps, elementwise_affine=False)
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.activation = nn.GELU()
        self.post_layer_norm = nn.LayerNorm(config.hidden_size, eps=eps, elementwise_affine=False)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.decoder = nn.Linear(config.hidden_size, config.vocab_size)  # weight tied to the word embeddings

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        hidden = self.post_layer_norm(self.activation(self.dense(self.pre_layer_norm(hidden))))
        return self.decoder(self.dropout(hidden))


class LtgBertPreTrainedModel(PreTrainedModel):
    config_class = LtgBertConfig
    config: LtgBertConfig
    base_model_prefix = "ltg_bert"

    def _init_weights(self, module: nn.Module) -> None:
        std = math.sqrt(2.0 / (5.0 * self.config.hidden_size))

        def truncated(tensor, scale=1.0):
            init.trunc_normal_(tensor, mean=0.0, std=std * scale, a=-2 * std * scale, b=2 * std * scale)

        if isinstance(module, nn.Linear):
            truncated(module.weight, getattr(module, "init_scale", 1.0))
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            truncated(module.weight)
        elif isinstance(module, LtgBertEmbedding):
            truncated(module.relative_embedding)
        elif isinstance(module, nn.LayerNorm) and module.weight is not None:
            init.ones_(module.weight)
            init.zeros_(module.bias)


class LtgBertModel(LtgBertPreTrainedModel):
    """The encoder: `last_hidden_state` is the output of the last layer (LTG-BERT has no final LayerNorm)."""

    def __init__(self, config: LtgBertConfig):
        super().__init__(config)
        self.embedding = LtgBertEmbedding(config)
        self.layers = nn.ModuleList([LtgBertLayer(config, i) for i in range(config.num_hidden_layers)])
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embedding.word_embedding

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.embedding.word_embedding = value

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                output_hidden_states: bool | None = None, return_dict: bool | None = None,
                **kwargs) -> BaseModelOutput | tuple:
        """`attention_mask`: 1 = token, 0 = padding ([batch, T]); None = attend everywhere. Other BERT inputs
        (token_type_ids, position_ids) are accepted and ignored: LTG-BERT has no such embeddings."""
        x, relative_embedding = self.embedding(input_ids)
        index = relative_position_index(input_ids.shape[1], self.config.position_bucket_size,
                                        self.config.max_position_embeddings, input_ids.device)
        key_padding = None if attention_mask is None else attention_mask == 0
        all_hidden = [x] if output_hidden_states else None
        for layer in self.layers:
            x = layer(x, relative_embedding, index, key_padding)
            if all_hidden is not None:
                all_hidden.append(x)
        hidden_states = tuple(all_hidden) if all_hidden is not None else None
        if return_dict is False:
            return (x, hidden_states) if hidden_states is not None else (x,)
        return BaseModelOutput(last_hidden_state=x, hidden_states=hidden_states)


class LtgBertForMaskedLM(LtgBertPreTrainedModel):
    _tied_weights_keys = {"lm_head.decoder.weight": "ltg_bert.embedding.word_embedding.weight"}

    def __init__(self, config: LtgBertConfig):
        super().__init__(config)
        self.ltg_bert = LtgBertModel(config)
        self.lm_head = LtgBertMaskedLMHead(config)
        self.post_init()

    def get_output_embeddings(self) -> nn.Linear:
        return self.lm_head.decoder

    def set_output_embeddings(self, value: nn.Linear) -> None:
        self.lm_head.decoder = value

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                labels: torch.Tensor | None = None, output_hidden_states: bool | None = None,
                return_dict: bool | None = None, **kwargs) -> MaskedLMOutput | tuple:
        """Logits [batch, T, V]; with `labels` (-100 = not predicted) also the mean cross-entropy."""
        outputs = self.ltg_bert(input_ids, attention_mask=attention_mask, output_hidden_states=output_hidden_states)
        logits = self.lm_head(outputs.last_hidden_state)
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits.flatten(0, 1).float(), labels.flatten(), ignore_index=-100)
        if return_dict is False:
            return tuple(t for t in (loss, logits, outputs.hidden_states) if t is not None)
        return MaskedLMOutput(loss=loss, logits=logits, hidden_states=outputs.hidden_states)


LtgBertConfig.register_for_auto_class()
LtgBertModel.register_for_auto_class("AutoModel")
LtgBertForMaskedLM.register_for_auto_class("AutoModelForMaskedLM")

__all__ = ["LtgBertModel", "LtgBertForMaskedLM", "LtgBertPreTrainedModel", "relative_position_bucket"]
