"""Intra-model CDA (Webster et al. 2020; Meade et al. 2022): (continued) pretraining on a gender-swapped corpus.

Nothing is fitted here: `debias=cda` is the config overlay conf/debias/cda.yaml for `babybias pretrain`
(corpus -> `corpus=cda`, two-sided by default; train.steps -> debias.steps). The swapping itself is the
corpus mutation (`babybias.corpus.mutations.cda`, word rules in `babybias.corpus.gender`). This module
gives the overrides a study uses to continue a trained model.
"""

from __future__ import annotations


def pretrain_overrides(init_from: str | None, steps: int | None = None, cda_mode: str | None = None) -> list[str]:
    """Overrides for `babybias pretrain` that continue `init_from` (a run name/dir or checkpoint) with CDA."""
    out = ["debias=cda"]
    if init_from:
        out.append(f"init_from={init_from}")
    if steps is not None:
        out.append(f"debias.steps={steps}")
    if cda_mode is not None:
        out.append(f"corpus.cda_mode={cda_mode}")
    return out
