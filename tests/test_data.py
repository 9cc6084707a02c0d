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
    """Pinned in checksums.json, or (BabyLM) a file list whose sha256 the data root's lock records on first use."""
    for name, spec in DATASETS.items():
        files = files_of(name)
        assert bool(files) == spec.pinned, name
        # a sha256, or the git object id of a file known only from its repository's tree
        assert all(len(d) == 64 or (d.startswith(store.GIT_BLOB) and len(d) == len(store.GIT_BLOB) + 40)
                   for d in files.values()), name
        assert set(spec.alternatives) <= set(files), name
        assert spec.pinned or (spec.files and (spec.osf_archives or spec.manual))


def test_mirror_matches_registry(shared_data):
    for name in (n for n, spec in DATASETS.items() if spec.pinned):
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
    with pytest.raises(DataError, match="wefe"):
        store.prepare("weat_word_sets", _cfg(tmp_path / "d"))


def test_stereoset_takes_the_canonical_file_from_its_address_or_the_flat_copy_from_a_mirror(
        tmp_path, shared_data, monkeypatch):
    import hashlib

    # offline mirror: the flattened copy alone makes the data set complete (one of two alternatives)
    mirror_cfg = _cfg(tmp_path / "a", mirror=shared_data)
    status = store.prepare("stereoset", mirror_cfg)
    assert status.ok and (status.present, status.expected) == (1, 1)
    assert not (tmp_path / "a" / "stereoset" / "dev.json").exists()  # the mirror has the flat copy only

    # no mirror: the canonical dev.json is downloaded from the registered address and verified by git blob id
    body = b'{"version": "1.0-dev", "data": {"intrasentence": [], "intersentence": []}}'
    blob_id = hashlib.sha1(b"blob %d\0" % len(body) + body).hexdigest()
    fetched = []
    monkeypatch.setattr(store, "_fetch", lambda url: fetched.append(url) or body)
    monkeypatch.setattr(store, "files_of", lambda name: {"dev.json": store.GIT_BLOB + blob_id,
                                                         "stereoset_dev_flat.jsonl": "0" * 64})
    status = store.prepare("stereoset", _cfg(tmp_path / "b"))
    assert status.ok and fetched == [DATASETS["stereoset"].url_map["dev.json"]]
    assert "moinnadeem/StereoSet/" in fetched[0] and fetched[0].endswith("/data/dev.json")
    (tmp_path / "b" / "stereoset" / "dev.json").write_bytes(body + b" ")
    assert store.check("stereoset", tmp_path / "b").bad == ["dev.json (checksum differs)"]
    (tmp_path / "b" / "stereoset" / "dev.json").unlink()
    assert store.check("stereoset", tmp_path / "b").bad == ["dev.json or stereoset_dev_flat.jsonl (missing)"]


def test_cli_data_list_and_prepare(tmp_path, shared_data):
    from babybias.launch.compose import run_command

    root = tmp_path / "data"
    run_command("data", ["action=prepare", "datasets=[seat]", f"data.root={root}", f"data.mirror={shared_data}"])
    assert store.check("seat", root).ok
