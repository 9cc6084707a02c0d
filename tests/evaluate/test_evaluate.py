"""`babybias evaluate` on a tiny saved run: files, reuse, force, variants, learning-dynamics table + plots."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from babybias.commands import evaluate as evaluate_command
from babybias.errors import BabybiasError
from babybias.launch.compose import compose_command
from babybias.metrics import crows_pairs
from babybias.scoring import ScoringEngine

from .evaluate_helpers import overrides

ALL = "eval=[crows_pairs,stereoset,seat,blimp,pppl]"


def _pppl_file(tmp_path):
    path = tmp_path / "validation.txt"
    path.write_text("The cat runs home.\nShe is a doctor.\nHe was very poor.\n\nThey like dogs.\n")
    return path


def test_evaluate_writes_reuses_and_forces(tiny_run, small_data, tmp_path):
    base = overrides(tiny_run, small_data, ALL, f"pppl.path={_pppl_file(tmp_path)}", "seat.tests=[sent-weat6]")
    out = evaluate_command.run(compose_command("evaluate", base))
    eval_dir = tiny_run.parent / "eval" / "step-0000100"  # final: model/ has step 100, so it is step-0000100
    stems = list(out["status"]["toy/step-0000100"])
    assert [s if not s.startswith("seat-tests") else "seat-tests" for s in stems] == [
        "crows_pairs", "stereoset", "seat-tests", "blimp-limit1", "pppl"]
    for stem in stems:
        assert (eval_dir / f"{stem}.json").is_file() and (eval_dir / f"{stem}.examples.jsonl").is_file()
    assert (eval_dir / "config.yaml").is_file()

    # the command's CrowS-Pairs number is the engine + metric computed directly on the same checkpoint
    result = json.loads((eval_dir / "crows_pairs.json").read_text())
    pairs = crows_pairs.load_crows_pairs(small_data / "crows_pairs" / "crows_pairs_anonymized.csv")
    engine = ScoringEngine.from_checkpoint(tiny_run / "model", progress=False)
    direct = crows_pairs.compute(pairs, engine.score(crows_pairs.requests_for(pairs)))
    assert result["summary"]["metric_score"] == pytest.approx(direct.summary["metric_score"])
    assert result["summary"]["n_pairs"] == 8 and result["checkpoint"]["step"] == 100
    assert result["engine"]["precision"] == "fp32"  # impl=auto (the default) picks training precision only
    assert result["checkpoint"]["fraction"] == pytest.approx(1.0)
    assert len((eval_dir / "crows_pairs.examples.jsonl").read_text().splitlines()) == 8
    pppl = json.loads((eval_dir / "pppl.json").read_text())
    assert pppl["summary"]["n_texts"] == 4  # blank line dropped
    # every benchmark's headline number carries its 95% item-bootstrap CI, recorded with how it was drawn
    headline = {"crows_pairs": "metric_score", "stereoset": "icat", "seat-tests": "sent-weat6/effect_size",
                "blimp-limit1": "accuracy", "pppl": "pppl"}
    for stem in stems:
        stored = json.loads((eval_dir / f"{stem}.json").read_text())
        interval = stored["intervals"][headline["seat-tests" if stem.startswith("seat-tests") else stem]]
        assert interval["n_resamples"] == 1000 and interval["level"] == 0.95 and interval["low"] <= interval["high"]
        assert stored["bootstrap"] == {"resamples": 1000, "level": 0.95, "seed": 0}
    assert result["intervals"]["metric_score"]["estimate"] == pytest.approx(result["summary"]["metric_score"])

    mtimes = {p.name: p.stat().st_mtime_ns for p in eval_dir.glob("*.json")}
    again = evaluate_command.run(compose_command("evaluate", base))
    assert all(state.startswith("skipped") for state in again["status"]["toy/step-0000100"].values())
    assert {p.name: p.stat().st_mtime_ns for p in eval_dir.glob("*.json")} == mtimes

    forced = evaluate_command.run(compose_command("evaluate", [*base[:-1], "eval=[crows_pairs]", "force=true"]))
    assert forced["status"]["toy/step-0000100"]["crows_pairs"].startswith("computed")
    assert (eval_dir / "crows_pairs.json").stat().st_mtime_ns != mtimes["crows_pairs.json"]
    assert json.loads((eval_dir / "crows_pairs.json").read_text())["summary"] == result["summary"]
    reseeded = evaluate_command.run(compose_command("evaluate", [*base[:-1], "eval=[crows_pairs]", "bootstrap.seed=1"]))
    assert reseeded["status"]["toy/step-0000100"]["crows_pairs"].startswith("computed")  # other CIs: recomputed


def test_options_make_side_by_side_variants(tiny_run, small_data):
    base = overrides(tiny_run, small_data, "eval=[crows_pairs]")
    evaluate_command.run(compose_command("evaluate", base))
    out = evaluate_command.run(compose_command("evaluate", [*base, "crows_pairs.scoring=modified"]))
    eval_dir = tiny_run.parent / "eval" / "step-0000100"  # final: model/ has step 100, so it is step-0000100
    assert out["status"]["toy/step-0000100"]["crows_pairs-modified"].startswith("computed")
    shared = json.loads((eval_dir / "crows_pairs.json").read_text())
    modified = json.loads((eval_dir / "crows_pairs-modified.json").read_text())
    assert shared["options"] == {"scoring": "shared"} and modified["options"] == {"scoring": "modified"}


def test_single_checkpoint_dir_and_step_selection(tiny_run, small_data):
    ckpt = tiny_run / "checkpoints" / "step-0000050"
    base = overrides(tiny_run, small_data, "eval=[crows_pairs]")
    out = evaluate_command.run(compose_command("evaluate", [f"checkpoint={ckpt}", *base[1:]]))
    assert list(out["status"]) == ["toy/step-0000050"]
    assert (tiny_run.parent / "eval" / "step-0000050" / "crows_pairs.json").is_file()
    out = evaluate_command.run(compose_command("evaluate", [*base, "checkpoints=[0,100]"]))
    assert out["checkpoints"] == ["step-0000000", "step-0000100"]
    with pytest.raises(BabybiasError, match="no checkpoint at steps"):
        evaluate_command.run(compose_command("evaluate", [*base, "checkpoints=[7]"]))


def test_checkpoints_all_writes_tidy_table_and_plots(tiny_run, small_data):
    out = evaluate_command.run(compose_command(
        "evaluate", overrides(tiny_run, small_data, "eval=[crows_pairs,stereoset]", "checkpoints=all")))
    # model/ has the same step as step-0000100, so it is not evaluated twice
    assert out["checkpoints"] == ["step-0000000", "step-0000050", "step-0000100"]
    eval_root = tiny_run.parent / "eval"
    table = pd.read_csv(eval_root / "dynamics.csv")
    assert list(table.columns) == ["run", "checkpoint", "step", "tokens_seen", "fraction", "benchmark",
                                   "category", "metric", "value", "ci_low", "ci_high"]
    pd.testing.assert_frame_equal(table, pd.read_parquet(eval_root / "dynamics.parquet"), check_dtype=False)
    overall = table[(table["benchmark"] == "crows_pairs") & (table["category"] == "overall")
                    & (table["metric"] == "metric_score")]
    assert overall["step"].tolist() == [0, 50, 100]
    assert overall["fraction"].tolist() == pytest.approx([0.0, 0.5, 1.0])
    for step, value, low, high in zip(overall["step"], overall["value"], overall["ci_low"], overall["ci_high"]):
        stored = json.loads((eval_root / f"step-{step:07d}" / "crows_pairs.json").read_text())
        assert value == pytest.approx(stored["summary"]["metric_score"])
        interval = stored["intervals"]["metric_score"]
        assert (low, high) == pytest.approx((interval["low"], interval["high"])) and low <= value <= high
    race_ss = table[(table["benchmark"] == "stereoset") & (table["category"] == "race") & (table["metric"] == "ss")]
    assert race_ss["ci_low"].notna().all()  # per-category intervals reach the table too
    assert {"crows_pairs", "stereoset"} == set(table["benchmark"])
    assert {"gender", "profession", "race", "religion", "overall"} <= set(table[table["benchmark"] == "stereoset"]["category"])
    pngs = sorted(p.name for p in (eval_root / "plots").glob("*.png"))
    assert pngs == ["crows_pairs__metric_score.png", "stereoset__icat.png", "stereoset__lms.png", "stereoset__ss.png"]
    assert all((eval_root / "plots" / p).stat().st_size > 1000 for p in pngs)


def test_user_errors_are_babybias_errors(tmp_path, small_data):
    with pytest.raises(BabybiasError, match="no pretrain run"):
        evaluate_command.run(compose_command("evaluate", [f"run={tmp_path / 'nope'}", f"paths.runs={tmp_path}"]))
    with pytest.raises(BabybiasError, match="unknown benchmarks"):
        compose_command("evaluate", ["eval=[crows]"])


def test_variant_names_and_options():
    def stem(*extra):
        return evaluate_command.variant(extra[0].split("=")[0].split(".")[0] if extra else "crows_pairs",
                                        compose_command("evaluate", list(extra)))

    assert evaluate_command.variant("crows_pairs", compose_command("evaluate")).stem == "crows_pairs"
    assert stem("crows_pairs.scoring=modified").stem == "crows_pairs-modified"
    assert stem("blimp.limit=200").stem == "blimp-limit200"
    assert stem("seat.pooling=cls").stem == "seat-cls"
    assert stem("seat.tests=all").stem == "seat-all"
    seat = stem("seat.permutation_samples=10")
    assert seat.stem == "seat" and seat.options["permutation_samples"] == 10  # recorded, not in the name
    with pytest.raises(BabybiasError, match="seat.pooling"):
        compose_command("evaluate", ["seat.pooling=max"])


def test_final_model_without_state_json_takes_the_runs_step_count(tmp_path):
    from babybias.analysis.dynamics import run_checkpoints
    from babybias.scoring.testing import save_tiny_run

    run = save_tiny_run(tmp_path / "runs" / "toy" / "pretrain", steps=(50, 100))
    (run / "model" / "state.json").unlink()
    (run / "config.yaml").write_text("command: pretrain\ntrain:\n  steps: 200\n")
    final = run_checkpoints(run)[-1]
    assert (final.name, final.step, final.fraction, final.tokens_seen) == ("final", 200, 1.0, 200_000)


def test_a_missing_data_set_fails_before_any_benchmark_is_scored(tiny_run, small_data, tmp_path):
    partial = tmp_path / "partial-data"
    partial.mkdir()
    (partial / "crows_pairs").symlink_to(small_data / "crows_pairs", target_is_directory=True)
    cfg = compose_command("evaluate", overrides(tiny_run, partial, "eval=[crows_pairs,seat,blimp]"))
    with pytest.raises(BabybiasError, match=r"seat, blimp .*datasets=\[seat,blimp\]"):
        evaluate_command.run(cfg)
    assert not (tiny_run.parent / "eval" / "step-0000100" / "crows_pairs.json").exists()  # nothing scored first
