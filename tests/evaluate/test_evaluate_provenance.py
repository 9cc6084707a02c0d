"""A stored evaluation is reused only for the same weights, precision, options, metric definition and data.

Pseudo-perplexity on a few sentences is the metric here: continuous (two models never tie) and seconds to score.
"""

from __future__ import annotations

import json

import pytest

from babybias.commands import evaluate as evaluate_command
from babybias.launch.compose import compose_command
from babybias.metrics import perplexity
from babybias.results import package_version, stale_reason, weights_sha256
from babybias.runs import file_sha256
from babybias.scoring import ScoringEngine
from babybias.scoring.testing import save_tiny_checkpoint

from .evaluate_helpers import overrides

TEXTS = "The cat runs home.\nShe is a doctor.\nHe was very poor.\nThey like dogs.\n"


def _base(tiny_run, small_data, tmp_path, *extra):
    texts = tmp_path / "validation.txt"
    texts.write_text(TEXTS)
    return overrides(tiny_run, small_data, "eval=[pppl]", f"pppl.path={texts}", *extra)


def _evaluate(base, *extra) -> dict:
    return evaluate_command.run(compose_command("evaluate", [*base, *extra]))["status"]["toy/step-0000100"]


def _direct_pppl(model_dir, precision="fp32") -> float:
    engine = ScoringEngine.from_checkpoint(model_dir, progress=False, precision=precision)
    return perplexity.compute(TEXTS.split("\n")[:-1], engine.score(perplexity.requests_for(TEXTS.split("\n")[:-1]))
                              ).summary["pppl"]


def test_a_retrained_model_is_evaluated_again_never_reused(tiny_run, small_data, tmp_path):
    base = _base(tiny_run, small_data, tmp_path)
    eval_dir = tiny_run.parent / "eval" / "step-0000100"
    assert _evaluate(base)["pppl"].startswith("computed")
    old = json.loads((eval_dir / "pppl.json").read_text())
    # what the result records: weights, precision, variant, code version, commit
    ckpt = tiny_run / "checkpoints" / "step-0000100"  # final: model/ has the same step, so this one is evaluated
    assert old["weights_sha256"] == file_sha256(ckpt / "model.safetensors")
    assert old["scoring"] == {"precision": "fp32", "autocast": False, "tf32": False}
    assert old["variant"] == "pppl" and old["options"]["path"].endswith("validation.txt")
    assert old["code_version"] == {"definition": perplexity.DEFINITION_VERSION, "babybias": package_version()}
    assert "git_commit" in old and old["engine"]["precision"] == "fp32"
    assert _evaluate(base)["pppl"] == "skipped (exists)"

    for folder in (ckpt, tiny_run / "model"):  # retrained under the same name (eval/ left in place)
        save_tiny_checkpoint(folder, step=100, total_steps=100, seed=99)
    status = _evaluate(base)["pppl"]
    new = json.loads((eval_dir / "pppl.json").read_text())
    assert "weights changed" in status
    assert new["weights_sha256"] == weights_sha256(ckpt) != old["weights_sha256"]
    assert new["summary"]["pppl"] != pytest.approx(old["summary"]["pppl"])
    assert new["summary"]["pppl"] == pytest.approx(_direct_pppl(ckpt))


def test_scoring_precision_is_its_own_variant_and_never_reused_for_fp32(tiny_run, small_data, tmp_path):
    base = _base(tiny_run, small_data, tmp_path)
    eval_dir = tiny_run.parent / "eval" / "step-0000100"
    _evaluate(base)
    fp32 = json.loads((eval_dir / "pppl.json").read_text())
    assert _evaluate(base, "scoring.precision=bf16")["pppl-bf16"].startswith("computed")
    bf16 = json.loads((eval_dir / "pppl-bf16.json").read_text())
    assert bf16["scoring"]["precision"] == "bf16" and bf16["engine"]["precision"] == "bf16"
    assert bf16["summary"]["pppl"] == pytest.approx(_direct_pppl(tiny_run / "checkpoints" / "step-0000100", "bf16"))
    assert bf16["summary"]["pppl"] != fp32["summary"]["pppl"]
    assert json.loads((eval_dir / "pppl.json").read_text()) == fp32  # the fp32 result is left alone

    # a file scored in bf16 where an fp32 one belongs (as `impl=gpu_bf16` used to write) is not reused
    (eval_dir / "pppl.json").write_text(json.dumps(bf16))
    assert "precision changed" in _evaluate(base)["pppl"]
    assert json.loads((eval_dir / "pppl.json").read_text())["summary"]["pppl"] == fp32["summary"]["pppl"]
    # and impl.precision (a training speed setting) does not change how scoring runs
    assert _evaluate(base, "impl.precision=bf16")["pppl"] == "skipped (exists)"


def test_options_definition_version_and_data_files_are_part_of_the_key(tiny_run, small_data, tmp_path, monkeypatch):
    from babybias.configs.common import DataConfig
    from babybias.results import data_inputs, reuse_key, variant

    base = _base(tiny_run, small_data, tmp_path)
    ckpt_dir = tiny_run.parent / "eval" / "step-0000100"
    _evaluate(base)
    cfg = compose_command("evaluate", base)
    ckpt = evaluate_command.select_checkpoints(cfg.target, cfg.checkpoints, cfg.paths.runs)[0]
    path = ckpt_dir / "pppl.json"
    assert stale_reason(path, evaluate_command.result_key(variant("pppl", cfg), ckpt, cfg)) is None
    other = compose_command("evaluate", [*base, "pppl.max_texts=2"])
    assert stale_reason(path, evaluate_command.result_key(variant("pppl", other), ckpt, other)) == "options changed"
    monkeypatch.setattr(perplexity, "DEFINITION_VERSION", perplexity.DEFINITION_VERSION + 1)
    assert "definition changed" in stale_reason(path, evaluate_command.result_key(variant("pppl", cfg), ckpt, cfg))
    monkeypatch.undo()

    # data files: StereoSet's canonical dev.json appearing beside the flat copy changes the key
    root = tmp_path / "data"
    (root / "stereoset").mkdir(parents=True)
    (root / "stereoset" / "stereoset_dev_flat.jsonl").write_text("{}\n")
    before = data_inputs(["stereoset"], DataConfig(root=str(root)))
    (root / "stereoset" / "dev.json").write_text("{}")
    after = data_inputs(["stereoset"], DataConfig(root=str(root)))
    assert list(before["stereoset"]) == ["stereoset_dev_flat.jsonl"] and "dev.json" in after["stereoset"]
    var = variant("stereoset", cfg)
    assert reuse_key(var, "w", {}, before) != reuse_key(var, "w", {}, after)


def test_every_benchmark_has_a_runner_a_definition_version_and_an_options_block():
    """A new benchmark plugs in through RUNNERS and its config block; naming and reuse need no special case."""
    import importlib

    from babybias.configs.evaluate import BENCHMARKS

    cfg = compose_command("evaluate")
    assert set(evaluate_command.RUNNERS) == set(BENCHMARKS)
    for name, bench in evaluate_command.RUNNERS.items():
        assert isinstance(importlib.import_module(f"babybias.metrics.{bench.metric}").DEFINITION_VERSION, int)
        var = evaluate_command.variant(name, cfg)
        assert var.stem == var.base_stem == name and var.precision == "fp32"
    assert evaluate_command.variant("stereoset", compose_command("evaluate", ["stereoset.source=flat"])).stem == \
        "stereoset-flat"
    both = evaluate_command.variant("crows_pairs", compose_command(
        "evaluate", ["crows_pairs.scoring=modified", "scoring.precision=bf16", "debias=inlp", "debias.n_classifiers=4"]))
    assert both.stem.startswith("crows_pairs-modified-inlp-") and both.stem.endswith("-bf16")
    assert both.base_stem == "crows_pairs-modified-bf16" and both.options["debias"]["n_classifiers"] == 4
    assert evaluate_command.variant("crows_pairs", compose_command("evaluate", ["debias=inlp"])).stem == \
        "crows_pairs-inlp"  # the shipped settings of a method add no hash


def test_a_debiased_result_records_the_configuration_applied_read_from_the_artifact(tiny_run, small_data, tmp_path):
    base = _base(tiny_run, small_data, tmp_path, "debias=self_debias", "debias.decay_constant=20")
    (stem,) = _evaluate(base)
    result = json.loads((tiny_run.parent / "eval" / "step-0000100" / f"{stem}.json").read_text())
    applied = result["debias_applied"]
    stored = json.loads((tiny_run.parent.parent / applied["folder"] / "artifact.json").read_text())
    assert applied["config"] == stored["config"] and applied["config"]["decay_constant"] == 20.0
    assert applied["fit_key"]["weights_sha256"] == result["weights_sha256"]
    assert stem.startswith("pppl-self_debias-") and result["base_variant"] == "pppl"
    # another setting is another variant with its own artifact, never the first one's numbers
    (other,) = _evaluate(_base(tiny_run, small_data, tmp_path, "debias=self_debias", "debias.decay_constant=80"))
    again = json.loads((tiny_run.parent / "eval" / "step-0000100" / f"{other}.json").read_text())
    assert other != stem and again["debias_applied"]["folder"] != applied["folder"]
    assert again["summary"]["pppl"] != result["summary"]["pppl"]


def test_weights_hash_covers_every_shard(tmp_path):
    single, sharded = tmp_path / "single", tmp_path / "sharded"
    single.mkdir()
    sharded.mkdir()
    (single / "model.safetensors").write_bytes(b"abc")
    assert weights_sha256(single) == file_sha256(single / "model.safetensors")
    for k in (1, 2):
        (sharded / f"model-0000{k}-of-00002.safetensors").write_bytes(b"x" * k)
    first = weights_sha256(sharded)
    (sharded / "model-00002-of-00002.safetensors").write_bytes(b"yyy")  # a retrained shard
    assert first is not None and weights_sha256(sharded) != first
    assert weights_sha256(tmp_path) is None  # no weights: never treated as the same model


def test_two_run_folders_never_share_an_eval_folder(small_data, tmp_path):
    """Runs copied side by side (models/x, models/y) and a pretrain-dryrun beside its pretrain each evaluate into
    their own folder: neither's result overwrites, or is paired or reported as, the other's."""
    from babybias.analysis.dynamics import select_checkpoints
    from babybias.scoring.testing import save_tiny_run

    texts = tmp_path / "validation.txt"
    texts.write_text(TEXTS)
    runs = {"x": save_tiny_run(tmp_path / "models" / "x", steps=(100,), seed=1),
            "y": save_tiny_run(tmp_path / "models" / "y", steps=(100,), seed=7),
            "real": save_tiny_run(tmp_path / "runs" / "toy" / "pretrain", steps=(100,), seed=3),
            "dryrun": save_tiny_run(tmp_path / "runs" / "toy" / "pretrain-dryrun", steps=(100,), seed=5)}
    for run in runs.values():
        evaluate_command.run(compose_command("evaluate", overrides(run, small_data, "eval=[pppl]",
                                                                   f"pppl.path={texts}")))
    folders = {name: select_checkpoints(str(run), "final", tmp_path)[0].eval_dir for name, run in runs.items()}
    assert len(set(folders.values())) == 4
    assert folders["real"] == tmp_path / "runs" / "toy" / "eval" / "step-0000100"  # the documented layout
    for name, run in runs.items():
        result = json.loads((folders[name] / "pppl.json").read_text())
        assert result["weights_sha256"] == weights_sha256(run / "checkpoints" / "step-0000100")
        assert result["summary"]["pppl"] == pytest.approx(_direct_pppl(run / "checkpoints" / "step-0000100"))
