"""The deletion ledger (append-only, hash-chained JSON lines) and its audit.

Each record is appended with fsync (`babybias.runs.append_jsonl`) and carries `seq`, `prev` (the previous
record's hash) and `hash` (sha256 of the record without `hash`), so editing, removing or reordering a line
breaks the chain. Events:

- `trained`: the initial ensemble; `serving` maps each shard (and `single`) to its checkpoint key,
  `weights` to the sha256 of its weight file;
- `request`: a deletion request (round, ids, source), written before any retraining;
- `applied`: the request's round is done; the new `serving` and `weights`, what was retrained.

`audit_run` proves from the ledger and the checkpoints' lineage files that no deleted id is in the lineage
of any serving model: every serving checkpoint's key must re-hash from its stored id sets (so the id sets were
not edited), its weight file must match the digest recorded at training time and in the ledger, and every
ancestor stage must be a prefix of it and hold no deleted id.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from babybias.runs import append_jsonl, file_sha256
from babybias.unlearn.sisa import SINGLE, stage_key

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


@dataclass
class AuditResult:
    ok: bool
    problems: list = field(default_factory=list)
    deleted: int = 0
    rounds: int = 0
    serving: dict = field(default_factory=dict)
    checkpoints_checked: int = 0

    def summary(self) -> str:
        if self.ok:
            return (f"audit passed: {self.deleted} deleted ids in {self.rounds} round(s); none is in the lineage of "
                    f"the {len(self.serving)} serving models ({self.checkpoints_checked} checkpoints checked)")
        return "audit FAILED:\n  " + "\n  ".join(self.problems)


def _read_chain(path: Path, problems: list) -> list[dict]:
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


def _shard_index(name: str) -> int:
    return SINGLE if name == "single" else int(name)


def _check_lineage(root: Path, shard: str, key: str, deleted: set, weights: str | None, problems: list) -> int:
    """Walk one serving checkpoint's ancestry; returns the number of checkpoints checked."""
    checked, child_slices, current = 0, None, key
    while current is not None:
        path = root / f"shard-{shard}" / current
        try:
            lineage = json.loads((path / "lineage.json").read_text())
        except (OSError, ValueError):
            problems.append(f"shard {shard}: checkpoint {current} is missing or unreadable")
            return checked
        checked += 1
        slices = lineage.get("slices", [])
        if stage_key(lineage.get("recipe", ""), _shard_index(shard), slices, len(slices)) != current:
            problems.append(f"shard {shard}: checkpoint {current}'s id sets do not hash to its key (tampered)")
        if lineage.get("key") != current:
            problems.append(f"shard {shard}: checkpoint {current} names itself {lineage.get('key')}")
        digest = file_sha256(path / "model.pt") if (path / "model.pt").is_file() else None
        if digest != lineage.get("weights_sha256") or (current == key and weights and digest != weights):
            problems.append(f"shard {shard}: weights of checkpoint {current} differ from the recorded digest")
        if child_slices is not None and child_slices[: len(slices)] != slices:
            problems.append(f"shard {shard}: checkpoint {current} is not a prefix of its child's id sets")
        leaked = sorted({i for sl in slices for i in sl} & deleted)
        if leaked:
            problems.append(f"shard {shard}: deleted ids {leaked[:5]} are in the lineage (checkpoint {current})")
        child_slices, current = slices, lineage.get("parent")
    return checked


def audit_run(run_dir: str | Path) -> AuditResult:
    """Check the ledger chain, that every request was applied, and every serving model's lineage."""
    run_dir = Path(run_dir)
    problems: list[str] = []
    records = _read_chain(run_dir / LEDGER, problems)
    deleted: set = set()
    pending: dict = {}
    serving, weights, rounds = {}, {}, 0
    for rec in records:
        if rec.get("event") == "request":
            deleted |= set(rec.get("ids", []))
            pending[rec.get("round")] = True
        elif rec.get("event") in ("trained", "applied"):
            pending.pop(rec.get("round"), None)
            serving, weights = rec.get("serving", {}), rec.get("weights", {})
            rounds = max(rounds, rec.get("round", 0))
    if records and not serving:
        problems.append("the ledger names no serving models")
    for r in sorted(pending):
        problems.append(f"deletion request of round {r} was never applied")
    checked = 0
    for shard, key in serving.items():
        checked += _check_lineage(run_dir / "checkpoints", shard, key, deleted, weights.get(shard), problems)
    serving_file = run_dir / "serving.json"
    if serving_file.is_file() and json.loads(serving_file.read_text()).get("serving") != serving:
        problems.append("serving.json disagrees with the ledger's last serving models")
    return AuditResult(ok=not problems, problems=problems, deleted=len(deleted), rounds=rounds,
                       serving=serving, checkpoints_checked=checked)
