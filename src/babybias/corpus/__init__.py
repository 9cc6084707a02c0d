"""Mutable pretraining corpora: sources -> cleaning/splitting -> mutation -> cached files + manifest.

Entry point: `babybias.corpus.build.build_corpus(corpus_cfg, data_cfg, cache_root, seed, dryrun)`.
Modules: sources (inputs), clean (normalize/split/dedupe/split), gender (word pairs, CDA swapping),
mutations (registry: original, cda, balanced, imbalanced, detox, random_drop), toxicity (scorer
registry), manifest (statistics), build (cache key, atomic write).
"""
