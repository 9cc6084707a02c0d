"""Iterative Nullspace Projection (INLP; Ravfogel et al. 2020), as an sklearn-style estimator.

Repeat `n_classifiers` times: train a linear classifier to predict the protected attribute from the
current (projected) representations, then project every representation onto the intersection of the
nullspaces of all classifiers so far. The result is one projection matrix `projection_` [d, d].

As in bias-bench (Meade et al. 2022): LinearSVC without intercept, `dual=False`, three gender classes
(male / female / neutral sentences; one-vs-rest, so each classifier removes up to 3 dimensions) or two for
race and religion (bias / neutral: 1 dimension), mean-pooled last hidden states, 80 classifiers, min
accuracy 0. `debias.n_classifiers_scaling=hidden_size` scales the count with the hidden size (configs/debias.py).
"""

from __future__ import annotations

import numpy as np

from babybias.debias.projection import LinearProjection, nullspace_intersection, rowspace_projection
from babybias.errors import ConfigError

CLASSIFIERS = ("linear_svc", "logistic_regression")


def _make_classifier(kind: str, random_state: int):
    if kind == "linear_svc":
        from sklearn.svm import LinearSVC

        return LinearSVC(fit_intercept=False, dual=False, random_state=random_state)
    if kind == "logistic_regression":
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(fit_intercept=False, max_iter=1000, random_state=random_state)
    raise ConfigError(f"debias.classifier={kind!r} is not known", fix=f"use one of {', '.join(CLASSIFIERS)}")


class INLP:
    """Fit: `INLP(n_classifiers=80).fit(X, y, X_dev, y_dev)`; apply: `transform(X)` or `as_module()`.

    Attributes after `fit`: `projection_` [d, d] (symmetric, idempotent), `weights_` (one [k, d] array per
    kept classifier), `dev_accuracies_` (accuracy of classifier i on the dev set projected by P_{i-1}),
    `rank_removed_` (d minus the rank of `projection_`).
    """

    def __init__(self, n_classifiers: int = 80, classifier: str = "linear_svc", min_accuracy: float = 0.0,
                 random_state: int = 0):
        self.n_classifiers = n_classifiers
        self.classifier = classifier
        self.min_accuracy = min_accuracy
        self.random_state = random_state

    def fit(self, X: np.ndarray, y: np.ndarray, X_dev: np.ndarray | None = None,
            y_dev: np.ndarray | None = None) -> "INLP":
        X, y = _check_xy(X, y)
        if X_dev is None:
            X_dev, y_dev = X, y
        X_dev, y_dev = _check_xy(X_dev, y_dev)
        if self.n_classifiers < 1:
            raise ConfigError(f"debias.n_classifiers={self.n_classifiers} must be >= 1", fix="e.g. debias.n_classifiers=80")
        dim = X.shape[1]
        rowspaces, self.weights_, self.dev_accuracies_ = [], [], []
        projection = np.eye(dim)
        for i in range(self.n_classifiers):
            clf = _make_classifier(self.classifier, self.random_state + i)
            X_i, X_dev_i = X @ projection, X_dev @ projection
            if np.allclose(X_i, 0):  # everything is removed already: nothing left to classify
                break
            clf.fit(X_i, y)
            accuracy = float(clf.score(X_dev_i, y_dev))
            self.dev_accuracies_.append(accuracy)
            if accuracy < self.min_accuracy:
                continue
            weights = np.atleast_2d(clf.coef_)
            self.weights_.append(weights)
            rowspaces.append(rowspace_projection(weights))
            # Project the *original* data by the composed projection (not P_i applied repeatedly): stable
            # even when w_i is not exactly orthogonal to earlier w_j (Ravfogel et al., Ben-Israel 2013).
            projection = nullspace_intersection(rowspaces, dim)
        self.projection_ = nullspace_intersection(rowspaces, dim)
        self.rank_removed_ = int(round(dim - np.trace(self.projection_)))  # trace = rank for a projection
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(X, dtype=np.float64) @ self.projection_

    def as_module(self) -> LinearProjection:
        """The apply step: a module mapping hidden states [..., d] to their projection."""
        return LinearProjection(self.projection_)


def probe_accuracy(X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray, y_test: np.ndarray,
                   random_state: int = 0) -> float:
    """Held-out accuracy of a fresh linear probe: how much of the attribute remains decodable.

    Unlike INLP's own classifiers the probe has an intercept, so it can always reach the majority rate
    (an intercept-free classifier on projected, nearly empty representations can fall far below it).
    """
    from sklearn.svm import LinearSVC

    clf = LinearSVC(fit_intercept=True, dual=False, random_state=random_state).fit(X_train, y_train)
    return float(clf.score(X_test, y_test))


def _check_xy(X, y) -> tuple[np.ndarray, np.ndarray]:
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    if X.ndim != 2 or len(X) != len(y):
        raise ValueError(f"INLP needs X [n, d] and y [n]; got X {X.shape} and y {y.shape}")
    if len(np.unique(y)) < 2:
        from babybias.errors import BabybiasError

        raise BabybiasError("INLP needs sentences of at least two attribute classes; found one",
                            fix="use a corpus containing both male and female attribute words")
    return X, y
