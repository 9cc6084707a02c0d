"""`babybias evaluate run=<run | name> [checkpoint=<dir>] [checkpoints=final|all|[steps]] eval=[...]`

For each selected checkpoint and benchmark, writes (atomically, the JSON last, so it marks completion)

    <run>/eval/<checkpoint>/<variant>.examples.jsonl   one line per example (pair, test, text...)
    <run>/eval/<checkpoint>/<variant>.json             summary, per-category, 95% CIs, options, checkpoint, timing

where `<variant>` is the benchmark name plus its result-changing options when they are not the defaults
(`crows_pairs-modified`, `blimp-limit200`, `seat-cls-all`), the debias method and a non-fp32 scoring precision
(`crows_pairs-bf16`), so variants sit side by side (`babybias.results`). A stored result is reused only when it
was computed from the same checkpoint weights (sha256), at the same scoring precision, with the same options
and by the same metric definition and data files; otherwise it is recomputed, and `force=true` recomputes
anyway. `<run>/eval/<checkpoint>/config.yaml` records the last evaluate config. With `checkpoints=all` (or
several checkpoints), the tidy table `<run>/eval/dynamics.csv|.parquet` and `<run>/eval/plots/*.png` are
(re)written from the result files of the requested variants. With any of the BabyLM fast-set benchmarks
(`eval=babylm`), `<run>/eval/babylm.csv|.md` is the seed paper's performance table over the selected
checkpoints (columns blimp, blimp_s, ewok; see `babybias.analysis.performance`).

Scoring runs in fp32 on every device (`scoring.precision=bf16|fp16` asks for reduced precision, recorded as its
own variant); `impl` sets only device, batch size and threads.

Every model forward goes through `babybias.scoring.ScoringEngine`; metrics are the pure functions of
`babybias.metrics`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from babybias.analysis.dynamics import Checkpoint, dynamics_table, select_checkpoints, write_table
from babybias.configs.evaluate import SUITES, EvaluateConfig
from babybias.data import store
from babybias.errors import BabybiasError, ConfigError
from babybias.results import Variant, code_version, data_inputs, reuse_key, stale_reason, variant, weights_sha256
from babybias.runs import (
    RunDir,
    atomic_path,
    atomic_write_json,
    ensure_writable,
    git_commit,
    git_dirty,
    run_lock,
    to_jsonable,
)

log = logging.getLogger(__name__)

__all__ = ["RUNNERS", "Benchmark", "Variant", "evaluate_checkpoint", "run", "variant"]
BABYLM_SUITE = SUITES["babylm"]


# ---------------------------------------------------------------- benchmark runners (engine -> MetricResult)
def _crows_pairs(engine, cfg: EvaluateConfig, ckpt: Checkpoint):
    from babybias.debias.self_debias import score_by_category
    from babybias.metrics import crows_pairs

    pairs = crows_pairs.load_crows_pairs(store.require("crows_pairs", cfg.data) / "crows_pairs_anonymized.csv")
    categories = [p.bias_type for p in pairs for _ in range(2)]  # two requests per pair
    scores = score_by_category(engine, crows_pairs.requests_for(pairs), categories, desc="crows_pairs")
    return crows_pairs.compute(pairs, scores, scoring=cfg.crows_pairs.scoring, resampling=cfg.bootstrap.resampling())


def _stereoset(engine, cfg: EvaluateConfig, ckpt: Checkpoint):
    from babybias.debias.self_debias import score_by_category
    from babybias.metrics import stereoset

    path, source = stereoset.stereoset_file(store.require("stereoset", cfg.data), cfg.stereoset.source)
    examples = stereoset.load_stereoset(path, word_rule=cfg.stereoset.word_rule)
    rule = cfg.stereoset.subtoken_rule
    categories = [ex.bias_type for ex in examples for _ in ex.candidates]  # one request per candidate
    scores = score_by_category(engine, stereoset.requests_for(examples, engine.tokenizer, rule), categories,
                               desc="stereoset")
    result = stereoset.compute(examples, scores, aggregate=cfg.stereoset.aggregate, subtoken_rule=rule,
                               resampling=cfg.bootstrap.resampling())
    result.options.update({"source": source, "source_file": path.name})  # which StereoSet file this used
    return result


def _seat(engine, cfg: EvaluateConfig, ckpt: Checkpoint):
    from babybias.metrics import seat

    tests = cfg.seat.tests
    names = None if tests == "all" else list(seat.TEST_GROUPS[tests]) if isinstance(tests, str) else list(tests)
    loaded = seat.load_seat(store.require("seat", cfg.data), names)
    texts = seat.requests_for(loaded)
    vectors = engine.embed(texts, pooling=cfg.seat.pooling)
    return seat.compute(loaded, dict(zip(texts, vectors)), n_samples=cfg.seat.permutation_samples, seed=cfg.seat.seed,
                        resampling=cfg.bootstrap.resampling())


def _blimp(engine, cfg: EvaluateConfig, ckpt: Checkpoint):
    from babybias.metrics import blimp

    pairs = blimp.load_blimp(store.require("blimp", cfg.data), limit=cfg.blimp.limit)
    return blimp.compute(pairs, engine.score(blimp.requests_for(pairs), desc="blimp"), resampling=cfg.bootstrap.resampling())


def pppl_texts(cfg: EvaluateConfig, ckpt: Checkpoint) -> tuple[Path, list[str]]:
    """`pppl.path`, else the validation split named in the run's corpus.json (first `pppl.max_texts` lines)."""
    path = Path(cfg.pppl.path) if cfg.pppl.path else None
    if path is None and ckpt.run_dir is not None and (ckpt.run_dir / "corpus.json").is_file():
        from babybias.integrity import read_json

        reference = read_json(ckpt.run_dir / "corpus.json", what="the run's corpus reference")
        path = Path(reference.get("validation_path") or "") if reference.get("validation_path") else None
    if path is None or not path.is_file():
        raise BabybiasError(f"no validation text for pseudo-perplexity of {ckpt.path} ({path or 'no corpus.json'})",
                            fix="set pppl.path=FILE (one sentence a line) or leave pppl out of eval=[...]")
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return path, lines[: cfg.pppl.max_texts] if cfg.pppl.max_texts else lines


def _pppl(engine, cfg: EvaluateConfig, ckpt: Checkpoint):
    from babybias.metrics import perplexity

    _, texts = pppl_texts(cfg, ckpt)
    return perplexity.compute(texts, engine.score(perplexity.requests_for(texts), desc="pppl"),
                              resampling=cfg.bootstrap.resampling())


def _babylm(benchmark: str):
    """The runner of one BabyLM fast-set benchmark: every temperature of the sweep from one scoring pass."""
    def run(engine, cfg: EvaluateConfig, ckpt: Checkpoint):
        from babybias.metrics import babylm

        items = babylm.load_suite(store.require("babylm_eval_fast", cfg.data), benchmark, cfg.babylm.ewok_contexts)
        scores = engine.score_temperatures(babylm.requests_for(items), cfg.babylm.temperatures, desc=benchmark)
        return babylm.compute(items, scores, benchmark, resampling=cfg.bootstrap.resampling())
    return run


def _bec_pro(engine, cfg: EvaluateConfig, ckpt: Checkpoint):
    from babybias.metrics import bec_pro

    rows = bec_pro.load_bec_pro(store.require("bec_pro", cfg.data))
    scores = engine.score(bec_pro.requests_for(rows, engine.tokenizer), desc="bec_pro")
    return bec_pro.compute(rows, scores, resampling=cfg.bootstrap.resampling())


@dataclass(frozen=True)
class Benchmark:
    """How `evaluate` runs one benchmark. A new benchmark adds one entry here (and its name to
    `configs.evaluate.BENCHMARKS`, its options block to `EvaluateConfig`); naming and reuse need nothing more."""

    run: Callable
    """(engine, cfg, checkpoint) -> MetricResult."""
    metric: str
    """The `babybias.metrics` module whose DEFINITION_VERSION versions these numbers."""
    datasets: tuple[str, ...] = ()
    """Registered data sets it reads: the checksums of their files join the reuse key."""


RUNNERS: dict[str, Benchmark] = {
    "crows_pairs": Benchmark(_crows_pairs, "crows_pairs", ("crows_pairs",)),
    "stereoset": Benchmark(_stereoset, "stereoset", ("stereoset",)),
    "seat": Benchmark(_seat, "seat", ("seat",)),
    "blimp": Benchmark(_blimp, "blimp", ("blimp",)),
    "pppl": Benchmark(_pppl, "perplexity"),
    **{name: Benchmark(_babylm(name), "babylm", ("babylm_eval_fast",)) for name in SUITES["babylm"]},
    "bec_pro": Benchmark(_bec_pro, "bec_pro", ("bec_pro",)),
}


# ---------------------------------------------------------------- the command
def result_key(var: Variant, ckpt: Checkpoint, cfg: EvaluateConfig) -> dict:
    """What a stored result of `var` on `ckpt` must match to be reused (`babybias.results.reuse_key`), including,
    for a post-model method, the artifact that `debiased_engine` would apply now."""
    bench = RUNNERS[var.benchmark]
    return reuse_key(var, weights_sha256(ckpt.path), code_version(bench.metric), data_inputs(bench.datasets, cfg.data),
                     _artifact_now(cfg, ckpt))


def _artifact_now(cfg: EvaluateConfig, ckpt: Checkpoint) -> dict | None:
    """The identity of the artifact in the folder `debias.apply.debiased_engine` reads (None: none there yet, or
    no post-model method)."""
    if not cfg.debias.is_post_model:
        return None
    from babybias.debias.apply import artifact_root_of
    from babybias.debias.artifacts import artifact_identity, default_artifact_dir

    folder = Path(cfg.debias.artifact) if cfg.debias.artifact else default_artifact_dir(
        artifact_root_of(ckpt.path), cfg.debias.method, ckpt.path, cfg.debias)
    return artifact_identity(folder)


def write_result(ckpt: Checkpoint, var: Variant, result, seconds: float, engine_info: dict, key: dict,
                 artifact=None) -> Path:
    """Per-example JSONL first, then the summary JSON (its presence means the variant is complete)."""
    ckpt.eval_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(ckpt.eval_dir / f"{var.stem}.examples.jsonl") as tmp:
        with tmp.open("w", encoding="utf-8") as fh:
            for row in result.rows:
                fh.write(json.dumps(to_jsonable(row), sort_keys=True) + "\n")
    payload = {
        "benchmark": var.benchmark, "variant": var.stem, "base_variant": var.base_stem, "options": var.options,
        "metric_options": result.options, "summary": result.summary, "per_category": result.per_category,
        "intervals": result.intervals, "bootstrap": var.bootstrap,
        "checkpoint": {"name": ckpt.name, "path": str(ckpt.path), "step": ckpt.step,
                       "tokens_seen": ckpt.tokens_seen, "fraction": ckpt.fraction, "run": ckpt.run},
        "scoring": {"precision": var.precision, "autocast": var.precision != "fp32", "tf32": False},
        "weights_sha256": key["weights_sha256"], "code_version": key["code_version"], "inputs": key["inputs"],
        "n_examples": len(result.rows), "seconds": round(seconds, 3), "engine": engine_info,
        "git_commit": git_commit(), "git_dirty": git_dirty(), "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if artifact is not None:  # what was applied, read from the artifact (not the request)
        payload["debias_applied"] = artifact.provenance()
    if var.benchmark == "seat":  # per-test effect sizes belong in the summary file too (the dynamics table)
        payload["tests"] = result.rows
    return atomic_write_json(ckpt.eval_dir / f"{var.stem}.json", payload)


def evaluate_checkpoint(ckpt: Checkpoint, cfg: EvaluateConfig, engine=None, artifact=None) -> dict[str, str]:
    """Run the missing or stale (or, with force, all) benchmark variants of one checkpoint; returns stem -> status.

    `engine` may be given (e.g. a debiased model wrapped around the checkpoint's, with its `artifact`);
    otherwise it is loaded from the checkpoint, and only when something has to be computed.
    """
    status = {}
    for benchmark in cfg.eval:
        var = variant(benchmark, cfg)
        key = result_key(var, ckpt, cfg)
        reason = "forced" if cfg.force else stale_reason(ckpt.eval_dir / f"{var.stem}.json", key)
        if reason is None:
            status[var.stem] = "skipped (exists)"
            continue
        if engine is None:
            from babybias.debias.apply import debiased_engine

            engine, artifact = debiased_engine(ckpt.path, cfg.debias, cfg.impl, data_cfg=cfg.data,
                                               precision=cfg.scoring.precision)
        if engine.precision != var.precision:
            raise ValueError(f"the engine scores in {engine.precision}, the variant asks for {var.precision}")
        start = time.perf_counter()
        result = RUNNERS[benchmark].run(engine, cfg, ckpt)
        seconds = time.perf_counter() - start
        info = {"device": str(engine.model.device), "precision": engine.precision,
                "batch_size": engine.batch_size, "model": type(engine.model).__name__}
        write_result(ckpt, var, result, seconds, info, key, artifact)
        status[var.stem] = f"computed in {seconds:.1f} s ({reason})"
        print(f"{ckpt.run}/{ckpt.name} {var.stem}: {_headline(result.summary, result.intervals)} "
              f"({seconds:.1f} s; {reason})", flush=True)
    return status


def _headline(summary: dict, intervals: dict | None = None) -> str:
    """The first four float summary numbers, each with its CI when it has one: `ss=52.100 [49.8, 54.3]`."""
    keys = [k for k, v in summary.items() if isinstance(v, float)][:4]
    intervals = intervals or {}

    def ci(key: str) -> str:
        interval = intervals.get(key)
        return f" [{interval['low']:.3g}, {interval['high']:.3g}]" if interval else ""

    return ", ".join(f"{k}={summary[k]:.3f}{ci(k)}" for k in keys)


def run(cfg: EvaluateConfig) -> dict:
    """Evaluate the selected checkpoints; with several, also write the dynamics table and plots."""
    if not cfg.target:
        raise ConfigError("nothing to evaluate", fix="pass run=<run dir or name> or checkpoint=<checkpoint dir>")
    checkpoints = select_checkpoints(cfg.target, cfg.checkpoints, cfg.paths.runs)
    check_data_present(cfg)
    with contextlib.ExitStack() as held:
        for eval_root in sorted({c.eval_dir.parent for c in checkpoints}):
            # before any scoring: results must be writable, and one evaluate at a time writes them (pretraining of
            # the same run may go on: it holds the run's own lock, not <run>/eval's)
            ensure_writable(eval_root, fix="make the run's folder writable, or copy the run somewhere writable and "
                                           "evaluate the copy")
            held.enter_context(run_lock(eval_root, "babybias evaluate"))
        return _evaluate(cfg, checkpoints)


def check_data_present(cfg: EvaluateConfig) -> None:
    """Before any scoring: every data set of the requested benchmarks is present (checksums are verified when each
    benchmark loads it), so a missing one fails in a second with one line naming all of them, not after the others."""
    root = store.data_root(cfg.data)
    names = dict.fromkeys(ds for b in cfg.eval for ds in RUNNERS[b].datasets)
    missing = [name for name in names if not store.check(name, root, full=False).ok]
    if missing:
        raise BabybiasError(f"data set(s) {', '.join(missing)} of eval={list(cfg.eval)} are missing under {root}",
                            fix=f"run `babybias data prepare datasets=[{','.join(missing)}]`")


def _evaluate(cfg: EvaluateConfig, checkpoints: list[Checkpoint]) -> dict:
    status = {}
    for ckpt in checkpoints:
        status[f"{ckpt.run}/{ckpt.name}"] = evaluate_checkpoint(ckpt, cfg)
        RunDir(ckpt.eval_dir).create().write_config({"evaluate": cfg, "checkpoint": ckpt})
    outputs: dict[str, Any] = {"status": status, "checkpoints": [c.name for c in checkpoints]}
    if cfg.checkpoints == "all" or len(checkpoints) > 1:
        stems = [variant(b, cfg).stem for b in cfg.eval]
        table = dynamics_table(checkpoints, stems)
        eval_root = checkpoints[0].eval_dir.parent
        outputs["table"] = [str(p) for p in write_table(table, eval_root)]
        if cfg.plots:
            from babybias.analysis.plots import plot_dynamics

            outputs["plots"] = [str(p) for p in plot_dynamics(table, eval_root / "plots", cfg.bootstrap.level)]
        print(f"dynamics table: {outputs['table'][0]} ({len(table)} rows)")
    babylm = {b: variant(b, cfg).stem for b in cfg.eval if b in BABYLM_SUITE}
    if babylm:
        from babybias.analysis.performance import performance_table, write_performance_table

        wide = performance_table(checkpoints, babylm)
        if not wide.empty:
            outputs["babylm_table"] = [str(p) for p in write_performance_table(wide, checkpoints[0].eval_dir.parent)]
            print(f"BabyLM fast-set table (seed paper columns): {outputs['babylm_table'][0]}")
    for name, per in status.items():
        for stem, state in per.items():
            log.info("%s %s: %s", name, stem, state)
    return outputs
