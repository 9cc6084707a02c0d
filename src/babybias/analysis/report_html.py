"""The report's plots (PNG, matplotlib Agg) and its two renderings: self-contained HTML and markdown.

Each plot is drawn only when its data exists; plotting reads the tables of `babybias.analysis.report` and
computes nothing but the Pearson r it prints on the scatter.
"""

from __future__ import annotations

import base64
import html
import math
import re
from pathlib import Path
from typing import Any, List, Optional, Tuple

from babybias.analysis.plots import IDEAL, band, interval_bars, save_figure
from babybias.analysis.report import CI_SUFFIXES, headline_rows

Plot = Tuple[str, Path]  # (caption, png path)


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    return save_figure(fig, path, dpi=110)


def _grid(n: int, size: float = 4.0):
    plt = _plt()
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(size * cols, size * 0.8 * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat)


def learning_curves(metrics: Any, out: Path) -> Optional[Plot]:
    train = metrics[(metrics["source"] == "train")]
    if train.empty:
        return None
    fig, (ax,) = _grid(1, 6.0)
    for (run, metric), rows in train.groupby(["run", "metric"], sort=True):
        ax.plot(rows["step"], rows["value"], "-" if metric == "loss" else "--", label=f"{run} ({metric})")
    ax.set(xlabel="step", ylabel="MLM loss", title="Learning curves")
    ax.legend(fontsize=6)
    return "Learning curves: training (solid) and validation (dashed) loss", _save(fig, out / "learning_curves.png")


def bias_over_training(metrics: Any, out: Path, level: str = "95%") -> Optional[Plot]:
    rows = metrics[(metrics["source"] == "eval") & (metrics["category"] == "overall") & metrics["step"].notna()]
    rows = headline_rows(rows)
    panels = [(key, g) for key, g in rows.groupby(["benchmark", "metric"]) if g.groupby("run").size().max() >= 2]
    if not panels:
        return None
    fig, axes = _grid(len(panels))
    for ax, ((benchmark, metric), group) in zip(axes, panels):
        use_fraction = group["fraction"].notna().all()
        for run, r in group.groupby("run"):
            r = r.sort_values("step")
            x = r["fraction"] if use_fraction else r["step"]
            (line,) = ax.plot(x, r["value"], marker="o", ms=3, label=run)
            band(ax, x, r, line.get_color())
        ideal = IDEAL.get((benchmark.split("-")[0], metric))
        low, high = group["value"].min(), group["value"].max()
        if ideal is not None and low - (high - low + 5) <= ideal <= high + (high - low + 5):
            ax.axhline(ideal, color="grey", lw=0.8, ls=":")  # only when near the data: it would squash it
        ax.set(xlabel="fraction of training" if use_fraction else "step", title=f"{benchmark}: {metric}")
        ax.legend(fontsize=6)
    return (f"Bias and language ability over training (bands: {level} item-bootstrap CIs; dotted: the unbiased/ideal "
            "value)"), _save(fig, out / "bias_over_training.png")


def pearson(x: Any, y: Any) -> float:
    import numpy as np

    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) < 2 or x.std() == 0 or y.std() == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


def model_scatter(aligned: Any, out: Path) -> Optional[Plot]:
    if aligned.empty:
        return None
    rows = headline_rows(aligned[aligned["category"] == "overall"])
    panels = [(key, g) for key, g in rows.groupby(["run", "benchmark", "metric"]) if len(g) >= 2]
    if not panels:
        return None
    fig, axes = _grid(len(panels))
    for ax, ((run, benchmark, metric), g) in zip(axes, panels):
        ax.scatter(g["value_a"], g["value_b"], c=g["fraction"], cmap="viridis", s=18)
        low = min(g["value_a"].min(), g["value_b"].min())
        high = max(g["value_a"].max(), g["value_b"].max())
        ax.plot([low, high], [low, high], color="grey", lw=0.8, ls=":")
        name = Path(run).name
        a, b = name.split("__vs__", 1) if "__vs__" in name else ("run a", "run b")
        ax.set(xlabel=a, ylabel=b,
               title=f"{benchmark}: {metric}  r = {pearson(g['value_a'], g['value_b']):.2f}")
    return "Run a vs run b (e.g. BabyLM vs BERT-base) at the same fractions of training; colour = fraction", _save(
        fig, out / "model_scatter.png")


def bias_vs_female_ratio(runs: Any, finals: Any, out: Path, level: str = "95%") -> Optional[Plot]:
    if "female_ratio" not in runs or finals.empty:
        return None
    table = runs[["run", "female_ratio"]].dropna().merge(finals, on="run")
    columns = [c for c in finals.columns if c != "run" and not c.endswith(CI_SUFFIXES) and table[c].notna().sum() >= 2]
    if table["female_ratio"].nunique() < 2 or not columns:
        return None
    fig, axes = _grid(len(columns))
    for ax, column in zip(axes, columns):
        t = table.sort_values("female_ratio")
        low, high = (t.get(column + suffix) for suffix in CI_SUFFIXES)
        ax.plot(t["female_ratio"], t[column], marker="o")
        if low is not None and high is not None:
            interval_bars(ax, t["female_ratio"], t[column], low, high, color="C0")
        ax.set(xlabel="female ratio of the corpus", title=f"{column}  r = {pearson(t['female_ratio'], t[column]):.2f}")
    return f"Final bias vs the corpus's female ratio (bars: {level} item-bootstrap CIs)", _save(
        fig, out / "bias_vs_female_ratio.png")


def accuracy_vs_eo(metrics: Any, out: Path) -> Optional[Plot]:
    """One panel per unlearning run: accuracy vs EO difference of each method (constituents left out)."""
    rows = metrics[(metrics["source"] == "fairness") & ~metrics["group"].astype(str).str.startswith("constituent_")]
    if rows.empty or not {"accuracy", "eo_diff"} <= set(rows["metric"]):
        return None
    eval_set = "test" if "test" in set(rows["category"]) else rows["category"].iloc[0]
    rows = rows[rows["category"] == eval_set]
    wide = rows.pivot_table(index=["run", "group", "step"], columns="metric", values="value").reset_index()
    runs = sorted(wide["run"].unique(), key=lambda r: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", r)])
    fig, axes = _grid(len(runs))
    for ax, run in zip(axes, runs):
        for i, (method, g) in enumerate(wide[wide["run"] == run].groupby("group")):
            g = g.sort_values("step")
            ax.plot(g["eo_diff"], g["accuracy"], marker="o", ms=4, color=f"C{i % 10}", label=method)
            last = g.iloc[-1]
            ax.annotate(f"r{int(last['step'])}", (last["eo_diff"], last["accuracy"]), fontsize=6)
        ax.set(xlabel="equalized-odds difference", ylabel="accuracy", title=run)
        ax.title.set_fontsize(8)
        ax.legend(fontsize=6)
    return (f"Accuracy vs equalized-odds difference per method across deletion rounds ({eval_set} set; "
            "each line runs from round 0 to the last round rN; lower EO difference is fairer)"), _save(
        fig, out / "accuracy_vs_eo.png")


def all_plots(gathered: Any, finals: Any, out: Path) -> List[Plot]:
    from babybias.uncertainty import DEFAULT_LEVEL, level_label

    out.mkdir(parents=True, exist_ok=True)
    level = level_label(gathered.ci_level or DEFAULT_LEVEL)
    made = [learning_curves(gathered.metrics, out), bias_over_training(gathered.metrics, out, level),
            model_scatter(gathered.aligned, out), bias_vs_female_ratio(gathered.runs, finals, out, level),
            accuracy_vs_eo(gathered.metrics, out)]
    return [p for p in made if p is not None]


# ---------------------------------------------------------------- rendering
def with_intervals_shown(table: Any) -> Any:
    """A display copy: each column with `<column> ci_low|ci_high` beside it becomes "value [low, high]"."""
    shown = table.copy()
    for column in [c for c in table.columns if all(c + s in table.columns for s in CI_SUFFIXES)]:
        low, high = (table[column + s] for s in CI_SUFFIXES)
        shown[column] = [_cell(v) + (f" [{_cell(lo)}, {_cell(hi)}]" if _finite(lo) and _finite(hi) else "")
                         for v, lo, hi in zip(table[column], low, high)]
        shown = shown.drop(columns=[column + s for s in CI_SUFFIXES])
    return shown


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.4g}"
    return "" if value is None else str(value)


def markdown_table(table: Any) -> str:
    if table.empty:
        return "(no rows)\n"
    lines = ["| " + " | ".join(map(str, table.columns)) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(_cell(v).replace("|", "\\|") for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def html_table(table: Any) -> str:
    if table.empty:
        return "<p>(no rows)</p>"
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in table.columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_cell(v))}</td>" for v in row) + "</tr>"
                   for row in table.itertuples(index=False))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


STYLE = ("body{font-family:sans-serif;max-width:1200px;margin:2em auto;color:#222}"
         "table{border-collapse:collapse;font-size:13px;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 6px}"
         "th{background:#f3f3f3}img{max-width:100%}figure{margin:1.5em 0}figcaption{color:#555;font-size:13px}")


def render(title: str, sections: List[Tuple[str, Any]], plots: List[Plot], out: Path, note: str = "") -> Tuple[Path, Path]:
    """Write report.html (images inlined as base64: one file to send) and report.md (images beside it)."""
    from babybias.runs import atomic_write_text

    md = [f"# {title}", "", note, ""]
    page = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1><p>{html.escape(note)}</p>"]
    for heading, table in sections:
        md += [f"## {heading}", "", markdown_table(table)]
        page.append(f"<h2>{html.escape(heading)}</h2>{html_table(table)}")
    if plots:
        md += ["## Plots", ""]
        page.append("<h2>Plots</h2>")
    for caption, png in plots:
        data = base64.b64encode(png.read_bytes()).decode("ascii")
        md += [f"![{caption}]({png.name})", "", f"*{caption}*", ""]
        page.append(f"<figure><img alt='{html.escape(caption)}' src='data:image/png;base64,{data}'>"
                    f"<figcaption>{html.escape(caption)}</figcaption></figure>")
    page.append("</body></html>")
    return (atomic_write_text(out / "report.html", "\n".join(page)),
            atomic_write_text(out / "report.md", "\n".join(md)))
