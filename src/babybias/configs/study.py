"""Primary schemas of `babybias study` (whole-study presets) and `babybias report` (tables and plots)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from babybias.configs.common import DataConfig, PathsConfig

SIZES = ("tiny", "paper")


def check_distinct_seeds(seeds, where: str) -> None:
    """A seed listed twice runs once (its arms are DONE the second time) but enters the table twice: the across-seed
    summary would count it as two seeds, with a smaller sd and a narrower interval than the runs support."""
    from babybias.errors import ConfigError

    seeds = list(seeds or [])
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"{where}={seeds} lists a seed more than once",
                          fix=f"list each seed once, e.g. {where}=[{','.join(map(str, dict.fromkeys(seeds)))}]")


@dataclass
class StudyConfig:
    """`babybias study experiment=<bias_dynamics|debias_transfer|fairsisa> size=<tiny|paper>`

    A preset (conf/experiment/<name>.yaml) fills `experiment` and `presets`: for each size, the overrides
    each chained command gets. The study module runs the commands in this process through `run_command`.
    """

    command: str = "study"
    experiment: Optional[str] = None
    """Which study: bias_dynamics | debias_transfer | fairsisa (set by `experiment=<name>`)."""
    size: str = "tiny"
    """tiny = CPU minutes (tests, demos); paper = the papers' scale (GPUs)."""
    name: str = "${experiment}_${size}"
    """Every run of the study goes under runs/<name>/..."""
    seed: int = 0
    seeds: Optional[List[int]] = None
    """Training seeds: every arm is run once per seed and the study reports mean, sd and 95% CI across them
    (runs/<name>/study/summary.csv). null = the size preset's `seeds` (paper: [0, 1, 2]), else [seed]."""
    overrides: List[str] = field(default_factory=list)
    """Extra overrides given to every chained command (e.g. ["impl=gpu_bf16"])."""
    crows_pairs_scoring: List[str] = field(default_factory=list)
    """The CrowS-Pairs scoring(s) the study reports, stated by each experiment preset: shared (Nangia et al.
    2020, PLL of the unmodified tokens) | modified (bias-bench, Meade et al. 2022: mean log-probability of the
    modified tokens). The first is the study's own; each further one is evaluated and reported beside it."""
    presets: Dict[str, Any] = field(default_factory=dict)
    """size -> {command or role -> list of overrides}; filled by the experiment preset."""
    report: bool = True
    """Write the study's report (HTML + markdown) at the end."""
    data: DataConfig = field(default_factory=DataConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)

    def __post_init__(self) -> None:
        from babybias.errors import ConfigError

        if self.size not in SIZES:
            raise ConfigError(f"size={self.size!r} is not known", fix="use size=tiny or size=paper")
        scorings = list(self.crows_pairs_scoring)
        if any(s not in ("shared", "modified") for s in scorings) or len(set(scorings)) != len(scorings):
            raise ConfigError(f"crows_pairs_scoring={scorings} is not a list of distinct shared|modified",
                              fix="use crows_pairs_scoring=[shared], [modified] or [shared,modified]")
        if self.seeds is not None and not self.seeds:
            raise ConfigError("seeds=[] leaves the study without runs", fix="e.g. seeds=[0,1,2] (or seeds=null)")
        check_distinct_seeds(self.seeds, "seeds")

    @property
    def preset(self) -> Dict[str, Any]:
        """The preset's overrides for this size."""
        from babybias.errors import ConfigError

        if self.size not in self.presets:
            raise ConfigError(f"experiment={self.experiment} has no size={self.size} preset",
                              fix=f"use size= one of {sorted(self.presets)}")
        return self.presets[self.size]


@dataclass
class ReportConfig:
    """`babybias report runs=<glob> [out=DIR]`: gather runs into one table, plots, HTML and markdown."""

    command: str = "report"
    name: str = "report"
    runs: str = "${paths.runs}/**"
    """Glob of run directories (or folders above them); every folder with a config.yaml below it is a run."""
    out: Optional[str] = None
    """Output folder; null = <paths.runs>/reports/<name>."""
    title: str = "babybias report"
    data: DataConfig = field(default_factory=DataConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)


def register(cs) -> None:
    from babybias.launch import config as launch_config

    cs.store(name="study_schema", node=StudyConfig)
    cs.store(name="report_schema", node=ReportConfig)
    # the project's Hydra launchers (conf/hydra/launcher/*.yaml extend these schemas)
    launch_config.register(cs)
