"""The deletion ledger: append-only, hash-chained JSON lines, holding what proves each deletion and nothing
of the deleted examples themselves.

Each record carries `seq`, `prev` (the previous record's hash) and `hash` (sha256 of the record without
`hash`), so editing, removing or reordering a line breaks the chain. The ledger lives in the run's committed
state folder (`state.py`): a round's record is committed together with everything else the round changed.
Events:

- `trained` (round 0): the run's `salt` (see `salted.py`); `serving` maps each shard (and `single`) to its
  checkpoint key, `weights` to the sha256 of its weight file; `retrained`: the stages trained.
- `unlearned` (round r >= 1): `source` (a sampled plan, a requests file, or `forget`); salted hashes of the
  deleted training `ids`, of the deleted `calibration_ids`, of the deleted examples' `texts` and of their
  `feature_rows`; `retrained` (shard -> stages); `removed` (the checkpoints trained on deleted ids: shard,
  key, weight digest), `serving_before` / `weights_before` and `serving` / `weights` after; `calibration`
  (examples removed from the calibration set, its size before and after, post-processors refit).
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from babybias.runs import append_jsonl

LEDGER = "ledger.jsonl"


def record_hash(record: dict) -> str:
    body = {k: v for k, v in record.items() if k != "hash"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


class Ledger:
    def __init__(self, path: str | Path):
        self.path = Path(path)

    def records(self) -> list[dict]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text(encoding="utf-8").splitlines() if line.strip()]

    def append(self, event: str, **fields) -> dict:
        records = self.records()
        record = {"seq": len(records), "event": event, "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                  "prev": records[-1]["hash"] if records else None, **fields}
        record["hash"] = record_hash(record)
        append_jsonl(self.path, record)
        return record


def read_chain(path: Path, problems: list) -> list[dict]:
    """The ledger's records; appends to `problems` where a line is unreadable or the hash chain breaks."""
    if not path.is_file():
        problems.append(f"no ledger at {path}")
        return []
    records = []
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            problems.append(f"ledger line {i + 1} is not valid JSON")
            return records
    prev = None
    for i, rec in enumerate(records):
        if rec.get("seq") != i or rec.get("prev") != prev or rec.get("hash") != record_hash(rec):
            problems.append(f"ledger record {i} ({rec.get('event')}) breaks the hash chain: it was edited, "
                            "removed or reordered")
        prev = rec.get("hash")
    return records
