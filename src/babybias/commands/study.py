"""`babybias study experiment=<name> size=tiny|paper`: run a whole study, then its report.

Dispatches to `babybias.studies.<experiment>.run(cfg)`. Every study chains the ordinary commands in this
process (`babybias.launch.compose.run_command`), so each model it trains has a normal run directory under
runs/<name>/ and a rerun skips what is DONE. With `report=true` the study ends with
`babybias report runs='runs/<name>/**' out=runs/<name>/report`.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from babybias.configs.study import StudyConfig
from babybias.errors import ConfigError

STUDIES = ("bias_dynamics", "debias_transfer", "fairsisa", "imbalance_sweep", "detox")


def run(cfg: StudyConfig) -> Any:
    if not cfg.experiment:
        raise ConfigError("no study chosen", fix=f"pass experiment=<{'|'.join(STUDIES)}> (and size=tiny|paper)")
    try:
        module = importlib.import_module(f"babybias.studies.{cfg.experiment}")
    except ModuleNotFoundError as err:
        if err.name != f"babybias.studies.{cfg.experiment}":
            raise
        raise ConfigError(f"experiment={cfg.experiment} has no study module babybias.studies.{cfg.experiment}",
                          fix=f"use experiment=<{'|'.join(STUDIES)}>") from None
    result = module.run(cfg)
    if cfg.report:
        from babybias.launch.compose import run_command

        study_root = Path(cfg.paths.runs) / cfg.name
        run_command("report", [f"runs={study_root}/**", f"out={study_root}/report",
                               f"title='babybias study {cfg.experiment}, size {cfg.size}'", f"paths.runs={cfg.paths.runs}",
                               f"data.root={cfg.data.root}"])
    return result
