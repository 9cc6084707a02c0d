"""Learning dynamics: a run's checkpoints, where their evaluations live, and one tidy table of all results.

Layout (pretraining writes the first part, `babybias evaluate` the second):

    runs/<name>/pretrain/config.yaml
    runs/<name>/pretrain/checkpoints/step-0000100/   HF files + state.json (step, tokens_seen, total_steps, fraction)
    runs/<name>/pretrain/model/                      the final model (also with state.json)
    runs/<name>/eval/<checkpoint>/<benchmark>.json   one result file per benchmark variant
    runs/<name>/eval/dynamics.csv|.parquet           the tidy table over checkpoints (+ plots/)

A checkpoint directory outside a run is evaluated into `<its parent>/eval/<its name>/`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from babybias.errors import BabybiasError

TABLE_COLUMNS = ["run", "checkpoint", "step", "tokens_seen", "fraction", "benchmark", "category", "metric", "value",
                 "ci_low", "ci_high"]
"""`ci_low`/`ci_high`: the result file's 95% item-bootstrap interval of the value (NaN where it has none)."""
OVERALL = "overall"


@dataclass(frozen=True)
class Checkpoint:
    """One evaluable checkpoint and where its results go."""

    name: str
    """Directory name (`step-0000100`), or `final` for a run's model/."""
    path: Path
    eval_dir: Path
    step: int | None
    tokens_seen: int | None
    fraction: float | None
    run: str
    """The run's name (the folder above pretrain/), or the checkpoint's parent folder name."""
    run_dir: Path | None = None
    """The pretrain run directory holding it (None for a checkpoint outside a run)."""


def _state(path: Path) -> dict:
    try:
        return json.loads((path / "state.json").read_text())
    except (OSError, ValueError):
        return {}


def _checkpoint(path: Path, name: str, eval_root: Path, run: str, run_dir: Path | None = None) -> Checkpoint:
    state = _state(path)
    fraction = state.get("fraction")
    if fraction is None and state.get("step") is not None and state.get("total_steps"):
        fraction = state["step"] / state["total_steps"]
    return Checkpoint(name, path, eval_root / name, state.get("step"), state.get("tokens_seen"), fraction, run,
                      run_dir)


def is_checkpoint(path: Path) -> bool:
    return (path / "config.json").is_file()


def resolve_run(ref: str, runs_root: str | Path) -> Path:
    """A pretrain run directory from a path (run dir, its parent runs/<name>) or a run name."""
    ref_path = Path(ref)
    candidates = (ref_path, ref_path / "pretrain", Path(runs_root) / ref / "pretrain", Path(runs_root) / ref)
    for candidate in candidates:
        if (candidate / "checkpoints").is_dir() or is_checkpoint(candidate / "model"):
            return candidate
    started = next((c for c in candidates if (c / "config.yaml").is_file()), None)
    if started is not None:
        raise BabybiasError(f"pretrain run {started} exists but has no checkpoint yet (it stopped, or is still "
                            "running, before its first checkpoint)",
                            fix=f"rerun `babybias pretrain name={started.parent.name}` to resume or finish it, or wait "
                                "for its first train.checkpoint_steps")
    raise BabybiasError(f"no pretrain run or checkpoint found for {ref!r}",
                        fix="pass a checkpoint directory, a run directory (runs/<name>/pretrain) or a run name")


def eval_root_of(run_dir: str | Path) -> Path:
    """Where the evaluations of a pretrain run live: runs/<name>/eval for runs/<name>/pretrain. A run folder of
    any other name (`pretrain-dryrun` beside `pretrain`, runs copied side by side into one folder) keeps them
    inside itself, `<run>/eval`: two runs never share an eval folder, so neither's results are overwritten by,
    paired with or reported as the other's."""
    run_dir = Path(run_dir)
    return run_dir.parent / "eval" if run_dir.name == "pretrain" else run_dir / "eval"


def clear_evaluations(run_dir: str | Path) -> bool:
    """Delete the evaluations of a pretrain run that starts over (its checkpoints are being replaced, so no
    stored number belongs to them any more); True when there were some. Results are also keyed on the weights'
    sha256 (`babybias.results`), so this only spares stale tables, plots and files."""
    from babybias.integrity import discard
    from babybias.runs import run_lock

    root = eval_root_of(run_dir)
    if not root.exists():
        return False
    with run_lock(root, "babybias pretrain (starting over)"):  # not under a running `babybias evaluate`
        discard(root)  # moved aside first: a later evaluate starts a fresh folder (and lock)
    return True


def run_checkpoints(run_dir: Path) -> list[Checkpoint]:
    """Every checkpoint of a pretrain run, sorted by step; model/ is listed as `final` unless a
    checkpoints/step-* directory already has its step."""
    run_dir = Path(run_dir)
    run_name, eval_root = run_dir.parent.name, eval_root_of(run_dir)
    found = [_checkpoint(p, p.name, eval_root, run_name, run_dir)
             for p in sorted((run_dir / "checkpoints").glob("step-*")) if is_checkpoint(p)]
    if is_checkpoint(run_dir / "model"):
        final = _checkpoint(run_dir / "model", "final", eval_root, run_name, run_dir)
        if final.step is None:
            final = _final_without_state(final, run_dir, found)
        if final.step is None or final.step not in {c.step for c in found}:
            found.append(final)
    return sorted(found, key=lambda c: (c.step is None, c.step or 0, c.name))


def _final_without_state(final: Checkpoint, run_dir: Path, found: list[Checkpoint]) -> Checkpoint:
    """model/ without state.json: step = the run's train.steps (fraction 1); tokens from the last checkpoint's rate."""
    from dataclasses import replace

    from omegaconf import OmegaConf

    try:
        steps = int(OmegaConf.load(run_dir / "config.yaml").train.steps)
    except Exception:  # no config or no train.steps: leave the step unknown
        return final
    last = next((c for c in reversed(found) if c.step and c.tokens_seen), None)
    tokens = round(last.tokens_seen / last.step * steps) if last else None
    return replace(final, step=steps, tokens_seen=tokens, fraction=1.0)


def select_checkpoints(ref: str, which, runs_root: str | Path) -> list[Checkpoint]:
    """The checkpoints named by `checkpoint=`/`run=` and `checkpoints=final|all|[steps]`."""
    path = Path(ref)
    if is_checkpoint(path):
        if path.parent.name == "checkpoints":
            run_dir = path.parent.parent
            return [_checkpoint(path, path.name, eval_root_of(run_dir), run_dir.parent.name, run_dir)]
        if path.name == "model" and (path.parent / "config.yaml").is_file():
            run_dir = path.parent
            return [_checkpoint(path, "final", eval_root_of(run_dir), run_dir.parent.name, run_dir)]
        return [_checkpoint(path, path.name, path.parent / "eval", path.parent.name)]
    every = run_checkpoints(resolve_run(ref, runs_root))
    if not every:
        raise BabybiasError(f"run {ref!r} has no checkpoints yet", fix="wait for pretraining to save one")
    if which == "all":
        return every
    if which == "final":
        finals = [c for c in every if c.name == "final"]
        return finals or every[-1:]
    steps = {int(s) for s in which}
    chosen = [c for c in every if c.step in steps]
    missing = sorted(steps - {c.step for c in chosen})
    if missing:
        raise BabybiasError(f"run {ref!r} has no checkpoint at steps {missing}",
                            fix=f"choose from checkpoints=[{','.join(str(c.step) for c in every)}]")
    return chosen


# ---------------------------------------------------------------- the tidy table
def result_records(result: dict) -> Iterable[tuple[str, str, float]]:
    """(category, metric, value) for every numeric summary/per-category entry of one result file.

    SEAT's per-test effect sizes and p-values (in its per-example rows) are added as categories.
    """
    def numeric(items):
        for key, value in items:
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                yield key, float(value)

    for metric, value in numeric(result.get("summary", {}).items()):
        yield OVERALL, metric, value
    for category, values in sorted(result.get("per_category", {}).items()):
        for metric, value in numeric(values.items()):
            yield category, metric, value
    for row in result.get("tests", []):
        for metric in ("effect_size", "p_value"):
            if row.get(metric) is not None:
                yield row["test"], metric, float(row[metric])


def result_intervals(result: dict) -> dict[tuple[str, str], tuple[float, float]]:
    """(category, metric) -> (low, high) from a result file's `intervals`.

    Keys are summary keys (category `overall`; BLiMP's "field/<name>" is one) or "<category>/<metric>".
    """
    summary = result.get("summary", {})
    out = {}
    for key, interval in (result.get("intervals") or {}).items():
        category, _, metric = (OVERALL, "", key) if key in summary else key.rpartition("/")
        if isinstance(interval, dict):
            out[category or OVERALL, metric] = (_number(interval.get("low")), _number(interval.get("high")))
    return out


def _number(value) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan


def dynamics_table(checkpoints: list[Checkpoint], stems: list[str]):
    """pandas DataFrame with TABLE_COLUMNS: one row per (checkpoint, benchmark, category, metric)."""
    import pandas as pd

    rows = []
    for ckpt in checkpoints:
        for stem in stems:
            path = ckpt.eval_dir / f"{stem}.json"
            if not path.is_file():
                continue
            try:
                result = json.loads(path.read_text())
            except ValueError:  # a garbled result: named, not tabulated (rerun with force=true to recompute it)
                print(f"warning: {path} is not valid JSON; left out of the table (evaluate force=true recomputes it)")
                continue
            intervals = result_intervals(result)
            for category, metric, value in result_records(result):
                rows.append([ckpt.run, ckpt.name, ckpt.step, ckpt.tokens_seen, ckpt.fraction, stem, category,
                             metric, value, *intervals.get((category, metric), (math.nan, math.nan))])
    table = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    return table.sort_values(["benchmark", "category", "metric", "step"], kind="stable").reset_index(drop=True)


def write_table(table, folder: Path, name: str = "dynamics") -> list[Path]:
    """Write `<name>.csv` and `<name>.parquet` atomically; returns the paths."""
    from babybias.runs import atomic_path

    paths = [folder / f"{name}.csv", folder / f"{name}.parquet"]
    with atomic_path(paths[0]) as tmp:
        table.to_csv(tmp, index=False)
    with atomic_path(paths[1]) as tmp:
        table.to_parquet(tmp, index=False)
    return paths


def read_table(run_ref: str, runs_root: str | Path):
    """A run's dynamics table, or a BabybiasError telling how to make it."""
    import pandas as pd

    run_dir = resolve_run(run_ref, runs_root)
    path = eval_root_of(run_dir) / "dynamics.csv"
    if not path.is_file():
        raise BabybiasError(f"{path} does not exist", fix=f"run `babybias evaluate run={run_ref} checkpoints=all` first")
    table = pd.read_csv(path)
    if table["fraction"].isna().all():
        raise BabybiasError(f"{path}: no checkpoint has a training fraction",
                            fix="checkpoints need state.json with step/total_steps")
    return table


def is_finite(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)
