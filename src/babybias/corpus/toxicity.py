"""Toxicity scorers for `detox`: a registry from `corpus.scorer` names to batch scoring functions.

A scorer factory takes no arguments and returns `score(texts: list[str]) -> list[float]` with scores in
[0, 1] (higher = more toxic). Register your own with `@register_scorer("name")`.

- `profanity_check` (default, offline): the linear SVM shipped in `alt-profanity-check`, probability of
  offensive language.
- `detoxify`: Unitary's Detoxify `original` model, `toxicity` head; needs the `detoxify` package and its
  weights (downloaded by the package on first use), so it fails with a clear error on offline machines.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from babybias.errors import BabybiasError, ConfigError

ScoreFn = Callable[[Sequence[str]], Sequence[float]]
SCORERS: dict[str, Callable[[], ScoreFn]] = {}
SCORER_PACKAGES = {"profanity_check": "alt-profanity-check", "detoxify": "detoxify"}
"""Distribution whose version fixes a built-in scorer's model (alt-profanity-check retrains it in every release)."""
_VERSIONS: dict[str, str] = {}


def register_scorer(name: str, version: str = "") -> Callable[[Callable[[], ScoreFn]], Callable[[], ScoreFn]]:
    """Register a scorer factory under `name`; change `version` whenever its scores change (it is in the cache key
    of every detox corpus scored with it)."""
    def wrap(factory: Callable[[], ScoreFn]) -> Callable[[], ScoreFn]:
        SCORERS[name] = factory
        _VERSIONS[name] = version
        return factory

    return wrap


def scorer_version(name: str) -> str:
    """What fixes the scores of scorer `name`, for the corpus cache key: its package's installed version for the
    built-in ones ("<package> not installed" when absent), else the version given to `register_scorer`."""
    from importlib import metadata

    if name in SCORER_PACKAGES:
        package = SCORER_PACKAGES[name]
        try:
            return f"{package}=={metadata.version(package)}"
        except metadata.PackageNotFoundError:
            return f"{package} not installed"
    return _VERSIONS.get(name, "")


def get_scorer(name: str) -> ScoreFn:
    if name not in SCORERS:
        raise ConfigError(f"corpus.scorer={name!r} is not known", fix=f"use one of {', '.join(sorted(SCORERS))}")
    return SCORERS[name]()


def score_texts(texts: Sequence[str], scorer: ScoreFn, batch_size: int, progress: bool = True) -> np.ndarray:
    """Scores of all texts, in batches, as a float64 array (checked to lie in [0, 1])."""
    from tqdm.auto import tqdm

    out = np.empty(len(texts), dtype=np.float64)
    for start in tqdm(range(0, len(texts), batch_size), desc="toxicity", unit="batch", disable=not progress,
                      leave=False):
        batch = list(texts[start:start + batch_size])
        scores = np.asarray(scorer(batch), dtype=np.float64)
        if scores.shape != (len(batch),):
            raise ValueError(f"scorer returned shape {scores.shape} for {len(batch)} texts")
        out[start:start + len(batch)] = scores
    if len(out) and (np.nanmin(out) < 0 or np.nanmax(out) > 1 or np.isnan(out).any()):
        raise ValueError("toxicity scores must lie in [0, 1]")
    return out


def score_summary(scores: np.ndarray, threshold: float) -> dict:
    """Quantiles, a 10-bin histogram over [0, 1] and the count above the threshold."""
    if len(scores) == 0:
        return {"n": 0}
    qs = [0.0, 0.5, 0.9, 0.99, 0.999, 1.0]
    hist, edges = np.histogram(scores, bins=10, range=(0.0, 1.0))
    return {
        "n": int(len(scores)),
        "mean": float(scores.mean()),
        "quantiles": {str(q): float(np.quantile(scores, q)) for q in qs},
        "histogram": {"edges": [round(float(e), 2) for e in edges], "counts": hist.tolist()},
        "above_threshold": int((scores > threshold).sum()),
    }


@register_scorer("profanity_check")
def _profanity_check() -> ScoreFn:
    try:
        from profanity_check import predict_prob
    except ImportError:
        raise BabybiasError("the profanity_check scorer needs the `alt-profanity-check` package",
                            fix="pip install alt-profanity-check") from None
    return lambda texts: predict_prob(list(texts))


@register_scorer("detoxify")
def _detoxify() -> ScoreFn:
    try:
        from detoxify import Detoxify
    except ImportError:
        raise BabybiasError("the detoxify scorer needs the `detoxify` package and its model weights",
                            fix="pip install detoxify on a machine that can download its weights, "
                                "or use corpus.scorer=profanity_check") from None
    try:
        model = Detoxify("original")
    except Exception as err:  # noqa: BLE001 - any download/load failure means the same fix
        raise BabybiasError(f"the Detoxify weights could not be loaded ({type(err).__name__}: {err})",
                            fix="run once with network access to cache them, or use corpus.scorer=profanity_check") from None
    return lambda texts: model.predict(list(texts))["toxicity"]
