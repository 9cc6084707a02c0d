"""The fit step of the post-model methods: sentences -> embeddings (through the scoring engine) -> artifact.

`fit_artifact(cfg, engine, corpus_lines, words, seed)` returns a `DebiasArtifact` for
`cfg.method` in {inlp, sentence_debias, self_debias}; `words` are the bias type's attribute words
(`babybias.debias.attribute_words`). The engine must wrap the *plain* model: the methods are fitted on its
representations and later applied to it. Sentences are built as bias-bench builds them (`sentences.py`).
"""

from __future__ import annotations

import numpy as np

from babybias.configs.debias import DebiasConfig
from babybias.debias.artifacts import DebiasArtifact
from babybias.debias.sentences import counterfactual_examples, inlp_sentences
from babybias.errors import BabybiasError, ConfigError


def fit_artifact(cfg: DebiasConfig, engine, corpus_lines: list[str] | None, words, seed: int) -> DebiasArtifact:
    """Fit `cfg.method` on the engine's model; `corpus_lines` and `words` are unused by Self-Debias."""
    fitters = {"inlp": _fit_inlp, "sentence_debias": _fit_sentence_debias, "self_debias": _fit_self_debias}
    if cfg.method not in fitters:
        raise ConfigError(f"debias={cfg.method} has nothing to fit",
                          fix="fit a post-model method: debias=inlp|sentence_debias|self_debias")
    if words is not None and cfg.method != "self_debias" and words.bias_type != cfg.bias_type:
        raise ValueError(f"attribute words of {words.bias_type} given for debias.bias_type={cfg.bias_type}")
    return fitters[cfg.method](cfg, engine, corpus_lines, words, seed)


def _config_dict(cfg: DebiasConfig) -> dict:
    from babybias.runs import to_jsonable

    return to_jsonable(cfg)


def _split(X: np.ndarray, y: np.ndarray, fraction: float, seed: int):
    """(X_a, X_b, y_a, y_b) with `fraction` in b; stratified unless a class has a single sentence."""
    from sklearn.model_selection import train_test_split

    counts = np.bincount(y)
    try:
        return train_test_split(X, y, test_size=fraction, random_state=seed,
                                stratify=y if counts[counts > 0].min() > 1 else None)
    except ValueError:  # too few sentences to stratify (tiny corpora): a plain random split
        return train_test_split(X, y, test_size=fraction, random_state=seed)


def _fit_inlp(cfg: DebiasConfig, engine, lines, words, seed: int) -> DebiasArtifact:
    from babybias.debias.inlp import INLP, probe_accuracy

    lowercase = cfg.lowercase_for(engine.tokenizer)
    chosen = inlp_sentences(lines, words, cfg.sentences_per_class, seed, clip=cfg.clip_sentences,
                            lowercase=lowercase, max_words=cfg.max_sentence_words)
    labels = chosen.labels
    counts = {label: len(chosen.by_label[label]) for label in labels}
    if min(counts.values()) < 3:
        raise BabybiasError(f"INLP found too few {cfg.bias_type} sentences per class in the corpus ({counts})",
                            fix=f"use a larger corpus (or corpus_file=) holding {cfg.bias_type} attribute words")
    texts = [text for label in labels for _, text in chosen.by_label[label]]
    y = np.array([k for k, label in enumerate(labels) for _ in chosen.by_label[label]])
    X = engine.embed(texts, pooling="mean").astype(np.float64)
    X_fit, y_fit, X_test, y_test = X, y, None, None
    if cfg.test_fraction > 0:  # bias-bench: 30% test first, then 30% of the rest as dev
        X_fit, X_test, y_fit, y_test = _split(X, y, cfg.test_fraction, seed)
    X_train, X_dev, y_train, y_dev = _split(X_fit, y_fit, cfg.dev_fraction, seed)
    hidden = X.shape[1]
    n_classifiers = cfg.classifiers_for(hidden)
    inlp = INLP(n_classifiers, cfg.classifier, cfg.min_accuracy, random_state=seed).fit(X_train, y_train, X_dev, y_dev)
    info = {"hidden_size": hidden, "bias_type": cfg.bias_type, "labels": list(labels), "class_counts": counts,
            "lowercased": lowercase, "n_classifiers_used": n_classifiers, "dev_accuracies": inlp.dev_accuracies_,
            "dev_accuracy_first": inlp.dev_accuracies_[0] if inlp.dev_accuracies_ else None,
            "dev_accuracy_last": inlp.dev_accuracies_[-1] if inlp.dev_accuracies_ else None,
            "majority_rate": float(np.bincount(y_dev).max() / len(y_dev)), "rank_removed": inlp.rank_removed_,
            "rank_removed_fraction": inlp.rank_removed_ / hidden, "n_classifiers_kept": len(inlp.weights_),
            "split_sizes": {"train": len(y_train), "dev": len(y_dev), "test": 0 if y_test is None else len(y_test)}}
    if y_test is not None and len(np.unique(y_train)) > 1:  # a fresh probe on the held-out test sentences
        P = inlp.projection_
        info["test_majority_rate"] = float(np.bincount(y_test).max() / len(y_test))
        info["test_accuracy_before"] = probe_accuracy(X_train, y_train, X_test, y_test, seed)
        info["test_accuracy_after"] = probe_accuracy(X_train @ P, y_train, X_test @ P, y_test, seed)
    return DebiasArtifact("inlp", _config_dict(cfg), {"projection": inlp.projection_}, info, chosen.records())


def _embed_unique(engine, texts: list[str]) -> np.ndarray:
    """Mean-pooled embeddings of `texts`, each distinct text encoded once (examples share their original)."""
    unique = list(dict.fromkeys(texts))
    vectors = engine.embed(unique, pooling="mean")
    row = {text: i for i, text in enumerate(unique)}
    return vectors[[row[t] for t in texts]]


def _fit_sentence_debias(cfg: DebiasConfig, engine, lines, words, seed: int) -> DebiasArtifact:
    from babybias.debias.sentence_debias import SentenceDebias

    lowercase = cfg.lowercase_for(engine.tokenizer)
    chosen = counterfactual_examples(lines, words, lowercase=lowercase, mode=cfg.counterfactuals,
                                     max_examples=cfg.max_pairs, seed=seed)
    if len(chosen.groups) < max(2, cfg.n_components):
        raise BabybiasError(f"SentenceDebias found {len(chosen.groups)} {cfg.bias_type} counterfactual examples in "
                            "the corpus", fix=f"use a larger corpus (or corpus_file=) with {cfg.bias_type} attribute words")
    versions = list(zip(*(group for _, group in chosen.groups)))  # one tuple of texts per attribute group
    flat = _embed_unique(engine, [text for texts in versions for text in texts])
    n = len(chosen.groups)
    embeddings = [flat[k * n:(k + 1) * n] for k in range(len(versions))]
    sd = SentenceDebias(cfg.n_components).fit(*embeddings)
    info = {"hidden_size": flat.shape[1], "bias_type": cfg.bias_type, "n_pairs": n, "group_size": len(versions),
            "lowercased": lowercase, "explained_variance_ratio": sd.explained_variance_ratio_.tolist()}
    arrays = {"projection": sd.projection_, "components": sd.components_}
    return DebiasArtifact("sentence_debias", _config_dict(cfg), arrays, info, chosen.records())


def _fit_self_debias(cfg: DebiasConfig, engine, lines, words, seed: int) -> DebiasArtifact:
    from babybias.debias.self_debias import DEBIASING_PREFIXES, prefixes_for

    tokenizer = engine.tokenizer

    def ids_of(prefixes: list[str]) -> list[list[int]]:
        return [tokenizer(p.strip(), add_special_tokens=False)["input_ids"] for p in prefixes]

    prefixes = prefixes_for(cfg.bias_type, cfg.prefixes)
    ids = ids_of(prefixes)
    unk = tokenizer.unk_token_id
    info = {"prefixes": prefixes, "prefix_token_ids": ids,
            "prefix_unknown_tokens": sum(1 for row in ids for i in row if i == unk),
            "prefix_scope": "bias_type" if cfg.prefixes else cfg.prefix_scope}
    if info["prefix_scope"] == "per_category":  # bias-bench: each category with its own bias type's prefix
        info["prefix_token_ids_by_type"] = {key: ids_of([text]) for key, text in DEBIASING_PREFIXES.items()}
    return DebiasArtifact("self_debias", _config_dict(cfg), {}, info, [])
