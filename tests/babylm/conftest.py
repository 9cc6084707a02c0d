"""BabyLM fixtures: a data root holding the gender word lists and babylm_100m prepared from a synthetic mirror."""

from __future__ import annotations

import pytest
from babylm_helpers import write_babylm

from babybias.configs.common import DataConfig

WORD_LISTS = ("bias_attribute_words", "debiaswe_word_lists", "winobias")


@pytest.fixture(scope="session")
def babylm_data(shared_data, tmp_path_factory) -> DataConfig:
    """data.root with the word lists (from ../shared/data) and babylm_100m (synthetic files, real layout)."""
    from babybias.data import store

    root = tmp_path_factory.mktemp("babylm_root")
    mirror = tmp_path_factory.mktemp("babylm_mirror")
    write_babylm(mirror / "babylm_100m", n=120)
    for name in WORD_LISTS:
        store.prepare(name, DataConfig(root=str(root), mirror=str(shared_data), verify=True))
    store.prepare("babylm_100m", DataConfig(root=str(root), mirror=str(mirror), verify=True))
    return DataConfig(root=str(root), mirror=None, verify=True)
