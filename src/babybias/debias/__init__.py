"""Debiasing methods. Every method wraps any encoder by composition (no class per architecture).

Intra-model (`babybias pretrain debias=cda|dropout [init_from=<run>]`): config overlays, see cda.py, dropout.py.
Post-model (`babybias debias fit debias=inlp|sentence_debias|self_debias`, `babybias evaluate debias=...`):
- inlp.py, sentence_debias.py: sklearn-style estimators on arrays -> one projection (projection.py);
- self_debias.py: the probability rescaling and `SelfDebiasLM`, a wrapper of any engine `MaskedLM`, with one
  prefix per benchmark category (`score_by_category`);
- attribute_words.py: the bias type's attribute words (bias-bench's `bias_attribute_words`) and matching;
- sentences.py: fit sentences from the model's pretraining corpus, built as bias-bench builds them (recorded);
- fit.py: sentences -> embeddings (scoring engine) -> `DebiasArtifact` (artifacts.py, round-trips to disk);
- apply.py: artifact -> wrapped model / `ScoringEngine` (`debiased_engine`), fitting when missing.
"""
