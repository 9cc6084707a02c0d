"""The fit step of the post-model methods: sentences -> embeddings (through the scoring engine) -> artifact.

`fit_artifact(cfg, engine, corpus_lines, swapper, seed)` returns a `DebiasArtifact` for
`cfg.method` in {inlp, sentence_debias, self_debias}. The engine must wrap the *plain* model: the methods
are fitted on its representations and later applied to it.
"""

from __future__ import annotations

import numpy as np

from babybias.configs.debias import DebiasConfig
from babybias.debias.artifacts import DebiasArtifact
from babybias.debias.sentences import select_sentences
from babybias.errors import BabybiasError, ConfigError

INLP_CLASSES = {"male": 0, "female": 1, "neutral": 2}


def fit_artifact(cfg: DebiasConfig, engine, corpus_lines: list[str] | None, swapper, seed: int) -> DebiasArtifact:
    """Fit `cfg.method` on the engine's model; `corpus_lines` (and `swapper`) are unused by Self-Debias."""
    fitters = {"inlp": _fit_inlp, "sentence_debias": _fit_sentence_debias, "self_debias": _fit_self_debias}
    if cfg.method not in fitters:
        raise ConfigError(f"debias={cfg.method} has nothing to fit",
                          fix="fit a post-model method: debias=inlp|sentence_debias|self_debias")
    if cfg.method != "self_debias" and cfg.bias_type != "gender":
        raise ConfigError(f"debias.bias_type={cfg.bias_type} is not supported by {cfg.method} yet",
                          fix="use debias.bias_type=gender (the corpus lexicon has gender word pairs only)")
    return fitters[cfg.method](cfg, engine, corpus_lines, swapper, seed)


def _config_dict(cfg: DebiasConfig) -> dict:
    from babybias.runs import to_jsonable

    return to_jsonable(cfg)


def _fit_inlp(cfg: DebiasConfig, engine, lines, swapper, seed: int) -> DebiasArtifact:
    from sklearn.model_selection import train_test_split

    from babybias.debias.inlp import INLP

    chosen = select_sentences(lines, swapper, cfg.sentences_per_class, seed, cfg.max_sentence_words)
    counts = {label: len(chosen.by_label[label]) for label in INLP_CLASSES}
    if counts["male"] < 2 or counts["female"] < 2:
        raise BabybiasError(f"INLP found too few gendered sentences in the corpus ({counts})",
                            fix="use a larger corpus (or corpus_file=) with male and female attribute words")
    texts = [text for label in INLP_CLASSES for _, text in chosen.by_label[label]]
    y = np.array([INLP_CLASSES[label] for label in INLP_CLASSES for _ in chosen.by_label[label]])
    X = engine.embed(texts, pooling="mean").astype(np.float64)
    counts_present = np.bincount(y)[np.bincount(y) > 0]
    X_train, X_dev, y_train, y_dev = train_test_split(  # stratified unless a class has a single sentence
        X, y, test_size=cfg.dev_fraction, random_state=seed, stratify=y if counts_present.min() > 1 else None)
    inlp = INLP(cfg.n_classifiers, cfg.classifier, cfg.min_accuracy, random_state=seed).fit(X_train, y_train, X_dev, y_dev)
    info = {"hidden_size": X.shape[1], "class_counts": counts, "dev_accuracies": inlp.dev_accuracies_,
            "dev_accuracy_first": inlp.dev_accuracies_[0] if inlp.dev_accuracies_ else None,
            "dev_accuracy_last": inlp.dev_accuracies_[-1] if inlp.dev_accuracies_ else None,
            "majority_rate": float(np.bincount(y_dev).max() / len(y_dev)), "rank_removed": inlp.rank_removed_,
            "n_classifiers_kept": len(inlp.weights_)}
    return DebiasArtifact("inlp", _config_dict(cfg), {"projection": inlp.projection_}, info, chosen.records())


def _fit_sentence_debias(cfg: DebiasConfig, engine, lines, swapper, seed: int) -> DebiasArtifact:
    from babybias.debias.sentence_debias import SentenceDebias

    chosen = select_sentences(lines, swapper, cfg.sentences_per_class, seed, cfg.max_sentence_words, pairs=True)
    if len(chosen.pairs) < max(2, cfg.n_components):
        raise BabybiasError(f"SentenceDebias found {len(chosen.pairs)} counterfactual pairs in the corpus",
                            fix="use a larger corpus (or corpus_file=) with gendered sentences")
    emb_male = engine.embed([m for _, m, _ in chosen.pairs], pooling="mean")
    emb_female = engine.embed([f for _, _, f in chosen.pairs], pooling="mean")
    sd = SentenceDebias(cfg.n_components).fit(emb_male, emb_female)
    info = {"hidden_size": emb_male.shape[1], "n_pairs": len(chosen.pairs),
            "explained_variance_ratio": sd.explained_variance_ratio_.tolist()}
    arrays = {"projection": sd.projection_, "components": sd.components_}
    return DebiasArtifact("sentence_debias", _config_dict(cfg), arrays, info, chosen.records())


def _fit_self_debias(cfg: DebiasConfig, engine, lines, swapper, seed: int) -> DebiasArtifact:
    from babybias.debias.self_debias import prefixes_for

    prefixes = prefixes_for(cfg.bias_type, cfg.prefixes)
    tokenizer = engine.tokenizer
    ids = [tokenizer(p.strip(), add_special_tokens=False)["input_ids"] for p in prefixes]
    unk = tokenizer.unk_token_id
    info = {"prefixes": prefixes, "prefix_token_ids": ids,
            "prefix_unknown_tokens": sum(1 for row in ids for i in row if i == unk)}
    return DebiasArtifact("self_debias", _config_dict(cfg), {}, info, [])
