"""Constituent trainers behind one small interface used by `sisa.train_constituent`:

    init_state(seed) -> state_dict
    train_stage(state, ids, seed) -> (state_dict, examples processed)
    predict_proba(state, ids) -> P(toxic) per id

`HeadTrainer` (`sisa.finetune=head`) trains a linear or MLP head on cached frozen features; `FullTrainer`
(`sisa.finetune=full`) fine-tunes the encoder with the head. Both are deterministic on CPU given the seeds
and the thread count (heads always train on one thread): a fresh optimizer per stage, batch order and
dropout seeded by the stage seed, ids processed in sorted order.
The head starts with a LayerNorm without parameters: a per-example normalization that uses no statistics of
the training data, so nothing about deleted ids can leak through feature scaling.
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np

from babybias.configs.unlearn import SisaConfig


def _torch():
    import torch

    return torch


@contextmanager
def single_thread():
    """Run torch on one intra-op thread: head training is tiny matmuls, where threads only add overhead
    (13x faster on 2 shared cores) and a fixed thread count keeps float sums identical across machines."""
    torch = _torch()
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def build_head(in_dim: int, cfg: SisaConfig):
    nn = _torch().nn
    layers = [nn.LayerNorm(in_dim, elementwise_affine=False)]
    if cfg.head == "mlp":
        layers += [nn.Linear(in_dim, cfg.head_hidden), nn.ReLU(), nn.Linear(cfg.head_hidden, 1)]
    else:
        layers += [nn.Linear(in_dim, 1)]
    return nn.Sequential(*layers)


def _clone(state: dict) -> dict:
    return {k: v.detach().clone() for k, v in state.items()}


class _Rows:
    """Maps example ids to row positions of an id-aligned array."""

    def __init__(self, ids: np.ndarray):
        self.ids = np.asarray(ids, dtype=np.int64)
        self.order = np.argsort(self.ids, kind="stable")
        self.sorted = self.ids[self.order]

    def __call__(self, ids) -> np.ndarray:
        ids = np.asarray(ids, dtype=np.int64)
        pos = np.searchsorted(self.sorted, ids)
        if (pos >= len(self.sorted)).any() or (self.sorted[np.minimum(pos, len(self.sorted) - 1)] != ids).any():
            raise KeyError("ids without features")
        return self.order[pos]


def _batches(n: int, batch_size: int | None, generator):
    torch = _torch()
    if batch_size is None or batch_size >= n:
        yield torch.arange(n)
        return
    perm = torch.randperm(n, generator=generator)
    for start in range(0, n, batch_size):
        yield perm[start:start + batch_size]


class HeadTrainer:
    """A head on frozen features: `features[i]` belongs to example `ids[i]`; `labels` 0/1 per example."""

    def __init__(self, ids, features: np.ndarray, labels, cfg: SisaConfig):
        torch = _torch()
        self.rows = _Rows(ids)
        self.x = torch.as_tensor(np.asarray(features, dtype=np.float32))
        self.y = torch.as_tensor(np.asarray(labels, dtype=np.float32))
        self.cfg = cfg
        self.module = build_head(self.x.shape[1], cfg)

    def init_state(self, seed: int) -> dict:
        torch = _torch()
        torch.manual_seed(seed)
        return _clone(build_head(self.x.shape[1], self.cfg).state_dict())

    def train_stage(self, state: dict, ids, seed: int, epochs: int | None = None) -> tuple[dict, int]:
        torch = _torch()
        epochs = self.cfg.epochs_per_slice if epochs is None else epochs
        rows = torch.as_tensor(self.rows(np.sort(ids)))
        x, y = self.x[rows], self.y[rows]
        self.module.load_state_dict(state)
        self.module.train()
        opt = torch.optim.Adam(self.module.parameters(), lr=self.cfg.lr, weight_decay=self.cfg.weight_decay)
        gen = torch.Generator().manual_seed(seed)
        loss_fn = torch.nn.BCEWithLogitsLoss()
        with single_thread():
            for _ in range(epochs):
                for batch in _batches(len(rows), self.cfg.batch_size, gen):
                    opt.zero_grad(set_to_none=True)
                    loss = loss_fn(self.module(x[batch]).squeeze(-1), y[batch])
                    loss.backward()
                    opt.step()
        return _clone(self.module.state_dict()), len(rows) * epochs

    def predict_proba(self, state: dict, ids) -> np.ndarray:
        torch = _torch()
        self.module.load_state_dict(state)
        self.module.eval()
        with torch.no_grad(), single_thread():
            logits = self.module(self.x[torch.as_tensor(self.rows(ids))]).squeeze(-1)
        return torch.sigmoid(logits).numpy().astype(np.float64)


class EncoderClassifier:
    """Pretrained encoder + mean pooling + head (built lazily: transformers imports are slow)."""

    def __new__(cls, model_dir, cfg: SisaConfig):
        torch = _torch()
        from transformers import AutoModel

        from babybias.unlearn.features import mean_pool, quiet_from_pretrained

        class _Module(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.encoder = quiet_from_pretrained(AutoModel, model_dir)
                self.head = build_head(self.encoder.config.hidden_size, cfg)

            def forward(self, input_ids, attention_mask):
                hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
                return self.head(mean_pool(hidden, attention_mask)).squeeze(-1)

        return _Module()


class FullTrainer:
    """Fine-tunes encoder + head on tokenized texts (token ids aligned with `ids`, cut at `cfg.max_length` or the
    encoder's own maximum, each batch padded to its longest example)."""

    def __init__(self, ids, texts, labels, model_dir, cfg: SisaConfig, device: str = "cpu"):
        torch = _torch()
        from transformers import AutoTokenizer

        from babybias.unlearn.features import resolve_max_length, tokenize

        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.pad_id = tokenizer.pad_token_id
        self.token_ids = tokenize(tokenizer, list(texts), resolve_max_length(model_dir, cfg.max_length))
        self.rows = _Rows(ids)
        self.y = torch.as_tensor(np.asarray(labels, dtype=np.float32))
        self.cfg, self.model_dir, self.device = cfg, model_dir, device
        self.module = EncoderClassifier(model_dir, cfg).to(device)
        self.encoder_state = {k: v.detach().cpu().clone() for k, v in self.module.encoder.state_dict().items()}

    def _logits(self, rows):
        from babybias.unlearn.features import pad_batch

        input_ids, attention_mask = pad_batch([self.token_ids[int(r)] for r in rows], self.pad_id)
        return self.module(input_ids.to(self.device), attention_mask.to(self.device))

    def init_state(self, seed: int) -> dict:
        """The pretrained encoder (as loaded once in __init__) and a fresh head drawn from `seed`."""
        torch = _torch()
        torch.manual_seed(seed)
        head = build_head(self.module.encoder.config.hidden_size, self.cfg)
        return {**{f"encoder.{k}": v for k, v in self.encoder_state.items()},
                **{f"head.{k}": v for k, v in _clone(head.state_dict()).items()}}

    def train_stage(self, state: dict, ids, seed: int, epochs: int | None = None) -> tuple[dict, int]:
        torch = _torch()
        epochs = self.cfg.epochs_per_slice if epochs is None else epochs
        rows = torch.as_tensor(self.rows(np.sort(ids)))
        self.module.load_state_dict(state)
        self.module.train()
        opt = torch.optim.AdamW([
            {"params": self.module.encoder.parameters(), "lr": self.cfg.encoder_lr},
            {"params": self.module.head.parameters(), "lr": self.cfg.lr},
        ], weight_decay=self.cfg.weight_decay)
        torch.manual_seed(seed)  # dropout
        gen = torch.Generator().manual_seed(seed)
        loss_fn = torch.nn.BCEWithLogitsLoss()
        batch_size = self.cfg.batch_size or 32
        for _ in range(epochs):
            for batch in _batches(len(rows), batch_size, gen):
                r = rows[batch]
                opt.zero_grad(set_to_none=True)
                loss_fn(self._logits(r), self.y[r].to(self.device)).backward()
                opt.step()
        return {k: v.detach().cpu().clone() for k, v in self.module.state_dict().items()}, len(rows) * epochs

    def predict_proba(self, state: dict, ids, batch_size: int = 256) -> np.ndarray:
        torch = _torch()
        self.module.load_state_dict(state)
        self.module.eval()
        rows = torch.as_tensor(self.rows(ids))
        out = []
        with torch.no_grad():
            for start in range(0, len(rows), batch_size):
                out.append(torch.sigmoid(self._logits(rows[start:start + batch_size]).float()).cpu().numpy())
        return np.concatenate(out).astype(np.float64) if out else np.zeros(0)
