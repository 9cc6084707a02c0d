"""Training a study's arms: `babybias pretrain` of one arm, refusing a run folder that holds another arm.

A study reruns its commands by name (runs/<study>/<arm>/seed<s>/pretrain) and `babybias pretrain` skips a run
that is DONE, or resumes one that is not, even when its settings differ from those asked for now (it prints a
warning). For a study that would put the old model's numbers into the new table, under the new settings'
config.yaml (a preset or `overrides=` changed since the arm was trained), so here such an arm is refused before
anything runs. `force=true` / `resume=false` start the arm over with the new settings and are let through.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from babybias.errors import BabybiasError


def check_arm_settings(run_dir: Path, cfg) -> None:
    """Raise when `run_dir` holds a run (finished or not) whose result-changing settings differ from `cfg`'s
    (a composed `PretrainConfig`); nothing when it holds none yet, or when `cfg` starts it over."""
    from babybias.runs import RunDir
    from babybias.train.resume import rerun_changes

    if cfg.force or cfg.resume is False or not (Path(run_dir) / "config.yaml").is_file():
        return
    changes = rerun_changes(RunDir(run_dir), cfg, cfg.seed)
    if changes:
        listed = "; ".join(f"{k}: {old!r} (trained) vs {new!r} (now)" for k, (old, new) in list(changes.items())[:6])
        more = f" and {len(changes) - 6} more" if len(changes) > 6 else ""
        raise BabybiasError(f"study arm {run_dir} was trained with other settings than the study asks for now "
                            f"({listed}{more}); its numbers would enter the table as the new settings' numbers",
                            fix=f"rerun the study with its old settings, give the study another name=, or delete "
                                f"{Path(run_dir).parent} to train this arm again")


def pretrain_arm(overrides: Sequence[str]) -> Path:
    """`babybias pretrain <overrides>` for one arm (skipped when DONE with the same settings); returns its run
    directory, runs/<name>/pretrain."""
    from babybias.launch.compose import compose_command, run_command

    cfg = compose_command("pretrain", list(overrides))
    run_dir = Path(cfg.paths.runs) / cfg.name / "pretrain"
    check_arm_settings(run_dir, cfg)
    run_command("pretrain", list(overrides))
    return run_dir
