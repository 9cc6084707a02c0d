"""The seed paper's performance table: BabyLM fast-set accuracies of each evaluated checkpoint, wide.

One row per checkpoint (a learning curve with `checkpoints=all`), columns named as the seed authors' table:
`blimp`, `blimp_s`, `ewok` (macro accuracy %, temperature 1, from `blimp_fast`, `blimp_supplement`, `ewok`
results), `<column>_best` and `<column>_best_temperature` (the best of the temperature sweep), then one column
per paradigm / file / domain: `blimp/<paradigm>`, `blimp_s/<file>`, `ewok/<domain>` (T = 1).

Beware the name clash this table inherits from the seed paper: its `blimp` is the 67 x 200 fast subset
(`blimp_fast.json`); the `blimp` *benchmark* of `babybias evaluate` (`blimp.json`) is the full 67 x 1,000.
"""

from __future__ import annotations

import json
from pathlib import Path

from babybias.analysis.dynamics import Checkpoint

ID_COLUMNS = ["run", "checkpoint", "step", "tokens_seen", "fraction"]


def performance_table(checkpoints: list[Checkpoint], stems: dict[str, str]):
    """pandas DataFrame: one row per checkpoint with any result; `stems` maps benchmark -> result file stem."""
    import pandas as pd

    from babybias.metrics.babylm import COLUMN

    rows, per_uid = [], []
    for ckpt in checkpoints:
        row, detail = {"run": ckpt.run, "checkpoint": ckpt.name, "step": ckpt.step, "tokens_seen": ckpt.tokens_seen,
                       "fraction": ckpt.fraction}, {}
        for benchmark, stem in stems.items():
            path = ckpt.eval_dir / f"{stem}.json"
            if benchmark not in COLUMN or not path.is_file():
                continue
            result = json.loads(path.read_text())
            column, summary = COLUMN[benchmark], result.get("summary", {})
            row[column] = summary.get("accuracy")
            row[f"{column}_best"] = summary.get("accuracy_best_temperature")
            row[f"{column}_best_temperature"] = summary.get("best_temperature")
            detail.update({f"{column}/{uid}": values.get("accuracy")
                           for uid, values in sorted(result.get("per_category", {}).items())})
        if len(row) > len(ID_COLUMNS):
            rows.append(row)
            per_uid.append(detail)
    table = pd.DataFrame(rows)
    if rows:
        table = pd.concat([table, pd.DataFrame(per_uid)], axis=1)
        table = table.sort_values(["run", "step"], kind="stable", na_position="last").reset_index(drop=True)
    return table


def write_performance_table(table, folder: Path, name: str = "babylm") -> list[Path]:
    """`<name>.csv` (every column) and `<name>.md` (the headline columns) written atomically."""
    from babybias.analysis.correlation import to_markdown
    from babybias.runs import atomic_path, atomic_write_text

    csv = folder / f"{name}.csv"
    with atomic_path(csv) as tmp:
        table.to_csv(tmp, index=False)
    headline = [c for c in table.columns if "/" not in c and c not in ("tokens_seen", "fraction")]
    md = atomic_write_text(folder / f"{name}.md", to_markdown(table[headline], "BabyLM fast set (seed paper columns)"))
    return [csv, md]
