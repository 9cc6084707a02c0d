"""`babybias study experiment=fairsisa size=tiny|paper`: fairness under SISA unlearning (second seed paper).

One pretrained encoder (preset `encoder`: pretrain overrides, or `encoder_run`: an existing run) feeds every
arm. For each shard count in preset `shards` (the paper: 1, 3, 5, 10) one `babybias unlearn` run trains the
SISA constituents, the single-model baseline (`unlearn.single_model`) and the three FairSISA post-processors
(final, constituent, joint), and evaluates accuracy and fairness gaps before and after each deletion round.
Outputs:

    runs/<name>/encoder/seed<s>/pretrain/     the encoder (skipped when DONE)
    runs/<name>/shards<k>/unlearn/            one unlearning run per shard count (skipped when DONE with the
                                              same settings, seed and encoder, resumed when unfinished);
                                              shards<k>/seed<s>/unlearn/ with several seeds
    runs/<name>/study/results.csv|md          every run's fairness.csv with a `shards` column
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List

from babybias.errors import ConfigError


def encoder_run(ctx: Any, preset: Dict[str, Any], seed: int) -> str:
    """The encoder every arm uses: `encoder_run` as given, or a pretrain run of the `encoder` overrides."""
    from babybias.studies.arms import pretrain_arm

    if preset.get("encoder_run"):
        return str(preset["encoder_run"])
    overrides = list(preset.get("encoder") or [])
    if not overrides:
        raise ConfigError("fairsisa needs an encoder", fix="set presets.<size>.encoder (pretrain overrides) or encoder_run")
    return str(pretrain_arm([*overrides, f"name={ctx.name}/encoder/seed{seed}", f"seed={seed}", *ctx.common]))


def unlearn_arm(ctx: Any, preset: Dict[str, Any], encoder: str, shards: int, seed: int) -> Path:
    from babybias.launch.compose import run_command

    name = f"{ctx.name}/shards{shards}" + (f"/seed{seed}" if len(ctx.seeds) > 1 else "")
    # always through `babybias unlearn`, also when DONE: it skips a finished run only when its settings, seed and
    # encoder are the ones asked for now (else refuses), resumes an unfinished one, and starts a new one
    run_command("unlearn", [*list(preset.get("unlearn", [])), f"shards={shards}", f"encoder={encoder}",
                            f"name={name}", f"seed={seed}", *ctx.common])
    return Path(ctx.runs_root) / name / "unlearn"


def shard_counts(preset: Dict[str, Any]) -> List[int]:
    shards = [int(k) for k in preset.get("shards", [1, 3, 5, 10])]
    if not shards or min(shards) < 1:
        raise ConfigError(f"presets.<size>.shards={shards} must be positive shard counts", fix="e.g. [1, 3, 5, 10]")
    return shards


def run(cfg: Any) -> Dict[str, Any]:
    import pandas as pd

    from babybias.studies.bias_dynamics import finish_study
    from babybias.studies.premodel import context_of

    ctx, preset = context_of(cfg)
    tables = []
    for seed in ctx.seeds:
        encoder = encoder_run(ctx, preset, seed)
        for shards in shard_counts(preset):
            run_dir = unlearn_arm(ctx, preset, encoder, shards, seed)
            table = pd.read_csv(run_dir / "fairness.csv")
            tables.append(table.assign(shards=shards, seed=seed))
    table = pd.concat(tables, ignore_index=True)
    front = ["shards", "seed", "round", "eval_set", "method"]
    table = table[[c for c in front if c in table] + [c for c in table.columns if c not in front]]
    by = [c for c in ("shards", "round", "eval_set", "method") if c in table]
    return finish_study(cfg, ctx, table, "FairSISA: single model vs SISA vs FairSISA across deletion rounds", by=by,
                        values=[c for c in table.columns if c not in (*by, "seed", "n")])
