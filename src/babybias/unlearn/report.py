"""Tables (CSV + markdown) and the accuracy-vs-EO plot of an unlearning run; computing lives elsewhere."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from babybias.runs import atomic_path, atomic_write_text

MAIN_METHODS = ("single", "single_hardt", "sisa_vote", "sisa_mean_proba", "fairsisa_final",
                "fairsisa_constituent", "fairsisa_joint", "threshold_optimizer")


def to_markdown(frame: pd.DataFrame, floatfmt: str = ".4f") -> str:
    """A GitHub markdown table (no tabulate dependency)."""
    def fmt(v):
        return format(v, floatfmt) if isinstance(v, float) else str(v)

    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(fmt(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body]) + "\n"


def write_table(frame: pd.DataFrame, stem: Path, title: str | None = None) -> None:
    """`<stem>.csv` and `<stem>.md`, each written atomically."""
    atomic_write_text(stem.with_suffix(".csv"), frame.to_csv(index=False))
    md = (f"## {title}\n\n" if title else "") + to_markdown(frame)
    atomic_write_text(stem.with_suffix(".md"), md)


def write_round_tables(rows: list[dict], round_dir: Path, round_: int) -> pd.DataFrame:
    """rounds/round-<r>/fairness.{csv,md}: method x metrics per evaluation set."""
    frame = pd.DataFrame(rows)
    parts = []
    for eval_set, part in frame.groupby("eval_set", sort=False):
        parts.append(f"## Round {round_}, {eval_set} set\n\n" + to_markdown(part.drop(columns=["round", "eval_set"])))
    atomic_write_text(round_dir / "fairness.md", "\n".join(parts))
    atomic_write_text(round_dir / "fairness.csv", frame.to_csv(index=False))
    return frame


def plot_tradeoff(frame: pd.DataFrame, path: Path, eval_set: str = "test") -> None:
    """Accuracy vs equalized-odds difference of the main methods, one line per method across rounds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    part = frame[(frame["eval_set"] == eval_set) & frame["method"].isin(MAIN_METHODS)]
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for method, rows in part.groupby("method", sort=False):
        rows = rows.sort_values("round")
        ax.plot(rows["eo_diff"], rows["accuracy"], marker="o", label=method)
        for _, r in rows.iterrows():
            ax.annotate(f"r{int(r['round'])}", (r["eo_diff"], r["accuracy"]), fontsize=7,
                        xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel("equalized-odds difference (lower is fairer)")
    ax.set_ylabel("accuracy")
    ax.set_title(f"Accuracy vs EO difference across deletion rounds ({eval_set} set)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)
