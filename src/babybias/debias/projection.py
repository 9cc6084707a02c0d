"""Linear projections of hidden states: the shared apply step of INLP and SentenceDebias.

Both methods end in one symmetric projection matrix `P` [H, H] that removes a bias subspace; applying it
to the encoder's last hidden states (`h -> h @ P`) is the same for every encoder, so the scoring engine
wraps any model with `HiddenTransformLM(base, LinearProjection(P))`.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.linalg import orth


def rowspace_projection(weights: np.ndarray) -> np.ndarray:
    """Orthogonal projection [d, d] onto the row space of `weights` [k, d] (zeros when `weights` is 0)."""
    weights = np.atleast_2d(np.asarray(weights, dtype=np.float64))
    if np.allclose(weights, 0):
        return np.zeros((weights.shape[1], weights.shape[1]))
    basis = orth(weights.T)  # [d, r], orthonormal columns spanning the rows of `weights`
    return basis @ basis.T


def nullspace_intersection(rowspace_projections: list[np.ndarray], dim: int) -> np.ndarray:
    """Projection onto N(w_1) ∩ ... ∩ N(w_n) = N(P_R(w_1) + ... + P_R(w_n)) (Ben-Israel 2013).

    This is the formula Ravfogel et al. (2020) use to compose INLP's per-iteration projections stably.
    """
    if not rowspace_projections:
        return np.eye(dim)
    return np.eye(dim) - rowspace_projection(np.sum(rowspace_projections, axis=0))


def subspace_removal(components: np.ndarray) -> np.ndarray:
    """`I - V^T V` for orthonormal rows `components` [k, d]: removes span(V) (Liang et al. 2020, Eq. 3)."""
    components = np.atleast_2d(np.asarray(components, dtype=np.float64))
    return np.eye(components.shape[1]) - rowspace_projection(components)


class LinearProjection(torch.nn.Module):
    """`h -> h @ P` on the last axis, in the hidden states' dtype; `P` is a buffer (moves with `.to()`)."""

    def __init__(self, matrix: np.ndarray | torch.Tensor):
        super().__init__()
        matrix = torch.as_tensor(np.asarray(matrix), dtype=torch.float32)
        if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
            raise ValueError(f"a projection must be square [H, H], got shape {tuple(matrix.shape)}")
        self.register_buffer("matrix", matrix)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        if hidden.shape[-1] != self.matrix.shape[0]:
            from babybias.errors import BabybiasError

            raise BabybiasError(
                f"the debiasing projection is {self.matrix.shape[0]}-dimensional but the model's hidden size is "
                f"{hidden.shape[-1]}", fix="fit the debiasing artifact on this model (`babybias debias fit ...`)")
        matrix = self.matrix.to(device=hidden.device, dtype=hidden.dtype)
        return hidden @ matrix  # P is symmetric, so h @ P == (P h^T)^T
