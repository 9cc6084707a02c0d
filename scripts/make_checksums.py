"""Regenerate src/babybias/data/checksums.json from a verified copy of the data sets.

    python scripts/make_checksums.py ../shared/data

Records the sha256 of every data file (README files excluded) of each registered data set. Registered files
the mirror lacks keep their entry (e.g. StereoSet's canonical dev.json, registered by its git blob id). Data sets
registered with a file list instead (`DatasetSpec.files`, the BabyLM corpora) are skipped: their checksums are
recorded on first use.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from babybias.data.registry import DATASETS, files_of
from babybias.runs import file_sha256


def main(mirror: str) -> None:
    root = Path(mirror)
    out = {}
    for name, spec in DATASETS.items():
        if not spec.pinned:  # recorded on first use in the data root's lock file (babybias.data.lock)
            continue
        folder = root / name
        files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("README"))
        kept = {rel: digest for rel, digest in files_of(name).items() if not (folder / rel).is_file()}
        out[name] = kept | {str(p.relative_to(folder)): file_sha256(p) for p in files}
        print(f"{name}: {len(files)} files")
    target = Path(__file__).resolve().parents[1] / "src" / "babybias" / "data" / "checksums.json"
    target.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
    print(f"wrote {target}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/data")
