"""The committed state of an unlearning run, versioned so that a round is all-or-nothing.

Everything a round changes, except the content-addressed checkpoints and feature copies it adds, lives in
one state folder `states/<round>/`: `state.json` (round, serving checkpoints and their weight digests, the
feature copy in use), `assignment.json` (shard/slice ids still trained on), `examples.csv` (the examples not
deleted: id, split, group, label, term), `ledger.jsonl`, and the tables and plots of every round so far.
`state` is a symbolic link to the current folder. A round writes its folder under a temporary name,
renames it to `states/<round>`, then swaps the link with one atomic rename (the commit). A kill before the
swap leaves the old state whole (the half-written folder is garbage); after it, the new one. Readers follow
`state` (and the convenience links beside it: `ledger.jsonl`, `fairness.csv`, ...), so they never see a mix.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pandas as pd

from babybias.failpoints import failpoint
from babybias.runs import TMP_MARK
from babybias.unlearn.ledger import LEDGER, Ledger
from babybias.unlearn.sisa import Assignment

LINK = "state"
STATES = "states"
EXAMPLE_COLUMNS = ["id", "split", "group", "label", "term"]
VIEWS = (LEDGER, "serving.json", "summary.json", "assignment.json", "examples.csv", "costs.csv", "costs.md",
         "fairness.csv", "fairness.md", "membership.csv", "membership.md", "tradeoff.png", "membership.png",
         "rounds")
"""Links in the run directory to the same names in the current state (what users and reports read)."""


@dataclass
class State:
    """One committed state folder."""

    path: Path
    round: int
    serving: dict
    weights: dict
    features: str | None
    """Digest of the run's feature copy in use (`FeatureStore`); None for full fine-tuning."""

    @property
    def assignment(self) -> Assignment:
        return Assignment.load(self.path / "assignment.json")

    @property
    def examples(self) -> pd.DataFrame:
        return pd.read_csv(self.path / "examples.csv", keep_default_na=False, na_values=[""])

    @property
    def ledger(self) -> Ledger:
        return Ledger(self.path / LEDGER)

    @property
    def salt(self) -> str:
        return self.ledger.records()[0]["salt"]

    @classmethod
    def load(cls, path: Path) -> "State":
        info = json.loads((path / "state.json").read_text())
        return cls(path=path, round=int(info["round"]), serving=info["serving"], weights=info["weights"],
                   features=info.get("features"))


def write_state_files(folder: Path, round_: int, serving: dict, weights: dict, features: str | None,
                      assignment: Assignment, examples: pd.DataFrame) -> None:
    """The small files of a state folder being staged (tables and ledger are written by the round)."""
    (folder / "state.json").write_text(json.dumps({"round": round_, "serving": serving, "weights": weights,
                                                   "features": features}, indent=2, sort_keys=True))
    (folder / "serving.json").write_text(json.dumps({"round": round_, "serving": serving}, indent=2, sort_keys=True))
    (folder / "assignment.json").write_text(json.dumps(assignment.to_json()))
    examples[EXAMPLE_COLUMNS].sort_values("id").to_csv(folder / "examples.csv", index=False)


class StateStore:
    """`states/<round>/` folders of one run directory and the `state` link that commits one of them."""

    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir)
        self.root = self.run_dir / STATES
        self.link = self.run_dir / LINK

    def current(self) -> State | None:
        """The committed state, or None before round 0 is committed."""
        if not self.link.is_symlink():
            return None
        return State.load(self.run_dir / os.readlink(self.link))

    @contextmanager
    def staging(self, base: State | None) -> Iterator[Path]:
        """A fresh folder to write the next state into, starting as a copy of `base`'s round tables and
        ledger; removed if the block fails (a kill leaves it behind as garbage that the purge removes)."""
        self.root.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix=f".next{TMP_MARK}", dir=self.root))
        try:
            if base is not None:
                for name in ("rounds", LEDGER, "costs.csv", "fairness.csv", "membership.csv"):
                    source = base.path / name
                    if source.is_dir():
                        shutil.copytree(source, folder / name)
                    elif source.is_file():
                        shutil.copy2(source, folder / name)
            yield folder
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise

    def commit(self, staged: Path, round_: int) -> State:
        """Make `staged` the state of round `round_`: rename it into place, then swap the link atomically."""
        target = self.root / str(round_)
        current = self.current()
        if target.exists() and (current is None or current.path.resolve() != target.resolve()):
            shutil.rmtree(target)  # a folder an interrupted attempt renamed but never committed
        os.rename(staged, target)
        failpoint(f"round-{round_}/renamed")
        tmp_link = self.run_dir / f".{LINK}.link-{os.getpid()}"
        tmp_link.unlink(missing_ok=True)
        os.symlink(os.path.join(STATES, str(round_)), tmp_link)
        os.replace(tmp_link, self.link)  # the commit
        failpoint(f"round-{round_}/committed")
        self.ensure_views()
        return State.load(target)

    def ensure_views(self) -> None:
        """Links `<run>/<name> -> state/<name>` for the names in VIEWS that the current state holds (the link
        they go through moves with each commit, so they are made once; a kill right after a commit leaves them
        to the next purge, which every rerun starts with)."""
        current = self.current()
        for name in VIEWS:
            view = self.run_dir / name
            wanted = current is not None and (current.path / name).exists()
            if view.is_symlink() and os.readlink(view) == os.path.join(LINK, name) and wanted:
                continue
            if view.is_dir() and not view.is_symlink():
                shutil.rmtree(view)
            else:
                view.unlink(missing_ok=True)
            if wanted:
                os.symlink(os.path.join(LINK, name), view)

    def stale(self) -> list[Path]:
        """State folders other than the committed one (old rounds, uncommitted or half-written attempts)."""
        current = self.current()
        keep = current.path.resolve() if current else None
        return [p for p in sorted(self.root.iterdir()) if p.resolve() != keep] if self.root.is_dir() else []
