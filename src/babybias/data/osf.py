"""Zip archives stored on OSF (https://osf.io/<project>/), fetched by their path in the project's storage.

OSF download links carry opaque file ids, so a path such as `text_data/train_100M.zip` is resolved through the
public OSF API (`{OSF_API}/nodes/<project>/files/osfstorage/`, JSON:API listings: a folder's children under
`relationships.files.links.related.href`, a file's `links.download`), then downloaded and unpacked.
"""

from __future__ import annotations

import json
import shutil
import urllib.request
import zipfile
from pathlib import Path
from typing import Callable

from babybias.errors import DataError

OSF_API = "https://api.osf.io/v2"
MIRROR_FIX = "set data.mirror=PATH (or BABYBIAS_DATA_MIRROR) to a folder holding {name}/ in the layout above"


def _get(url: str, timeout: float):
    try:
        return urllib.request.urlopen(url, timeout=timeout)  # noqa: S310 - fixed https addresses
    except OSError as err:
        raise DataError(f"cannot download {url} ({err})", fix="") from None


def _listing(url: str) -> list[dict]:
    """Every entry of a (paginated) OSF folder listing."""
    entries: list[dict] = []
    while url:
        with _get(url, timeout=30) as resp:
            page = json.load(resp)
        entries += page.get("data", [])
        url = (page.get("links") or {}).get("next")
    return entries


def download_url(project: str, path: str, listing: Callable[[str], list[dict]] = _listing) -> str:
    """The download link of file `path` (folders separated by `/`) in OSF project `project`'s storage."""
    url = f"{OSF_API}/nodes/{project}/files/osfstorage/"
    *folders, filename = path.split("/")
    for part in folders + [filename]:
        entry = next((e for e in listing(url) if e.get("attributes", {}).get("name") == part), None)
        if entry is None:
            raise DataError(f"https://osf.io/{project}/ has no {path!r} (no {part!r} in {url})",
                            fix="the BabyLM organisers may have moved it: download it by hand and use data.mirror")
        if part == filename:
            return entry["links"]["download"]
        url = entry["relationships"]["files"]["links"]["related"]["href"]
    raise AssertionError("unreachable")


def fetch_members(project: str, path: str, wanted: tuple[str, ...], target: Path, name: str) -> None:
    """Download zip `path` of `project` and unpack its members `wanted` (matched by path, or by path suffix when
    the archive has an extra top folder) into `target`; raises a DataError naming the address and the mirror."""
    archive = target / (Path(path).name + ".part")
    try:
        url = download_url(project, path)
        with _get(url, timeout=60) as resp, open(archive, "wb") as fh:
            shutil.copyfileobj(resp, fh, length=1 << 20)
    except (DataError, OSError) as err:
        archive.unlink(missing_ok=True)
        raise DataError(f"{name}: {err.args[0] if isinstance(err, DataError) else err}; its files are {path} of "
                        f"https://osf.io/{project}/ (unzipped: {', '.join(wanted[:2])}, ...)",
                        fix=MIRROR_FIX.format(name=name)) from None
    try:
        with zipfile.ZipFile(archive) as zf:
            members = [m for m in zf.namelist() if not m.endswith("/")]
            for rel in wanted:
                member = next((m for m in members if m == rel or m.endswith("/" + rel)), None)
                if member is None:
                    continue  # the caller's check reports what is still missing
                dst = target / rel
                dst.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(member) as src, open(dst, "wb") as out:
                    shutil.copyfileobj(src, out, length=1 << 20)
    finally:
        archive.unlink(missing_ok=True)
