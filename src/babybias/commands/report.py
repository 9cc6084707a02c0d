"""`babybias report runs='<glob>' [out=DIR] [title=...]`: one tidy table of runs, plots, HTML and markdown.

Writes into `out` (default <paths.runs>/reports/<name>):

    metrics.csv|.parquet   the tidy table (babybias.analysis.report.TIDY_COLUMNS)
    runs.csv               one row per run: its configuration and final numbers (with `<metric> ci_low|ci_high`)
    *.png                  the plots whose data exists
    report.html            self-contained (plots inlined)     report.md   (plots beside it)
    config.yaml            the resolved report config (`babybias rerun <out>` redraws it; never gathered as a run)
"""

from __future__ import annotations

from pathlib import Path

from babybias.configs.study import ReportConfig
from babybias.errors import BabybiasError


def run(cfg: ReportConfig) -> Path:
    from babybias.analysis.report import gather
    from babybias.runs import run_lock

    gathered = gather(cfg.runs)
    if gathered.runs.empty:
        raise BabybiasError(f"no runs (folders with a babybias config.yaml) match runs={cfg.runs!r}",
                            fix="pass runs='runs/<name>/**' (quote the glob so the shell leaves it alone)")
    out = Path(cfg.out) if cfg.out else Path(cfg.paths.runs) / "reports" / cfg.name
    out.mkdir(parents=True, exist_ok=True)
    with run_lock(out, "babybias report"):  # one writer of the report folder at a time
        return _write_report(cfg, gathered, out)


def _write_report(cfg: ReportConfig, gathered, out: Path) -> Path:
    from babybias.analysis.dynamics import write_table
    from babybias.analysis.report import final_eval, last_evaluated
    from babybias.analysis.report_html import all_plots, render, with_intervals_shown
    from babybias.runs import atomic_path
    from babybias.uncertainty import DEFAULT_LEVEL, level_label

    write_table(gathered.metrics, out, "metrics")
    finals = final_eval(gathered.metrics, intervals=True)
    main = gathered.runs.drop(columns=["path"])
    if not finals.empty:  # which checkpoint the numbers are from, then the numbers
        main = main.merge(last_evaluated(gathered.metrics), on="run", how="left").merge(finals, on="run", how="left")
    with atomic_path(out / "runs.csv") as tmp:
        main.to_csv(tmp, index=False)
    plots = all_plots(gathered, finals, out)
    level = level_label(gathered.ci_level or DEFAULT_LEVEL)
    sections = [(f"Runs (final evaluation: value [{level} item-bootstrap CI])", with_intervals_shown(main))]
    sections += [(f"Study table: {name}", table) for name, table in gathered.studies.items()]
    note = (f"{len(main)} runs matching {cfg.runs}; {len(gathered.metrics)} metric rows in metrics.csv "
            f"(columns: {', '.join(gathered.metrics.columns)}).")
    html_path, md_path = render(cfg.title, sections, plots, out, note)
    from babybias.runs import RunDir

    RunDir(out).write_config(cfg)
    print(f"report: {html_path}\n        {md_path}\n{len(main)} runs, {len(plots)} plots")
    return out
