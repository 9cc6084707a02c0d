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
from babybias.errors import ConfigError, DataError

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
    check_study_data(cfg)
    from babybias.runs import run_lock

    with run_lock(Path(cfg.paths.runs) / cfg.name / "study", "babybias study"):  # one study of a name at a time
        return _run(cfg, module)


def _run(cfg: StudyConfig, module) -> Any:
    result = module.run(cfg)
    if cfg.report:
        from babybias.launch.compose import run_command

        study_root = Path(cfg.paths.runs) / cfg.name
        run_command("report", [f"runs={study_root}/**", f"out={study_root}/report",
                               f"title='babybias study {cfg.experiment}, size {cfg.size}'", f"paths.runs={cfg.paths.runs}",
                               f"data.root={cfg.data.root}"])
    return result


# data sets a study needs beyond the benchmarks its presets name: the default corpus, the gender word lists
# (every corpus manifest counts gendered terms), and what each study evaluates or trains on by design
_ALWAYS = ("bias_attribute_words", "debiaswe_word_lists", "winobias")
_BY_STUDY = {"imbalance_sweep": ("crows_pairs", "stereoset"), "detox": ("crows_pairs", "stereoset"),
             "fairsisa": ("identity_toxicity_templates",)}
_BY_METHOD = {"cds": ("gap_flipped",)}  # intra-model methods' own data (orthogonal_ewc's winobias is in _ALWAYS)


def required_datasets(cfg: StudyConfig) -> list[str]:
    """Registered data sets the study will read: the fixed ones above plus every benchmark named by an
    `eval=[...]` and every registered name in a `corpus.sources=[...]` of the size's preset or the overrides."""
    import re

    from babybias.configs.corpus import CorpusConfig
    from babybias.configs.evaluate import BENCHMARK_DATA, expand_benchmarks
    from babybias.data.registry import DATASETS

    needed = set(_ALWAYS) | set(_BY_STUDY.get(cfg.experiment or "", ()))
    needed |= {d for m in cfg.preset.get("intra_model", []) or [] for d in _BY_METHOD.get(m, ())}
    sources: set[str] = set()
    for text in _strings(cfg.preset) + list(cfg.overrides):
        for key, into in (("eval", needed), ("corpus.sources", sources)):
            match = re.search(rf"(?:^|\s){re.escape(key)}=\[([^\]]*)\]", text)
            if match:
                names = [n.strip() for n in match.group(1).split(",")]
                into |= {BENCHMARK_DATA.get(n, n) for n in expand_benchmarks(names)} if key == "eval" else set(names)
    needed |= sources or set(CorpusConfig().sources)  # the default corpus unless the study names its own
    return sorted(n for n in needed if n in DATASETS)


def _strings(tree: Any) -> list[str]:
    if isinstance(tree, str):
        return [tree]
    if isinstance(tree, dict):
        return [s for v in tree.values() for s in _strings(v)]
    if isinstance(tree, (list, tuple)):
        return [s for v in tree for s in _strings(v)]
    return []


def check_study_data(cfg: StudyConfig) -> None:
    """Fail before the first run when a data set the study needs is missing (not after an hour of training)."""
    from babybias.data import store

    root = store.data_root(cfg.data)
    missing = [n for n in required_datasets(cfg) if not store.check(n, root, full=False).ok]
    if missing:
        raise DataError(f"study {cfg.experiment} needs data sets that are missing under {root}: {', '.join(missing)}",
                        fix=f"run `babybias data prepare datasets=[{','.join(missing)}]` (or `make data` for all)")
