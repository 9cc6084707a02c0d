"""INLP and SentenceDebias remove what they should from synthetic representations (issue 4 acceptance)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from babybias.debias.inlp import INLP
from babybias.debias.projection import LinearProjection, nullspace_intersection, rowspace_projection
from babybias.debias.sentence_debias import SentenceDebias, centered_groups, centered_pairs


def _gendered(n: int, dim: int, rng: np.random.Generator, n_classes: int = 2):
    """Gaussian vectors whose class is linearly decodable along a random 3-dimensional subspace."""
    y = rng.integers(0, n_classes, size=n)
    X = rng.normal(size=(n, dim))
    means = rng.normal(size=(n_classes, 3)) * 2.0
    basis = np.linalg.qr(rng.normal(size=(dim, 3)))[0]  # [dim, 3]
    X += means[y] @ basis.T
    return X, y


def _fresh_accuracy(X_train, y_train, X_test, y_test) -> float:
    return LogisticRegression(max_iter=2000).fit(X_train, y_train).score(X_test, y_test)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_inlp_makes_gender_linearly_undecodable(n_classes):
    rng = np.random.default_rng(0)
    X, y = _gendered(3000, 24, rng, n_classes)
    X_test, y_test = X[2000:], y[2000:]
    X_fit, y_fit, X_dev, y_dev = X[:1400], y[:1400], X[1400:2000], y[1400:2000]
    chance = np.bincount(y_test).max() / len(y_test)
    assert _fresh_accuracy(X_fit, y_fit, X_test, y_test) > chance + 0.3  # decodable before

    n_classifiers = 8 if n_classes == 2 else 4  # one-vs-rest removes n_classes dimensions per iteration
    inlp = INLP(n_classifiers=n_classifiers, random_state=0).fit(X_fit, y_fit, X_dev, y_dev)
    after = _fresh_accuracy(inlp.transform(X_fit), y_fit, inlp.transform(X_test), y_test)
    assert abs(after - chance) <= 0.05, (after, chance)
    P = inlp.projection_
    assert np.allclose(P, P.T) and np.allclose(P @ P, P, atol=1e-8)  # an orthogonal projection
    assert 1 <= inlp.rank_removed_ <= 12 < X.shape[1]  # most dimensions are kept
    for W in inlp.weights_:  # every kept classifier is blind after projection
        assert np.abs(X_test @ P @ W.T).max() < 1e-6


def test_inlp_keeps_most_dimensions_and_stops_when_nothing_is_left():
    rng = np.random.default_rng(1)
    X, y = _gendered(600, 6, rng)
    inlp = INLP(n_classifiers=50).fit(X, y)
    assert inlp.rank_removed_ == 6  # binary: one dimension per classifier until nothing is left
    assert len(inlp.dev_accuracies_) == 6
    assert np.allclose(inlp.projection_, 0)


def test_probe_accuracy_reaches_the_majority_rate_after_everything_is_removed():
    """The recorded held-out probe has an intercept: with every direction removed it predicts the majority class
    (INLP's intercept-free classifiers cannot, and an imbalanced race/neutral split then reads far below chance)."""
    from babybias.debias.inlp import probe_accuracy

    rng = np.random.default_rng(2)
    X, y = _gendered(1600, 6, rng)
    keep = (y == 0) | (rng.random(1600) < 0.25)  # imbalanced (4:1), as neutral vs bias sentences are
    X, y = X[keep][:800], y[keep][:800]
    X_train, y_train, X_test, y_test = X[:500], y[:500], X[500:], y[500:]
    majority = np.bincount(y_test).max() / len(y_test)
    assert probe_accuracy(X_train, y_train, X_test, y_test) > majority
    empty = np.zeros_like(X)  # what a projection that removed every dimension leaves
    assert probe_accuracy(empty[:500], y_train, empty[500:], y_test) == pytest.approx(majority)


def test_nullspace_intersection_matches_product_of_nullspace_projections():
    rng = np.random.default_rng(2)
    W1 = rng.normal(size=(1, 5))
    W2 = rng.normal(size=(1, 5))
    W2 -= (W2 @ W1.T) / (W1 @ W1.T) * W1  # orthogonal, as in autoregressive INLP
    P1, P2 = rowspace_projection(W1), rowspace_projection(W2)
    brute = (np.eye(5) - P2) @ (np.eye(5) - P1)
    assert np.allclose(nullspace_intersection([P1, P2], 5), brute)


def test_sentence_debias_removes_the_planted_direction():
    rng = np.random.default_rng(3)
    n, dim = 400, 16
    direction = rng.normal(size=dim)
    direction /= np.linalg.norm(direction)
    content = rng.normal(size=(n, dim)) * 0.3 + 3.0 * rng.normal(size=dim)  # shared content
    content -= np.outer(content @ direction, direction)  # gender lives only along `direction`
    strength = rng.uniform(0.5, 1.5, size=(n, 1))
    emb_male = content + strength * direction + rng.normal(size=(n, dim)) * 0.02
    emb_female = content - strength * direction + rng.normal(size=(n, dim)) * 0.02
    sd = SentenceDebias(n_components=1).fit(emb_male, emb_female)
    assert abs(sd.components_[0] @ direction) > 0.99
    X = rng.normal(size=(50, dim)) * 5
    before, after = np.abs(X @ direction), np.abs(sd.transform(X) @ direction)
    assert after.max() < 0.02 * before.max()  # projection on the planted direction ≈ 0
    assert np.abs(sd.transform(X) @ sd.components_[0]).max() < 1e-9  # exactly removed along the found direction
    # what is orthogonal to the direction is untouched
    orth = X - np.outer(X @ sd.components_[0], sd.components_[0])
    assert np.allclose(sd.transform(X), orth)


def test_sentence_debias_triples_center_on_the_group_mean():
    """Race/religion (bias-bench `compute_race_subspace`): each version minus the mean of its three versions."""
    rng = np.random.default_rng(6)
    a, b, c = (rng.normal(size=(5, 4)) for _ in range(3))
    centered = centered_groups([a, b, c])
    unit = [x / np.linalg.norm(x, axis=1, keepdims=True) for x in (a, b, c)]
    mean = (unit[0] + unit[1] + unit[2]) / 3
    assert np.allclose(centered, np.concatenate([u - mean for u in unit]))
    assert np.allclose(centered_groups([a, b]), centered_pairs(a, b))
    # a planted direction separating group 0 from groups 1 and 2 is found from triples
    direction = np.eye(12)[0]
    content = rng.normal(size=(300, 12)) * 0.3 + 2.0
    content[:, 0] = 0.0
    versions = [content + 1.0 * direction, content - 0.5 * direction, content - 0.5 * direction]
    sd = SentenceDebias(n_components=1).fit(*[v + rng.normal(size=v.shape) * 0.01 for v in versions])
    assert abs(sd.components_[0] @ direction) > 0.99


def test_sentence_debias_k_components_are_orthonormal():
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(100, 12)), rng.normal(size=(100, 12))
    sd = SentenceDebias(n_components=3).fit(a, b)
    assert np.allclose(sd.components_ @ sd.components_.T, np.eye(3), atol=1e-8)
    assert np.linalg.matrix_rank(sd.projection_) == 9


def test_linear_projection_module_matches_numpy_and_keeps_dtype():
    rng = np.random.default_rng(5)
    X, y = _gendered(300, 8, rng)
    inlp = INLP(n_classifiers=2).fit(X, y)
    module = LinearProjection(inlp.projection_)
    hidden = torch.tensor(rng.normal(size=(2, 3, 8)), dtype=torch.float32)
    out = module(hidden)
    assert out.dtype == torch.float32 and out.shape == hidden.shape
    assert np.allclose(out.numpy(), hidden.numpy() @ inlp.projection_, atol=1e-5)
    assert module(hidden.to(torch.bfloat16)).dtype == torch.bfloat16
