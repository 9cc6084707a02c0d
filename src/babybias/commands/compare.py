"""`babybias compare a=<run> b=<run> [out=DIR]`: two runs side by side.

1. **Learning dynamics** (when both runs have a dynamics table, `babybias evaluate run=<run> checkpoints=all`):
   b's trajectory is linearly interpolated onto a's fractions of training and each metric's two trajectories
   are correlated (see `babybias.analysis.correlation`; n is stated, p-values withheld below 5 points unless
   `small_n_p_values=true`).
2. **Paired test** (`paired=true`, when both final checkpoints, or `checkpoint_a=`/`checkpoint_b=` steps,
   have per-example results): each score of a minus b on the same items, with a paired-bootstrap 95% CI and
   p-value, and McNemar's exact test for CrowS-Pairs (see `babybias.analysis.paired`).

Writes

    <out>/aligned.csv              benchmark, category, metric, fraction, step_a, value_a, value_b
    <out>/correlations.csv|.md     Pearson r and Spearman rho with n and p-values per metric (the .md: overall only)
    <out>/paired.csv|.md           the paired tests (the .md: overall only)
    <out>/plots/*.png              per headline metric: both trajectories and the a-vs-b scatter; paired differences

`out` defaults to `<paths.runs>/compare/<a>__vs__<b>`. At least one of the two parts must be possible.
"""

from __future__ import annotations

from pathlib import Path

from babybias.analysis.correlation import P_VALUE_MIN_POINTS, align, correlations, to_markdown
from babybias.analysis.dynamics import read_table, select_checkpoints
from babybias.configs.evaluate import CompareConfig
from babybias.errors import BabybiasError, ConfigError
from babybias.runs import RunDir, atomic_path, atomic_write_text


def _name(ref: str) -> str:
    path = Path(ref)
    return path.parent.name if path.name == "pretrain" else path.name


def _write_csv(frame, path: Path) -> None:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def correlate_dynamics(cfg: CompareConfig, out: Path, name_a: str, name_b: str) -> dict:
    """Part 1: aligned.csv, correlations.csv|md and the trajectory plots; raises BabybiasError when impossible."""
    aligned = align(read_table(cfg.a, cfg.paths.runs), read_table(cfg.b, cfg.paths.runs))
    if aligned.empty:
        raise ConfigError(f"runs {name_a} and {name_b} share no metric at overlapping training fractions",
                          fix="evaluate both with the same eval=[...] and checkpoints=all")
    table = correlations(aligned, cfg.min_points, cfg.small_n_p_values)
    out.mkdir(parents=True, exist_ok=True)
    _write_csv(aligned, out / "aligned.csv")
    _write_csv(table, out / "correlations.csv")
    overall = table[table["category"] == "overall"]
    note = (f"n_points = aligned checkpoints. Checkpoints of one run are autocorrelated, so the p-values overstate "
            f"the evidence; they are withheld (nan) where n < {P_VALUE_MIN_POINTS}"
            + (" (shown here: small_n_p_values=true)." if cfg.small_n_p_values else " (small_n_p_values=true shows them)."))
    text = to_markdown(overall, f"{name_a} vs {name_b}: learning-dynamics correlations (overall)") + f"\n{note}\n"
    atomic_write_text(out / "correlations.md", text)
    plots = []
    if cfg.plots:
        from babybias.analysis.plots import plot_comparison

        plots = plot_comparison(aligned, table, out / "plots", name_a, name_b)
    print(text)
    return {"correlations": table, "plots": [str(p) for p in plots]}


def _eval_dir(ref: str, which, runs_root: str) -> Path:
    return select_checkpoints(ref, "final" if which == "final" else [int(which)], runs_root)[0].eval_dir


def paired_tests(cfg: CompareConfig, out: Path, name_a: str, name_b: str) -> dict:
    """Part 2: paired.csv|md and the differences plot; raises BabybiasError when nothing can be paired."""
    from babybias.analysis.paired import paired_table
    from babybias.uncertainty import level_label

    eval_a = _eval_dir(cfg.a, cfg.checkpoint_a, cfg.paths.runs)
    eval_b = _eval_dir(cfg.b, cfg.checkpoint_b, cfg.paths.runs)
    variants = list(cfg.variants) if cfg.variants is not None else None
    table, notes = paired_table(eval_a, eval_b, cfg.bootstrap.resampling(), variants)
    if table.empty:
        why = f" ({'; '.join(notes)})" if notes else ""
        raise BabybiasError(f"no per-example results to pair in {eval_a} and {eval_b}{why}",
                            fix=f"evaluate both checkpoints on the same benchmarks, e.g. "
                                f"`babybias evaluate run={cfg.a}` and `babybias evaluate run={cfg.b}`")
    out.mkdir(parents=True, exist_ok=True)
    _write_csv(table, out / "paired.csv")
    overall = table[table["category"] == "overall"]
    title = (f"{name_a} ({eval_a.name}) minus {name_b} ({eval_b.name}): paired tests on the same items "
             f"(difference with {level_label(cfg.bootstrap.level)} paired-bootstrap CI; p_exact: McNemar's exact test)")
    # two-sided: twice the share of resamples on the far side of 0, so its smallest non-zero value is 2/resamples
    notes = [f"p_bootstrap = 0 means p < 2/{cfg.bootstrap.resamples} (no resampled difference crossed 0)", *notes]
    text = to_markdown(overall, title) + "".join(f"\n- {note}" for note in notes) + "\n"
    atomic_write_text(out / "paired.md", text)
    plots = []
    if cfg.plots:
        from babybias.analysis.plots import plot_paired

        plots = [plot_paired(overall, out / "plots", name_a, name_b, cfg.bootstrap.level)]
    print(text)
    return {"paired": table, "paired_plots": [str(p) for p in plots]}


def run(cfg: CompareConfig) -> dict:
    if not cfg.a or not cfg.b:
        raise ConfigError("compare needs two runs", fix="pass a=<run> b=<run> (run directories or names)")
    name_a, name_b = _name(cfg.a), _name(cfg.b)
    out = Path(cfg.out) if cfg.out else Path(cfg.paths.runs) / "compare" / f"{name_a}__vs__{name_b}"
    with RunDir(out).lock("babybias compare"):  # one writer of the output folder at a time
        return _compare(cfg, out, name_a, name_b)


def _compare(cfg: CompareConfig, out: Path, name_a: str, name_b: str) -> dict:
    outputs: dict = {"out": str(out), "plots": []}
    problems = []
    parts = [correlate_dynamics] + ([paired_tests] if cfg.paired else [])
    for part in parts:
        try:
            outputs.update(part(cfg, out, name_a, name_b))
        except BabybiasError as err:
            problems.append(err)
    if len(problems) == len(parts):
        if len(problems) == 1:
            raise problems[0]
        raise BabybiasError(f"nothing to compare between {name_a} and {name_b}: " + "; ".join(map(str, problems)),
                            fix="evaluate both runs (checkpoints=all for the dynamics, the final checkpoint for "
                                "the paired test)")
    for err in problems:
        print(f"(skipped: {err})")
    RunDir(out).create().write_config(cfg)
    print(f"written to {out}")
    return outputs
