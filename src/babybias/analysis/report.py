"""Gather runs into tables: every run's config.yaml and metrics in one tidy (long) pandas table.

A run is any folder with a `config.yaml` written by a babybias command (its `command` key says which). What is
read, per command:

    pretrain  metrics.jsonl (training/validation loss per step), DONE (final numbers), corpus.json (manifest),
              and the evaluations beside it: runs/<name>/eval/<checkpoint>/<benchmark>.json
    unlearn   fairness.csv (accuracy and fairness gaps per method, deletion round and evaluation set)
    compare   aligned.csv (two runs' metrics at the same fractions of training)
    study     results.csv (a study's own table), when present

`metrics` is the tidy table (one row per run, source, checkpoint/step, benchmark, category, metric, value);
`runs` has one row per run with the configuration fields a reader compares runs by. An evaluation's
`benchmark` is its variant (file stem), so each variant is its own column; `gather` refuses to put results
that differ in scoring precision or options (e.g. fp32 and bf16 scores, two CrowS-Pairs scorings) in one
column (`babybias.results.check_columns`).
"""

from __future__ import annotations

import glob
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

from babybias.results import check_columns, check_interval_levels

TIDY_COLUMNS = ["run", "command", "source", "checkpoint", "step", "fraction", "group", "benchmark", "category",
                "metric", "value", "ci_low", "ci_high"]
"""`ci_low`/`ci_high`: the item-bootstrap interval of an evaluation value (NaN where there is none), at the level
`Gathered.ci_level` (95% by default; one level per report)."""
NO_CI = (math.nan, math.nan)
TRAIN_METRICS = ("loss", "validation_loss")
# config fields shown in the runs table (dotted paths into config.yaml), when a run has them
RUN_FIELDS = {"name": "name", "seed": "seed", "model": "model.name", "corpus": "corpus.mutation",
              "steps": "train.steps", "debias": "debias.method", "shards": "sisa.shards"}


@dataclass
class Gathered:
    runs: Any
    """pandas DataFrame: one row per run (run, command, path, done, and RUN_FIELDS where present)."""
    metrics: Any
    """pandas DataFrame with TIDY_COLUMNS."""
    aligned: Any
    """pandas DataFrame: compare runs' aligned.csv rows, with a `run` column."""
    studies: Dict[str, Any] = field(default_factory=dict)
    """study run -> its results.csv as a DataFrame."""
    ci_level: Optional[float] = None
    """The confidence level of every evaluation interval in `metrics` (one level per report; None: no interval)."""


def find_run_dirs(pattern: str) -> List[Path]:
    """Folders with a babybias config.yaml at or below anything `pattern` (a glob, `**` allowed) matches."""
    found = set()
    for match in glob.glob(pattern, recursive=True):
        path = Path(match)
        if path.is_file():
            path = path.parent
        candidates = [path] + [p.parent for p in path.rglob("config.yaml")] if path.is_dir() else []
        for folder in candidates:
            if _is_run(folder):
                found.add(folder.resolve())
    return sorted(found)


def _is_run(folder: Path) -> bool:
    cfg = folder / "config.yaml"
    if not cfg.is_file() or folder.name == ".hydra" or folder.parent.name == "eval":
        return False
    return _load_yaml(cfg).get("command", "report") != "report"  # a report's own folder is not a run


def _load_yaml(path: Path) -> dict:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def _select(cfg: dict, dotted: str) -> Any:
    node: Any = cfg
    for key in dotted.split("."):
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def run_label(path: Path, root: Path) -> str:
    """A short, unique name for a run: its path below the common root of all runs."""
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def gather(pattern: str) -> Gathered:
    """Read every run below `pattern` into the runs table, the tidy metrics table and the side tables."""
    import os

    import pandas as pd

    paths = find_run_dirs(pattern)
    # labels are paths below the common folder of the runs' grandparents: runs/x/seed=0/pretrain -> seed=0/pretrain
    root = Path(os.path.commonpath([str(p.parent.parent) for p in paths])) if paths else Path(".")
    run_rows: List[dict] = []
    rows: List[list] = []
    aligned: List[Any] = []
    studies: Dict[str, Any] = {}
    evaluations: List[tuple] = []  # (column, where, result) of every evaluation read
    for path in paths:
        cfg = _load_yaml(path / "config.yaml")
        label, command = run_label(path, root), str(cfg.get("command"))
        run_rows.append(_run_row(path, label, command, cfg))
        if command == "pretrain":
            rows += _train_rows(path, label)
            rows += _eval_rows(path, label, evaluations)
        elif command == "unlearn":
            rows += _unlearn_rows(path, label)
        elif command == "compare" and (path / "aligned.csv").is_file():
            aligned.append(pd.read_csv(path / "aligned.csv").assign(run=label))
        elif command == "study" and (path / "results.csv").is_file():
            studies[label] = pd.read_csv(path / "results.csv")
    check_columns(evaluations)
    level = check_interval_levels(evaluations)
    metrics = pd.DataFrame(rows, columns=TIDY_COLUMNS)
    runs = pd.DataFrame(run_rows)
    if not runs.empty:
        runs = runs.sort_values(["command", "run"], kind="stable").reset_index(drop=True)
    return Gathered(runs, metrics, pd.concat(aligned, ignore_index=True) if aligned else pd.DataFrame(), studies,
                    level)


def _run_row(path: Path, label: str, command: str, cfg: dict) -> dict:
    row: Dict[str, Any] = {"run": label, "command": command, "path": str(path), "done": (path / "DONE").exists()}
    for column, dotted in RUN_FIELDS.items():
        value = _select(cfg, dotted)
        if value is not None:
            row[column] = value
    ratio = female_ratio(path, cfg)
    if ratio is not None:
        row["female_ratio"] = ratio
    if row["done"] and command == "pretrain":
        try:
            done = json.loads((path / "DONE").read_text())
        except (OSError, ValueError):
            done = {}
        for key in ("final_loss", "validation_loss"):
            if isinstance(done.get(key), (int, float)):
                row[key] = done[key]
    return row


def female_ratio(path: Path, cfg: dict) -> Optional[float]:
    """The corpus's female share: measured (corpus.json manifest) if recorded, else the `imbalanced` target."""
    try:
        manifest = json.loads((path / "corpus.json").read_text()).get("manifest", {})
    except (OSError, ValueError):
        manifest = {}
    for key in ("female_ratio_after", "female_ratio"):
        if isinstance(manifest.get(key), (int, float)):
            return float(manifest[key])
    if _select(cfg, "corpus.mutation") == "imbalanced" and _select(cfg, "corpus.female_ratio") is not None:
        return float(_select(cfg, "corpus.female_ratio"))
    return None


def _train_rows(path: Path, label: str) -> List[list]:
    from babybias.runs import read_jsonl

    rows = []
    for record in read_jsonl(path / "metrics.jsonl"):
        if "event" in record or "step" not in record:
            continue
        for metric in TRAIN_METRICS:
            value = record.get(metric)
            if isinstance(value, (int, float)):
                rows.append([label, "pretrain", "train", None, record["step"], record.get("fraction"), None,
                             "train", "overall", metric, float(value), *NO_CI])
    return rows


def _eval_rows(path: Path, label: str, seen: Optional[List[tuple]] = None) -> List[list]:
    """<eval root>/<checkpoint>/<benchmark>.json of the pretrain run at `path` (runs/<name>/eval for
    runs/<name>/pretrain, `dynamics.eval_root_of`: a pretrain-dryrun beside it has its own); each result
    read is also appended to `seen` as (column, where, result)."""
    from babybias.analysis.dynamics import eval_root_of, result_intervals, result_records

    eval_root = eval_root_of(path)
    rows = []
    for result_path in sorted(eval_root.glob("*/*.json")):
        try:
            result = json.loads(result_path.read_text())
        except (OSError, ValueError):
            continue
        ckpt_name = result_path.parent.name
        step, fraction = _checkpoint_position(path, ckpt_name, result)
        benchmark = result_path.stem
        intervals = result_intervals(result)
        if seen is not None:
            seen.append((benchmark, f"{label}/{ckpt_name}", result))
        for category, metric, value in result_records(result):
            rows.append([label, "pretrain", "eval", ckpt_name, step, fraction, None, benchmark, category, metric,
                         value, *intervals.get((category, metric), NO_CI)])
    return rows


def _checkpoint_position(run: Path, name: str, result: dict) -> tuple[Optional[int], Optional[float]]:
    info = result.get("checkpoint") if isinstance(result.get("checkpoint"), dict) else {}
    if info.get("step") is None:
        folder = run / "model" if name == "final" else run / "checkpoints" / name
        try:
            info = json.loads((folder / "state.json").read_text())
        except (OSError, ValueError):
            info = {}
    step, fraction = info.get("step"), info.get("fraction")
    if fraction is None and step is not None and info.get("total_steps"):
        fraction = step / info["total_steps"]
    return step, fraction


def _unlearn_rows(path: Path, label: str) -> List[list]:
    import pandas as pd

    table_path = path / "fairness.csv"
    if not table_path.is_file():
        return []
    table = pd.read_csv(table_path)
    value_columns = [c for c in table.columns if c not in ("round", "eval_set", "method", "n")]
    rows = []
    for record in table.to_dict("records"):
        for metric in value_columns:
            if pd.notna(record.get(metric)):
                rows.append([label, "unlearn", "fairness", None, record.get("round"), None, record.get("method"),
                             "fairness", record.get("eval_set", "overall"), metric, float(record[metric]), *NO_CI])
    return rows


def headline_rows(frame: Any) -> Any:
    """The rows whose (benchmark, metric) is a headline metric (see babybias.analysis.plots.HEADLINE)."""
    from babybias.analysis.plots import headline_metrics

    mask = [m in headline_metrics(b) for b, m in zip(frame["benchmark"], frame["metric"])]
    return frame.loc[frame.index[mask]] if len(frame) else frame


CI_SUFFIXES = (" ci_low", " ci_high")
"""`final_eval(..., intervals=True)` names a metric column's interval bounds `<column> ci_low|ci_high`."""


def _last_checkpoint_rows(metrics: Any) -> Any:
    """The overall headline eval rows of each run's last evaluated checkpoint only (a benchmark not evaluated
    there is absent: an earlier checkpoint's number is never shown as the run's final one)."""
    rows = headline_rows(metrics[(metrics["source"] == "eval") & (metrics["category"] == "overall")])
    if rows.empty:
        return rows
    rows = rows.assign(order=rows["step"].fillna(float("inf")))
    return rows[rows["order"] == rows.groupby("run")["order"].transform("max")]


def last_evaluated(metrics: Any) -> Any:
    """One row per run: `run`, `eval_checkpoint` (the checkpoint `final_eval`'s numbers come from)."""
    import pandas as pd

    rows = _last_checkpoint_rows(metrics)
    if rows.empty:
        return pd.DataFrame(columns=["run", "eval_checkpoint"])
    last = rows.drop_duplicates("run", keep="last")
    return pd.DataFrame({"run": last["run"], "eval_checkpoint": last["checkpoint"]}).reset_index(drop=True)


def final_eval(metrics: Any, intervals: bool = False) -> Any:
    """Each run's overall eval metrics at its last evaluated checkpoint (`last_evaluated`; only that checkpoint's
    results): one row per run, one column per metric.

    With `intervals`, each metric column `<benchmark>.<metric>` is followed by its 95% CI bounds
    `<benchmark>.<metric> ci_low` and `... ci_high` (NaN where the result file has no interval).
    """
    import pandas as pd

    rows = _last_checkpoint_rows(metrics)
    if rows.empty:
        return pd.DataFrame()
    # the last row itself (groupby.last would take each column's last non-null value, mixing rows)
    last = rows.sort_values("order", kind="stable").drop_duplicates(["run", "benchmark", "metric"], keep="last")
    last = last.assign(column=last["benchmark"] + "." + last["metric"])
    table = last.pivot(index="run", columns="column", values="value")
    if intervals:
        bounds = [last.pivot(index="run", columns="column", values=c).add_suffix(f" {c}") for c in ("ci_low", "ci_high")]
        table = pd.concat([table, *bounds], axis=1)
        order = [c for column in sorted(last["column"].unique()) for c in (column, *(column + s for s in CI_SUFFIXES))]
        table = table[order]
    return table.reset_index().rename_axis(columns=None)
