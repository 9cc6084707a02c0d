"""SentenceDebias (Liang et al. 2020), as an sklearn-style estimator.

The bias subspace is found by PCA over counterfactual sentence groups: each sentence embedding (L2-normalised)
minus the mean of its group (a gender pair: ±half the pair's difference; a race or religion triple, as
bias-bench's `compute_race_subspace`: minus the mean of three); the first `n_components` principal directions
span the subspace, which is then projected out of the hidden states (Liang et al. 2020, Eq. 3:
h - sum_j <h, v_j> v_j). One component by default, as in bias-bench.
"""

from __future__ import annotations

import numpy as np

from babybias.debias.projection import LinearProjection, subspace_removal
from babybias.errors import BabybiasError, ConfigError


class SentenceDebias:
    """Fit: `SentenceDebias(n_components=1).fit(emb_a, emb_b[, emb_c])` on grouped embeddings [n, d] each
    (row i of every array is one version of counterfactual example i).

    Attributes after `fit`: `components_` [k, d] (orthonormal rows), `explained_variance_ratio_` [k],
    `projection_` [d, d] = I - V^T V.
    """

    def __init__(self, n_components: int = 1):
        self.n_components = n_components

    def fit(self, *embeddings: np.ndarray) -> "SentenceDebias":
        from sklearn.decomposition import PCA

        arrays = [np.asarray(e, dtype=np.float64) for e in embeddings]
        if len(arrays) < 2 or arrays[0].ndim != 2 or any(a.shape != arrays[0].shape for a in arrays):
            raise ValueError(f"SentenceDebias needs two or more grouped arrays [n, d]; got {[a.shape for a in arrays]}")
        if len(arrays[0]) < 2:
            raise BabybiasError(f"SentenceDebias found {len(arrays[0])} counterfactual examples; it needs at least 2",
                                fix="use a corpus with more sentences containing attribute words")
        if not 1 <= self.n_components <= min(arrays[0].shape):
            raise ConfigError(f"debias.n_components={self.n_components} must be in [1, {min(arrays[0].shape)}]",
                              fix="e.g. debias.n_components=1")
        centered = centered_groups(arrays)
        pca = PCA(n_components=self.n_components).fit(centered)
        self.components_ = pca.components_
        self.explained_variance_ratio_ = pca.explained_variance_ratio_
        self.projection_ = subspace_removal(self.components_)
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(X, dtype=np.float64) @ self.projection_

    def as_module(self) -> LinearProjection:
        return LinearProjection(self.projection_)


def centered_groups(embeddings: list[np.ndarray]) -> np.ndarray:
    """Rows of every version, L2-normalised, minus their group's mean: [k n, d] (the data PCA is fitted on)."""
    normed = [e / np.linalg.norm(e, axis=1, keepdims=True).clip(min=1e-12) for e in embeddings]
    means = sum(normed) / len(normed)
    return np.concatenate([e - means for e in normed], axis=0)


def centered_pairs(emb_a: np.ndarray, emb_b: np.ndarray) -> np.ndarray:
    """`centered_groups` of a pair: [2n, d]."""
    return centered_groups([emb_a, emb_b])
