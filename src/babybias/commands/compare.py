"""`babybias compare a=<run> b=<run> [out=DIR]`: correlate two runs' learning dynamics.

Both runs must have a dynamics table (`babybias evaluate run=<run> checkpoints=all`). b's trajectory is
linearly interpolated onto a's fractions of training (see `babybias.analysis.correlation`). Writes

    <out>/aligned.csv              benchmark, category, metric, fraction, step_a, value_a, value_b
    <out>/correlations.csv|.md     Pearson r and Spearman rho with p-values per metric (the .md: overall only)
    <out>/plots/*.png              per headline metric: both trajectories and the a-vs-b scatter

`out` defaults to `<paths.runs>/compare/<a>__vs__<b>`.
"""

from __future__ import annotations

from pathlib import Path

from babybias.analysis.correlation import align, correlations, to_markdown
from babybias.analysis.dynamics import read_table
from babybias.configs.evaluate import CompareConfig
from babybias.errors import ConfigError
from babybias.runs import RunDir, atomic_path, atomic_write_text


def _name(ref: str) -> str:
    path = Path(ref)
    return path.parent.name if path.name == "pretrain" else path.name


def run(cfg: CompareConfig) -> dict:
    if not cfg.a or not cfg.b:
        raise ConfigError("compare needs two runs", fix="pass a=<run> b=<run> (run directories or names)")
    name_a, name_b = _name(cfg.a), _name(cfg.b)
    out = Path(cfg.out) if cfg.out else Path(cfg.paths.runs) / "compare" / f"{name_a}__vs__{name_b}"
    aligned = align(read_table(cfg.a, cfg.paths.runs), read_table(cfg.b, cfg.paths.runs))
    if aligned.empty:
        raise ConfigError(f"runs {name_a} and {name_b} share no metric at overlapping training fractions",
                          fix="evaluate both with the same eval=[...] and checkpoints=all")
    table = correlations(aligned, cfg.min_points)
    RunDir(out).create().write_config(cfg)
    for name, frame in (("aligned.csv", aligned), ("correlations.csv", table)):
        with atomic_path(out / name) as tmp:
            frame.to_csv(tmp, index=False)
    overall = table[table["category"] == "overall"]
    atomic_write_text(out / "correlations.md",
                      to_markdown(overall, f"{name_a} vs {name_b}: learning-dynamics correlations (overall)"))
    plots = []
    if cfg.plots:
        from babybias.analysis.plots import plot_comparison

        plots = plot_comparison(aligned, table, out / "plots", name_a, name_b)
    print(to_markdown(overall, f"{name_a} vs {name_b}"))
    print(f"written to {out}")
    return {"out": str(out), "correlations": table, "plots": [str(p) for p in plots]}
