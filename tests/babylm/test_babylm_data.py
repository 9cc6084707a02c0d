"""BabyLM corpora in the data registry: prepare from a mirror, checksums recorded on first use, OSF downloads,
fail-fast without network or mirror, and `babybias data prepare datasets=[babylm_100m]` end to end."""

from __future__ import annotations

import io
import json
import time
import zipfile
from types import SimpleNamespace

import pytest
from babylm_helpers import SOURCES, write_babylm

from babybias.data import lock, osf, store
from babybias.data.registry import DATASETS
from babybias.errors import DataError
from babybias.launch.compose import run_command


def _cfg(root, mirror=None):
    return SimpleNamespace(root=str(root), mirror=None if mirror is None else str(mirror), verify=True)


def test_registry_names_the_2024_files_and_addresses():
    for name, train_dir in (("babylm_10m", "train_10M"), ("babylm_100m", "train_100M")):
        spec = DATASETS[name]
        assert not spec.pinned and spec.on_request
        assert set(spec.files) == {f"{train_dir}/{s}.train" for s in SOURCES} | {f"dev/{s}.dev" for s in SOURCES}
        assert spec.osf_archives == (("ad7qg", f"text_data/{train_dir}.zip"), ("ad7qg", "text_data/dev.zip"))
        assert "https://osf.io/ad7qg/" in spec.source


def test_first_prepare_records_checksums_and_later_checks_verify_them(tmp_path):
    mirror = tmp_path / "mirror"
    write_babylm(mirror / "babylm_100m")
    cfg = _cfg(tmp_path / "data", mirror)
    with pytest.raises(DataError, match=r"babybias data prepare datasets=\[babylm_100m\]"):
        store.require("babylm_100m", cfg)
    status = store.prepare("babylm_100m", cfg)
    assert status.ok and status.present == 12
    recorded = json.loads((tmp_path / "data" / lock.LOCK_FILE).read_text())["babylm_100m"]
    from babybias.runs import file_sha256

    assert recorded == {rel: file_sha256(mirror / "babylm_100m" / rel) for rel in DATASETS["babylm_100m"].files}
    folder = store.require("babylm_100m", cfg)

    # a changed file is caught by every later check, as a pinned checksum would be
    target = folder / "train_100M" / "childes.train"
    target.write_text(target.read_text() + "*CHI:\textra line .\n")
    with pytest.raises(DataError, match="childes.train \\(checksum differs\\)"):
        store.require("babylm_100m", cfg)

    # preparing again from a mirror whose file changed is refused: the lock remembers the first download
    (mirror / "babylm_100m" / "train_100M" / "childes.train").write_text("*CHI:\tsomething else .\n")
    with pytest.raises(DataError, match="differs from the sha256 recorded on first use") as err:
        store.prepare("babylm_100m", cfg, force=True)
    assert "checksums.lock.json" in err.value.fix


def test_a_replaced_lock_entry_is_verified_not_answered_from_the_verified_stamp(tmp_path):
    """The folder's `.verified.json` stamp (size and mtime of files already hashed) must not vouch for a file
    against a digest it was never compared with: a lock file shared to pin one version across machines, or a
    registry update, must catch local files of another version."""
    mirror = tmp_path / "mirror"
    write_babylm(mirror / "babylm_100m")
    cfg = _cfg(tmp_path / "data", mirror)
    store.prepare("babylm_100m", cfg)
    assert store.check("babylm_100m", tmp_path / "data").ok  # hashed once, stamped
    path = lock.lock_path(tmp_path / "data")
    entries = json.loads(path.read_text())
    entries["babylm_100m"]["train_100M/childes.train"] = "0" * 64  # the pinned version has other bytes
    path.write_text(json.dumps(entries))
    with pytest.raises(DataError, match="childes.train \\(checksum differs\\)"):
        store.require("babylm_100m", cfg)


def test_files_without_a_recorded_checksum_are_not_trusted(tmp_path):
    write_babylm(tmp_path / "data" / "babylm_10m", "train_10M")  # copied by hand, never prepared
    status = store.check("babylm_10m", tmp_path / "data")
    assert not status.ok and "no checksum recorded" in status.bad[0]


def test_cli_prepare_with_a_mirror_end_to_end(tmp_path, capsys):
    write_babylm(tmp_path / "mirror" / "babylm_100m")
    root = tmp_path / "data"
    run_command("data", ["action=prepare", "datasets=[babylm_100m]", f"data.root={root}",
                         f"data.mirror={tmp_path / 'mirror'}"])
    assert "babylm_100m" in capsys.readouterr().out and store.check("babylm_100m", root).ok
    run_command("data", ["action=list", f"data.root={root}", "data.mirror=null"])
    listed = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("babylm_100m"))
    assert "verified (lock)" in listed and "12/12" in listed


def test_without_network_or_mirror_prepare_fails_fast_with_the_address_and_the_mirror_option(tmp_path, monkeypatch):
    # a closed local port stands in for "no network" (a CI machine with internet must not download 700 MB here)
    monkeypatch.setattr(osf, "OSF_API", "http://127.0.0.1:9/v2")
    start = time.perf_counter()
    with pytest.raises(DataError) as err:
        run_command("data", ["action=prepare", "datasets=[babylm_100m]", f"data.root={tmp_path / 'data'}",
                             "data.mirror=null"])
    assert time.perf_counter() - start < 5
    message = str(err.value)
    assert "http://127.0.0.1:9/v2/nodes/ad7qg/files/osfstorage/" in message
    assert "text_data/train_100M.zip of https://osf.io/ad7qg/" in message and "data.mirror=PATH" in message
    assert not (tmp_path / "data" / lock.LOCK_FILE).exists()


def test_a_bare_data_prepare_leaves_the_babylm_corpora_alone(tmp_path, monkeypatch):
    prepared = []
    monkeypatch.setattr(store, "prepare", lambda name, cfg, force=False: prepared.append(name) or
                        SimpleNamespace(present=0))
    run_command("data", ["action=prepare", f"data.root={tmp_path}", "data.mirror=null"])
    assert prepared and not {"babylm_10m", "babylm_100m"} & set(prepared)  # (babylm_eval_fast is small: prepared)


def _listing(entries_by_url):
    return lambda url: entries_by_url[url]


def test_osf_paths_resolve_through_the_api_listing():
    root = f"{osf.OSF_API}/nodes/ad7qg/files/osfstorage/"
    folder = {"attributes": {"name": "text_data", "kind": "folder"},
              "relationships": {"files": {"links": {"related": {"href": "https://api/text_data/"}}}}}
    zip_entry = {"attributes": {"name": "dev.zip", "kind": "file"}, "links": {"download": "https://osf.io/download/x/"}}
    listing = _listing({root: [{"attributes": {"name": "other"}}, folder], "https://api/text_data/": [zip_entry]})
    assert osf.download_url("ad7qg", "text_data/dev.zip", listing) == "https://osf.io/download/x/"
    with pytest.raises(DataError, match="no 'train_1B.zip'"):
        osf.download_url("ad7qg", "text_data/train_1B.zip", listing)


def test_download_unpacks_the_archives_and_records_the_lock(tmp_path, monkeypatch):
    """The download path without a network: OSF answers are replaced by zips of the synthetic files."""
    source = write_babylm(tmp_path / "src", "train_10M")
    archives = {}
    for path, prefix in (("text_data/train_10M.zip", "train_10M"), ("text_data/dev.zip", "dev")):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as zf:
            for file in sorted((source / prefix).iterdir()):
                zf.write(file, f"{prefix}/{file.name}")  # the archive's own top folder, as released
            zf.writestr("__MACOSX/._junk", b"x")
        archives[f"https://osf.io/download/{path}"] = buffer.getvalue()
    monkeypatch.setattr(osf, "download_url", lambda project, path: f"https://osf.io/download/{path}")
    monkeypatch.setattr(osf, "_get", lambda url, timeout: io.BytesIO(archives[url]))
    root = tmp_path / "data"
    status = store.prepare("babylm_10m", _cfg(root))
    assert status.ok and status.present == 12
    assert not any(p.name.endswith(".part") or p.name == "__MACOSX" for p in (root / "babylm_10m").iterdir())
    assert (root / "babylm_10m" / "dev" / "childes.dev").read_bytes() == (source / "dev" / "childes.dev").read_bytes()
    assert set(lock.locked_checksums("babylm_10m", root)) == set(DATASETS["babylm_10m"].files)
