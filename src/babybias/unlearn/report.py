"""Tables (CSV + markdown) and the accuracy-vs-EO plot of an unlearning run; computing lives elsewhere."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from babybias.analysis.plots import save_figure
from babybias.runs import atomic_write_json, atomic_write_text

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
    save_figure(fig, path, dpi=120)


def plot_membership(frame: pd.DataFrame, path: Path) -> None:
    """Membership-inference AUC (with its CI) of the deleted examples per round, before vs after the round."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.0))
    for i, ((attack, phase), rows) in enumerate(frame.groupby(["attack", "phase"], sort=True)):
        rows = rows.sort_values("round")
        offset = (i - 1.5) * 0.06
        err = [rows["auc"] - rows["ci_low"], rows["ci_high"] - rows["auc"]]
        ax.errorbar(rows["round"] + offset, rows["auc"], yerr=err, marker="o" if phase == "before" else "s",
                    linestyle="-" if phase == "before" else "--", capsize=3, label=f"{attack}, {phase} the round")
    ax.axhline(0.5, color="grey", linewidth=0.8)
    ax.set_xlabel("deletion round")
    ax.set_ylabel("membership AUC (deleted vs never-trained)")
    ax.set_ylim(0, 1)
    ax.set_title("Do the deleted examples still look like members? (0.5 = no)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    save_figure(fig, path, dpi=120)


def _appended(folder: Path, name: str, rows: list[dict]) -> pd.DataFrame:
    """The table `folder/<name>.csv` (copied from the previous state) with `rows` appended."""
    path = folder / f"{name}.csv"
    before = pd.read_csv(path) if path.is_file() else pd.DataFrame()
    new = pd.DataFrame(rows)
    if before.empty:
        return new
    return pd.concat([before, new], ignore_index=True) if not new.empty else before


def write_round_outputs(folder: Path, round_: int, cost: dict, fairness: list[dict], membership: list[dict],
                        summary: dict) -> None:
    """A staged state folder's tables and plots: this round's, and the run's so far with this round appended."""
    write_round_tables(fairness, folder / "rounds" / f"round-{round_}", round_)
    if membership:
        write_table(pd.DataFrame(membership), folder / "rounds" / f"round-{round_}" / "membership",
                    title=f"Round {round_}: membership inference on the deleted examples")
    write_table(_appended(folder, "costs", [cost]), folder / "costs", title="Deletion cost per round")
    table = _appended(folder, "fairness", fairness)
    write_table(table, folder / "fairness", title="Fairness per round, method and evaluation set")
    if not table.empty:
        plot_tradeoff(table, folder / "tradeoff.png")
    attacks = _appended(folder, "membership", membership)
    if not attacks.empty:
        write_table(attacks, folder / "membership",
                    title="Membership inference per round: deleted vs never-trained examples (AUC 0.5 = forgotten)")
        plot_membership(attacks, folder / "membership.png")
    atomic_write_json(folder / "summary.json", summary)
