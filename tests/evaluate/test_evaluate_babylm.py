"""`babybias evaluate eval=babylm` and `eval=[bec_pro]` on a tiny run: result files, the seed-column table,
learning curves in the dynamics table, and `babybias compare` over them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from babybias.commands import compare as compare_command
from babybias.commands import evaluate as evaluate_command
from babybias.launch.compose import compose_command
from babybias.metrics import babylm
from babybias.scoring import ScoringEngine
from babybias.scoring.testing import save_tiny_run

from .evaluate_helpers import overrides

KEEP = {"blimp_fast": ("anaphor_gender_agreement", "passive_1"), "supplement_fast": ("hypernym", "turn_taking"),
        "ewok_fast": ("social-relations", "spatial-relations")}
BEC_PROFESSIONS = ("taper",)


@pytest.fixture(scope="module")
def babylm_data(shared_data, tmp_path_factory) -> Path:
    """Every registered file present (compose with data.verify=false); the shortest item of two files per suite,
    the rest empty; BEC-Pro cut to one profession (every person word and template, so each has its counterpart)."""
    root = tmp_path_factory.mktemp("babylm_data")
    source = shared_data / "babylm_eval_fast"
    for file in source.rglob("*"):
        if file.is_file():
            target = root / "babylm_eval_fast" / file.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            keep = file.parent.name in KEEP and file.stem in KEEP[file.parent.name]
            lines = file.read_text().splitlines(keepends=True)
            target.write_text(min(lines, key=len) if keep else "" if file.suffix == ".jsonl" else file.read_text())
    (root / "bec_pro").mkdir()
    lines = (shared_data / "bec_pro" / "BEC-Pro_EN.tsv").read_text().splitlines(keepends=True)
    kept = [ln for ln in lines[1:] if ln.split("\t")[8] in BEC_PROFESSIONS]
    (root / "bec_pro" / "BEC-Pro_EN.tsv").write_text(lines[0] + "".join(kept))
    for name in ("professions_english.json", "sent_patterns_english.txt"):
        shutil.copy(shared_data / "bec_pro" / name, root / "bec_pro" / name)
    return root


@pytest.mark.slow  # two runs x three checkpoints x (three suites + BEC-Pro): ~150 s on a crowded 2-core CPU
def test_babylm_suite_learning_curves_seed_columns_and_compare(tmp_path, babylm_data):
    runs = tmp_path / "runs"
    run_a = save_tiny_run(runs / "a" / "pretrain", steps=(0, 50, 100), seed=0)
    run_b = save_tiny_run(runs / "b" / "pretrain", steps=(0, 500, 1000), seed=5)
    sweep = ["babylm.max_temperature=2.0", "babylm.temperature_interval=0.5"]
    out = {}
    for run, names in ((run_a, "eval=[babylm,bec_pro]"), (run_b, "eval=babylm")):
        cfg = compose_command("evaluate", overrides(run, babylm_data, names, "checkpoints=all", "plots=false", *sweep))
        out[run] = evaluate_command.run(cfg)
    assert cfg.eval == ["blimp_fast", "blimp_supplement", "ewok"]
    eval_dir = run_a.parent / "eval" / "step-0000100"
    result = json.loads((eval_dir / "blimp_fast.json").read_text())
    assert result["options"]["temperatures"] == [1.0, 1.5, 2.0]
    assert set(result["per_category"]) == {"anaphor_gender_agreement", "passive_1"} and result["n_examples"] == 2
    assert "anaphor_gender_agreement/accuracy" in result["intervals"] and "accuracy" in result["intervals"]

    # the command's number is the engine + metric computed directly on the same checkpoint
    items = babylm.load_suite(babylm_data / "babylm_eval_fast", "ewok")
    engine = ScoringEngine.from_checkpoint(run_a / "model", progress=False)
    direct = babylm.compute(items, engine.score_temperatures(babylm.requests_for(items), (1.0, 1.5, 2.0)), "ewok")
    stored = json.loads((eval_dir / "ewok.json").read_text())["summary"]
    assert stored["accuracy"] == pytest.approx(direct.summary["accuracy"])
    assert stored["best_temperature"] == direct.summary["best_temperature"]

    # the seed paper's table: columns blimp, blimp_s, ewok (+ best temperature and per paradigm / domain)
    table = pd.read_csv(run_a.parent / "eval" / "babylm.csv")
    assert list(table["checkpoint"]) == ["step-0000000", "step-0000050", "step-0000100"]
    assert {"blimp", "blimp_s", "ewok", "blimp_best_temperature", "blimp/passive_1", "ewok/social-relations"} <= set(table)
    assert table["ewok"].iloc[-1] == pytest.approx(stored["accuracy"])
    assert out[run_a]["babylm_table"][1].endswith("babylm.md")

    # learning curves: the dynamics table has every checkpoint of each suite, and compare correlates them
    dynamics = pd.read_csv(run_a.parent / "eval" / "dynamics.csv")
    overall = dynamics[(dynamics["category"] == "overall") & (dynamics["metric"] == "accuracy")]
    assert sorted(set(overall["benchmark"])) == ["blimp_fast", "blimp_supplement", "ewok"]
    assert len(overall) == 9
    assert {"gap_male_professions", "wilcoxon_p"} <= set(dynamics[dynamics["benchmark"] == "bec_pro"]["metric"])
    compared = compare_command.run(compose_command("compare", [f"a={run_a}", f"b={run_b}", f"paths.runs={runs}",
                                                               "plots=false"]))
    correlations = compared["correlations"]
    picked = correlations[(correlations["category"] == "overall") & (correlations["metric"] == "accuracy")]
    assert set(picked["benchmark"]) == {"blimp_fast", "blimp_supplement", "ewok"}
    assert (picked["n_points"] == 3).all()
    paired = compared["paired"]  # the final models on the same items: BLiMP's paired test fits the suite's rows
    assert {"blimp_fast", "blimp_supplement", "ewok"} <= set(paired["variant"])
    assert set(paired[paired["variant"] == "ewok"]["metric"]) == {"accuracy", "accuracy_micro"}


def test_eval_names_suites_and_variants(tiny_run, babylm_data):
    cfg = compose_command("evaluate", overrides(tiny_run, babylm_data, "eval=babylm", "babylm.ewok_contexts=both"))
    assert cfg.eval == ["blimp_fast", "blimp_supplement", "ewok"]
    stems = [evaluate_command.variant(b, cfg).stem for b in cfg.eval]
    assert stems == ["blimp_fast", "blimp_supplement", "ewok-both"]  # the mirrored EWoK is its own file
    assert evaluate_command.variant("blimp", cfg).stem == "blimp-limit1"  # the full BLiMP keeps its name
    from babybias.errors import ConfigError

    with pytest.raises(ConfigError, match="misses T = 1"):
        compose_command("evaluate", overrides(tiny_run, babylm_data, "eval=babylm", "babylm.min_temperature=1.02"))
    with pytest.raises(ConfigError, match="unknown benchmarks"):
        compose_command("evaluate", overrides(tiny_run, babylm_data, "eval=[babylm,blimp_s]"))
