"""`babybias unlearn audit`: prove that a run forgot what its ledger says it deleted, or fail loudly.

Checks, each a problem when it fails:

1. the ledger's hash chain, and that it ends at the committed state (`state.json`, `serving.json`);
2. lineage of every serving model: its key re-hashes from its stored id sets (not edited), its weight file
   matches the digest recorded at training time and in the ledger, every ancestor stage is a prefix of it;
3. every checkpoint on disk (serving or not): none was trained on a deleted id, each has a lineage;
4. no state folder but the committed one is left (an interrupted round or purge), and the committed
   state's assignment and examples hold no deleted id;
5. every file under the run directory and the feature cache it used (`traces.scan`): no deleted text, no
   feature row of a deleted example, no deleted id in an id array, no copy of a removed checkpoint.

Deleted ids are recognised by their salted hashes (the ledger keeps nothing else); deleted texts are
recovered for the byte scan from the run's data set, so the audit needs it (a problem otherwise). A deleted
example can share its text or its feature row with a kept one (texts that tokenize alike embed alike: e.g.
templates whose names are all [UNK] to the encoder's tokenizer); such a text or row is the kept example's
own and is not searched for.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from babybias.errors import BabybiasError
from babybias.runs import RunDir, file_sha256
from babybias.unlearn import salted
from babybias.unlearn.features import FeatureStore
from babybias.unlearn.ledger import LEDGER, read_chain
from babybias.unlearn.purge import checkpoint_dirs, lineage_ids
from babybias.unlearn.sisa import SINGLE, stage_key
from babybias.unlearn.state import StateStore
from babybias.unlearn.traces import Traces, scan


@dataclass
class AuditResult:
    ok: bool
    problems: list = field(default_factory=list)
    deleted: int = 0
    rounds: int = 0
    serving: dict = field(default_factory=dict)
    checkpoints_checked: int = 0
    files_scanned: int = 0

    def summary(self) -> str:
        if self.ok:
            return (f"audit passed: {self.deleted} deleted example(s) in {self.rounds} round(s); none is in the "
                    f"lineage of the {len(self.serving)} serving models ({self.checkpoints_checked} checkpoints "
                    f"checked); no trace of them in {self.files_scanned} files of the run and its feature cache")
        return "audit FAILED:\n  " + "\n  ".join(self.problems)


def _shard_index(name: str) -> int:
    return SINGLE if name == "single" else int(name)


def _check_lineage(root: Path, shard: str, key: str, weights: str | None, problems: list) -> int:
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
        child_slices, current = slices, lineage.get("parent")
    return checked


def _deleted(records: list[dict]) -> Traces:
    traces = Traces(salt=records[0].get("salt", "") if records else "")
    for rec in records:
        traces.ids |= set(rec.get("ids", [])) | set(rec.get("calibration_ids", []))
        traces.rows |= set(rec.get("feature_rows", []))
        traces.weights |= {r["weights_sha256"] for r in rec.get("removed", []) if r.get("weights_sha256")}
    return traces


def _deleted_texts(run_dir: Path, records: list[dict], state, problems: list) -> list[bytes]:
    """The deleted examples' texts, recovered from the run's data set through their salted hashes (less any
    text a kept example has too)."""
    hashes = {h for rec in records for h in rec.get("texts", [])}
    if not hashes:
        return []
    try:
        from babybias.data.store import require
        from babybias.unlearn.setup import load_saved_config
        from babybias.unlearn.task import DATASET, build_task

        cfg = load_saved_config(RunDir(run_dir))
        frame = build_task(require(DATASET, cfg.data), cfg.task, cfg.seed).frame
    except Exception as err:  # noqa: BLE001 - any failure means the texts cannot be checked: say why
        problems.append(f"cannot scan for the deleted texts: the run's data set is unavailable ({err})")
        return []
    found = {t for t in frame["text"] if salted.text_hash(state.salt, t) in hashes}
    if len(found) < len(hashes):
        problems.append(f"{len(hashes) - len(found)} deleted text hash(es) match no text of the run's data set")
    kept = set(frame.loc[frame["id"].isin(state.examples["id"]), "text"])
    return [t.encode("utf-8") for t in sorted(found - kept)]


def _kept_rows(run_dir: Path, state) -> set[str]:
    """Salted hashes of the committed feature copy's rows (every one belongs to a kept example)."""
    if not state.features:
        return set()
    try:
        _, rows = FeatureStore(run_dir / "features").load(state.features)
    except BabybiasError:
        return set()  # reported by the scan (a state naming a missing copy cannot train either)
    return set(salted.row_hashes(state.salt, rows))


def _cache_root(run_dir: Path) -> list[Path]:
    try:
        from babybias.unlearn.setup import load_saved_config

        return [Path(load_saved_config(RunDir(run_dir)).paths.cache) / "features"]
    except Exception:  # noqa: BLE001 - an unreadable config is reported by the other checks
        return []


def _state_ids(state, traces: Traces, problems: list) -> None:
    ids = set(int(i) for i in state.assignment.all_ids()) | set(state.examples["id"].astype(int))
    leaked = salted.hashed_members(traces.salt, ids, traces.ids)
    if leaked:
        problems.append(f"the committed state still lists {len(leaked)} deleted id(s)")


def audit_run(run_dir: str | Path) -> AuditResult:
    """All the checks of the module docstring on one run directory."""
    run_dir = Path(run_dir)
    problems: list[str] = []
    store = StateStore(run_dir)
    state = store.current()
    if state is None:
        return AuditResult(ok=False, problems=[f"{run_dir} has no committed state (`state` link)"])
    records = read_chain(state.path / LEDGER, problems)
    traces = _deleted(records)
    last = records[-1] if records else {}
    serving, weights = last.get("serving", {}), last.get("weights", {})
    if last.get("round") != state.round or serving != state.serving or weights != state.weights:
        problems.append("the ledger's last record does not describe the committed state (a record was removed?)")
    serving_file = state.path / "serving.json"
    if not serving_file.is_file() or json.loads(serving_file.read_text()).get("serving") != serving:
        problems.append("serving.json disagrees with the ledger's last serving models")
    checked = sum(_check_lineage(run_dir / "checkpoints", shard, key, weights.get(shard), problems)
                  for shard, key in serving.items())
    lineages = {c: lineage_ids(c) for c in checkpoint_dirs(run_dir)}
    every_id = set().union(*[ids for ids in lineages.values() if ids is not None])
    deleted_ids = set(salted.hashed_members(traces.salt, every_id, traces.ids))  # each id hashed once
    for checkpoint, ids in lineages.items():
        if ids is None:
            problems.append(f"{checkpoint} has no readable lineage: what it was trained on cannot be shown")
        elif ids & deleted_ids:
            problems.append(f"{checkpoint} was trained on {len(ids & deleted_ids)} deleted example(s) and still "
                            "exists")
    for stale in store.stale():
        problems.append(f"{stale} is an old or uncommitted state folder: rerun the command that was interrupted")
    _state_ids(state, traces, problems)
    traces.rows -= _kept_rows(run_dir, state)
    traces.texts = _deleted_texts(run_dir, records, state, problems)
    found, scanned = scan([run_dir, *_cache_root(run_dir)], traces)
    problems += found
    n_deleted = len(traces.ids)
    return AuditResult(ok=not problems, problems=problems, deleted=n_deleted, rounds=state.round,
                       serving=serving, checkpoints_checked=checked, files_scanned=scanned)
