"""Intra-model CDA (Webster et al. 2020; Meade et al. 2022): (continued) pretraining on a counterfactually
augmented corpus.

Nothing is fitted here: `debias=cda` is the config overlay conf/debias/cda.yaml for `babybias pretrain`
(corpus -> `corpus=cda` of `debias.bias_type`, two-sided by default; train.steps -> debias.steps). The
swapping itself is the corpus mutation (`babybias.corpus.mutations.cda`): gender with the corpus lexicon
(`babybias.corpus.gender`), race and religion with bias-bench's ternary random swap
(`babybias.corpus.group_swap`). Our default keeps all text (`corpus.cda_scope=all_text`); bias-bench trains
on the augmented text only (`corpus.cda_scope=augmented_only`). This module gives the overrides a study
uses to continue a trained model.
"""

from __future__ import annotations


def pretrain_overrides(init_from: str | None, steps: int | None = None, cda_mode: str | None = None,
                       bias_type: str | None = None, scope: str | None = None) -> list[str]:
    """Overrides for `babybias pretrain` that continue `init_from` (a run name/dir or checkpoint) with CDA."""
    out = ["debias=cda"]
    if init_from:
        out.append(f"init_from={init_from}")
    for key, value in (("debias.steps", steps), ("corpus.cda_mode", cda_mode), ("debias.bias_type", bias_type),
                       ("corpus.cda_scope", scope)):
        if value is not None:
            out.append(f"{key}={value}")
    return out
