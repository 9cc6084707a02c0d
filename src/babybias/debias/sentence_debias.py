"""SentenceDebias (Liang et al. 2020), as an sklearn-style estimator.

The bias subspace is found by PCA over counterfactual sentence pairs: each sentence embedding (L2-normalised)
minus the mean of its pair, i.e. ±half the pair's difference; the first `n_components` principal directions
span the subspace, which is then projected out of the hidden states (Liang et al. 2020, Eq. 3:
h - sum_j <h, v_j> v_j). One component by default, as in bias-bench.
"""

from __future__ import annotations

import numpy as np

from babybias.debias.projection import LinearProjection, subspace_removal
from babybias.errors import BabybiasError, ConfigError


class SentenceDebias:
    """Fit: `SentenceDebias(n_components=1).fit(emb_a, emb_b)` on paired embeddings [n, d] each.

    Attributes after `fit`: `components_` [k, d] (orthonormal rows), `explained_variance_ratio_` [k],
    `projection_` [d, d] = I - V^T V.
    """

    def __init__(self, n_components: int = 1):
        self.n_components = n_components

    def fit(self, emb_a: np.ndarray, emb_b: np.ndarray) -> "SentenceDebias":
        from sklearn.decomposition import PCA

        emb_a, emb_b = np.asarray(emb_a, dtype=np.float64), np.asarray(emb_b, dtype=np.float64)
        if emb_a.shape != emb_b.shape or emb_a.ndim != 2:
            raise ValueError(f"SentenceDebias needs two paired arrays [n, d]; got {emb_a.shape} and {emb_b.shape}")
        if len(emb_a) < 2:
            raise BabybiasError(f"SentenceDebias found {len(emb_a)} counterfactual pairs; it needs at least 2",
                                fix="use a corpus with more sentences containing attribute words")
        if not 1 <= self.n_components <= min(emb_a.shape):
            raise ConfigError(f"debias.n_components={self.n_components} must be in [1, {min(emb_a.shape)}]",
                              fix="e.g. debias.n_components=1")
        centered = centered_pairs(emb_a, emb_b)
        pca = PCA(n_components=self.n_components).fit(centered)
        self.components_ = pca.components_
        self.explained_variance_ratio_ = pca.explained_variance_ratio_
        self.projection_ = subspace_removal(self.components_)
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(X, dtype=np.float64) @ self.projection_

    def as_module(self) -> LinearProjection:
        return LinearProjection(self.projection_)


def centered_pairs(emb_a: np.ndarray, emb_b: np.ndarray) -> np.ndarray:
    """Rows of both sides, L2-normalised, minus their pair's mean: [2n, d] (the data PCA is fitted on)."""
    emb_a = emb_a / np.linalg.norm(emb_a, axis=1, keepdims=True).clip(min=1e-12)
    emb_b = emb_b / np.linalg.norm(emb_b, axis=1, keepdims=True).clip(min=1e-12)
    means = (emb_a + emb_b) / 2.0
    return np.concatenate([emb_a - means, emb_b - means], axis=0)
