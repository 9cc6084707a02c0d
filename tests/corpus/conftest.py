"""Corpus test fixtures: a private data root holding the word lists and two small real corpora."""

from __future__ import annotations

from pathlib import Path

import pytest

from babybias.configs.common import DataConfig

WORD_LISTS = ["bias_attribute_words", "debiaswe_word_lists", "winobias"]
SMALL_CORPORA = ["nltk_inaugural", "nltk_state_union"]


@pytest.fixture(scope="session")
def data_cfg(shared_data, tmp_path_factory) -> DataConfig:
    """A data root in tmp with the gender word lists and the two smallest real corpora (copied, verified)."""
    from babybias.data import store

    root = tmp_path_factory.mktemp("data_root")
    cfg = DataConfig(root=str(root), mirror=str(shared_data), verify=True)
    for name in WORD_LISTS + SMALL_CORPORA:
        store.prepare(name, cfg)
    return DataConfig(root=str(root), mirror=None, verify=True)


@pytest.fixture(scope="session")
def swapper(data_cfg):
    from babybias.corpus.gender import Swapper, build_lexicon

    root = Path(data_cfg.root)
    return Swapper(build_lexicon({name: root / name for name in WORD_LISTS}))
