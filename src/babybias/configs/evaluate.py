"""Config schemas of the `evaluate` and `compare` commands.

What changes the numbers: the fields under each benchmark's own key (`crows_pairs.scoring`, `blimp.limit`,
...; a new benchmark gets a block named after it), `scoring.precision` and the `debias` settings. All of them
are recorded in every result file and a result is reused only when they match (`babybias.results`). Fields
marked `stem(...)` also name the result file when they differ from their default (`crows_pairs-modified`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, List, Optional

from babybias.configs.common import DataConfig, ImplConfig, PathsConfig
from babybias.configs.debias import DebiasConfig
from babybias.errors import ConfigError

BENCHMARKS = ("crows_pairs", "stereoset", "seat", "blimp", "pppl", "blimp_fast", "blimp_supplement", "ewok", "bec_pro")
DEFAULT_EVAL = ("crows_pairs", "stereoset", "seat", "blimp", "pppl")
SUITES = {"babylm": ("blimp_fast", "blimp_supplement", "ewok")}
"""Names that stand for several benchmarks in `eval=` (`eval=babylm`, `eval=[crows_pairs,babylm]`)."""
BENCHMARK_DATA = {"crows_pairs": "crows_pairs", "stereoset": "stereoset", "seat": "seat", "blimp": "blimp",
                  "blimp_fast": "babylm_eval_fast", "blimp_supplement": "babylm_eval_fast", "ewok": "babylm_eval_fast",
                  "bec_pro": "bec_pro"}
"""The registered data set each benchmark reads (pppl reads the run's own validation text)."""
PRECISIONS = ("fp32", "bf16", "fp16")


def expand_benchmarks(names) -> list[str]:
    """`eval=` as a list of benchmark names: one name or a list, suites expanded, duplicates dropped."""
    names = [names] if isinstance(names, str) else list(names)
    out = [b for n in names for b in SUITES.get(n, (n,))]
    return list(dict.fromkeys(out))


def stem(default: Any, label: str = "{}") -> Any:
    """A result-changing option that also names the result file (`label` formatted with the value) when it
    differs from `default`: `crows_pairs.scoring=modified` -> `crows_pairs-modified.json`."""
    return field(default=default, metadata={"stem": label})


@dataclass
class ScoringConfig:
    """How the scoring forward runs. Not in `impl`: unlike speed settings, precision changes the numbers."""

    precision: str = "fp32"
    """fp32 (default, on every device: autocast and TF32 off) | bf16 | fp16: autocast of the scoring forward.
    Reduced precision changes results (bf16 flips ~7% of CrowS pair preferences on a weak model); its results
    are their own variant (`crows_pairs-bf16.json`), never reused for or reported with fp32 ones."""

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ConfigError(f"scoring.precision={self.precision!r}", fix="use scoring.precision=fp32|bf16|fp16")


@dataclass
class CrowsPairsEvalConfig:
    scoring: str = stem("shared")
    """shared: Nangia et al. PLL over the unmodified tokens | modified: bias-bench mean over modified tokens."""

    def __post_init__(self) -> None:
        if self.scoring not in ("shared", "modified"):
            raise ConfigError(f"crows_pairs.scoring={self.scoring!r}", fix="use crows_pairs.scoring=shared|modified")


@dataclass
class StereoSetEvalConfig:
    aggregate: str = stem("mean_prob")
    """Candidate score from its sub-tokens: mean_prob (official) | mean_logprob."""
    word_rule: str = stem("official")
    """How the candidate word is read off the candidate sentence: official | aligned."""
    subtoken_rule: str = stem("official")
    """Sub-token i of the word: official (predicted after sub-tokens < i, later ones removed) | in_context
    (masked with the rest of the word present)."""
    source: str = stem("auto")
    """auto: the canonical dev.json when the data root has it, else the flattened copy (each result records
    which) | canonical | flat."""

    def __post_init__(self) -> None:
        if self.source not in ("auto", "canonical", "flat"):
            raise ConfigError(f"stereoset.source={self.source!r}", fix="use stereoset.source=auto|canonical|flat")
        if self.aggregate not in ("mean_prob", "mean_logprob"):
            raise ConfigError(f"stereoset.aggregate={self.aggregate!r}", fix="use stereoset.aggregate=mean_prob|mean_logprob")
        if self.word_rule not in ("official", "aligned"):
            raise ConfigError(f"stereoset.word_rule={self.word_rule!r}", fix="use stereoset.word_rule=official|aligned")
        if self.subtoken_rule not in ("official", "in_context"):
            raise ConfigError(f"stereoset.subtoken_rule={self.subtoken_rule!r}",
                              fix="use stereoset.subtoken_rule=official|in_context")


@dataclass
class SeatEvalConfig:
    pooling: str = stem("mean")
    """mean: last layer averaged over all tokens incl. [CLS]/[SEP] (bias-bench) | cls: the [CLS] vector."""
    tests: Any = stem("gender")
    """gender | race | religion | all | a list of test names (file stems, e.g. [sent-weat6, sent-weat7])."""
    permutation_samples: int = 100_000
    """Exact permutation test when there are at most this many partitions; sampled otherwise."""
    seed: int = 0
    """Seed of the sampled permutation test."""

    def __post_init__(self) -> None:
        if self.pooling not in ("mean", "cls"):
            raise ConfigError(f"seat.pooling={self.pooling!r}", fix="use seat.pooling=mean|cls")
        if isinstance(self.tests, str) and self.tests not in ("gender", "race", "religion", "all"):
            raise ConfigError(f"seat.tests={self.tests!r}", fix="use seat.tests=gender|race|religion|all|[names...]")
        if self.permutation_samples < 1:
            raise ConfigError("seat.permutation_samples must be positive", fix="use e.g. seat.permutation_samples=100000")


@dataclass
class BlimpEvalConfig:
    """`blimp`: the full BLiMP, 67 paradigms x 1,000 pairs, strict preference (a tie is wrong). Not the seed
    paper's `blimp` column, which is the BabyLM pipeline's fixed 67 x 200 subset: `eval=[blimp_fast]`."""

    limit: Optional[int] = stem(None, "limit{}")
    """First N pairs of each phenomenon file, for quick runs (not the BabyLM fast subset); null = all 1,000."""

    def __post_init__(self) -> None:
        if self.limit is not None and self.limit < 1:
            raise ConfigError(f"blimp.limit={self.limit} must be >= 1 or null", fix="e.g. blimp.limit=200")


def temperature_grid(minimum: float, maximum: float | None, interval: float) -> tuple[float, ...]:
    """The pipeline's sweep `arange(min, max + interval, interval)`, computed as min + k * interval and rounded
    to 6 decimals (so 1.0 + 20 * 0.05 is 2.0 exactly); `maximum=None` means `(min,)` as in the pipeline."""
    if minimum <= 0 or interval <= 0:
        raise ValueError("temperatures and their interval must be positive")
    if maximum is None:
        return (float(minimum),)
    if maximum < minimum:
        raise ValueError(f"max temperature {maximum} is below min {minimum}")
    steps = int(math.floor((maximum - minimum) / interval + 1e-9))
    return tuple(round(minimum + k * interval, 6) for k in range(steps + 1))


@dataclass
class BabyLMEvalConfig:
    """`blimp_fast`, `blimp_supplement`, `ewok` (`eval=babylm`): the BabyLM 2025 pipeline's fast zero-shot set.

    One block for the three; each benchmark's recorded options are its own view of it (`options_for`)."""

    min_temperature: float = 1.0
    """Temperature sweep (the pipeline's --min_temperature, --max_temperature, --temperature_interval): every
    accuracy is also computed at T = min, min + interval, ..., max; the result reports the best T and T = 1."""
    max_temperature: Optional[float] = 2.0
    """null = T = min_temperature only (the pipeline's default, as the seed paper ran it)."""
    temperature_interval: float = 0.05
    ewok_contexts: str = "context1"
    """context1: Target1 vs Target2 given Context1 (the pipeline's mlm backend) | both: also Target2 vs Target1
    given Context2 (the EWoK paper's design; a different number, file `ewok-both.json`)."""

    def __post_init__(self) -> None:
        if self.ewok_contexts not in ("context1", "both"):  # babybias.metrics.babylm.EWOK_CONTEXTS
            raise ConfigError(f"babylm.ewok_contexts={self.ewok_contexts!r}", fix="use babylm.ewok_contexts=context1|both")
        try:
            grid = temperature_grid(self.min_temperature, self.max_temperature, self.temperature_interval)
        except ValueError as err:
            raise ConfigError(f"babylm temperatures: {err}",
                              fix="use e.g. babylm.min_temperature=1.0 babylm.max_temperature=2.0") from None
        if 1.0 not in grid:
            raise ConfigError(f"the temperature sweep {grid[:3]}... misses T = 1 (the reported accuracy)",
                              fix="choose babylm.min_temperature <= 1 with 1 on the grid, e.g. min 0.5 interval 0.05")

    @property
    def temperatures(self) -> tuple[float, ...]:
        return temperature_grid(self.min_temperature, self.max_temperature, self.temperature_interval)

    def options_for(self, benchmark: str):
        """The options block `babybias.results` records for one of the three benchmarks."""
        if benchmark == "ewok":
            return EwokOptions(list(self.temperatures), self.ewok_contexts)
        return SweepOptions(list(self.temperatures))


@dataclass
class SweepOptions:
    """What changes a `blimp_fast` / `blimp_supplement` result: the temperatures scored."""

    temperatures: List[float] = field(default_factory=list)


@dataclass
class EwokOptions:
    """What changes an `ewok` result: the temperatures and the contexts (non-default: `ewok-both.json`)."""

    temperatures: List[float] = field(default_factory=list)
    contexts: str = stem("context1")


@dataclass
class PpplEvalConfig:
    path: Optional[str] = None
    """Text file, one sentence a line; null = the run's corpus validation split (see commands/evaluate.py)."""
    max_texts: Optional[int] = 1000
    """Score only the first N lines (null = all)."""

    def __post_init__(self) -> None:
        if self.max_texts is not None and self.max_texts < 1:
            raise ConfigError(f"pppl.max_texts={self.max_texts} must be >= 1 or null", fix="e.g. pppl.max_texts=1000")


@dataclass
class BootstrapConfig:
    """The 95% item-bootstrap confidence intervals written with every benchmark score (`babybias.uncertainty`)."""

    resamples: int = 1000
    """Resamples of the items (at least 1,000: fewer make the 2.5% / 97.5% quantiles noisy)."""
    level: float = 0.95
    seed: int = 0
    """Seed of the item resampling (recorded in each interval)."""

    def __post_init__(self) -> None:
        if self.resamples < 1000:
            raise ConfigError(f"bootstrap.resamples={self.resamples} is too few for 95% intervals",
                              fix="use bootstrap.resamples=1000 or more")
        if not 0.5 <= self.level < 1:
            raise ConfigError(f"bootstrap.level={self.level} must be in [0.5, 1)", fix="e.g. bootstrap.level=0.95")

    def resampling(self):
        from babybias.uncertainty import Resampling

        return Resampling(self.resamples, self.level, self.seed)


@dataclass
class EvaluateConfig:
    """`babybias evaluate run=<run dir | run name> | checkpoint=<checkpoint dir> eval=[...]`

    (`model=` cannot be a plain field: Hydra reads `model=...` as a choice in the conf/model/ group.)
    """

    command: str = "evaluate"
    run: Optional[str] = None
    """A pretrain run directory or run name (runs/<name>/pretrain); a checkpoint directory works too."""
    checkpoint: Optional[str] = None
    """One checkpoint directory (HF files + state.json); a run directory or name works too."""
    checkpoints: Any = "final"
    """final (the run's model/, else its last checkpoint) | all | a list of steps, e.g. [100,500]."""
    eval: Any = field(default_factory=lambda: list(DEFAULT_EVAL))
    """Benchmarks to run: crows_pairs, stereoset, seat, blimp (full BLiMP), pppl, blimp_fast, blimp_supplement,
    ewok, bec_pro; `babylm` = [blimp_fast, blimp_supplement, ewok]. One name or a list."""
    force: bool = False
    """Recompute results that already exist for a checkpoint."""
    plots: bool = True
    """With several checkpoints: write the dynamics table's PNG plots."""
    crows_pairs: CrowsPairsEvalConfig = field(default_factory=CrowsPairsEvalConfig)
    stereoset: StereoSetEvalConfig = field(default_factory=StereoSetEvalConfig)
    seat: SeatEvalConfig = field(default_factory=SeatEvalConfig)
    blimp: BlimpEvalConfig = field(default_factory=BlimpEvalConfig)
    pppl: PpplEvalConfig = field(default_factory=PpplEvalConfig)
    babylm: BabyLMEvalConfig = field(default_factory=BabyLMEvalConfig)
    """The BabyLM fast set (blimp_fast, blimp_supplement, ewok): temperature sweep and EWoK contexts."""
    debias: DebiasConfig = field(default_factory=DebiasConfig)
    """Post-model debiasing applied to the checkpoint (`debias=inlp|sentence_debias|self_debias`); none by default."""
    bootstrap: BootstrapConfig = field(default_factory=BootstrapConfig)
    """Confidence intervals of every score (recorded with the result; a change recomputes it)."""
    scoring: ScoringConfig = field(default_factory=ScoringConfig)
    impl: ImplConfig = field(default_factory=ImplConfig)
    """Speed only (device, batch size, threads); `impl.precision` does not apply to scoring (see `scoring`)."""
    data: DataConfig = field(default_factory=DataConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)

    def __post_init__(self) -> None:
        self.eval = expand_benchmarks(self.eval)
        unknown = [b for b in self.eval if b not in BENCHMARKS]
        if unknown:
            raise ConfigError(f"eval={list(self.eval)} names unknown benchmarks {unknown}",
                              fix=f"choose from eval=[{','.join([*BENCHMARKS, *SUITES])}]")
        if self.checkpoint and self.run and self.checkpoint != self.run:
            raise ConfigError("both checkpoint= and run= are set", fix="pass one of run=... or checkpoint=...")
        if isinstance(self.checkpoints, str) and self.checkpoints not in ("final", "all"):
            raise ConfigError(f"checkpoints={self.checkpoints!r}", fix="use checkpoints=final|all|[step,...]")
        if not isinstance(self.checkpoints, str) and not all(
                isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in self.checkpoints):
            raise ConfigError(f"checkpoints={list(self.checkpoints)} must be steps (integers >= 0)",
                              fix="use checkpoints=final|all|[step,...], e.g. checkpoints=[100,500]")

    @property
    def target(self) -> Optional[str]:
        return self.checkpoint or self.run

    # the recorded options of the BabyLM benchmarks (`babybias.results.variant` reads a block named after each)
    @property
    def blimp_fast(self) -> SweepOptions:
        return self.babylm.options_for("blimp_fast")

    @property
    def blimp_supplement(self) -> SweepOptions:
        return self.babylm.options_for("blimp_supplement")

    @property
    def ewok(self) -> EwokOptions:
        return self.babylm.options_for("ewok")


@dataclass
class CompareConfig:
    """`babybias compare a=<run> b=<run>`: correlate two runs' learning dynamics and test their final (or
    chosen) checkpoints against each other on the same items."""

    command: str = "compare"
    a: Optional[str] = None
    """First run (a run directory or name); its checkpoints' training fractions are the common grid."""
    b: Optional[str] = None
    """Second run; its trajectory is linearly interpolated onto a's fractions."""
    out: Optional[str] = None
    """Output folder; null = <paths.runs>/compare/<a>__vs__<b>."""
    min_points: int = 3
    """Skip metrics with fewer aligned checkpoints than this."""
    small_n_p_values: bool = False
    """Report correlation p-values with fewer than 5 aligned checkpoints (withheld by default: they treat the
    autocorrelated checkpoints of one run as independent points, and with n < 5 they mean next to nothing)."""
    paired: bool = True
    """Paired test of the two models on the same items (from both checkpoints' <variant>.examples.jsonl)."""
    checkpoint_a: Any = "final"
    """Which checkpoint of a the paired test uses: final | a step, e.g. 5000."""
    checkpoint_b: Any = "final"
    variants: Optional[List[str]] = None
    """Result variants to pair (e.g. [crows_pairs, stereoset]); null = every variant both checkpoints have."""
    bootstrap: BootstrapConfig = field(default_factory=BootstrapConfig)
    """Resamples, level and seed of the paired bootstrap."""
    plots: bool = True
    paths: PathsConfig = field(default_factory=PathsConfig)
    data: DataConfig = field(default_factory=DataConfig)

    def __post_init__(self) -> None:
        if self.min_points < 3:
            raise ConfigError("compare.min_points < 3 gives meaningless correlations", fix="use min_points=3 or more")
        for name in ("checkpoint_a", "checkpoint_b"):
            value = getattr(self, name)
            if value != "final" and not (isinstance(value, int) and not isinstance(value, bool)):
                raise ConfigError(f"{name}={value!r}", fix=f"use {name}=final or a step number, e.g. {name}=5000")


def register(cs) -> None:
    cs.store(name="evaluate_schema", node=EvaluateConfig)
    cs.store(name="compare_schema", node=CompareConfig)
