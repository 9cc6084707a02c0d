"""A debiasing artifact is reused only for the same fit: every setting, the weights and the fit data.

Changing any setting refits (evaluate's own artifacts, `babybias debias fit`) or refuses (an artifact chosen
by path); never a silent reuse.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from babybias.configs.debias import DebiasConfig
from babybias.debias.apply import debiased_model, fit_and_save
from babybias.debias.artifacts import (
    default_artifact_dir,
    fit_key,
    fit_mismatches,
    method_settings,
    settings_suffix,
)
from babybias.errors import BabybiasError

# a valid value other than the default for every setting (a new DebiasConfig field must be added here)
OTHER_VALUES = {"bias_type": "race", "steps": 7, "hidden_dropout": 0.1, "attention_dropout": 0.05,
                "sentences_per_class": 11, "max_sentence_words": 9, "dev_fraction": 0.5, "n_classifiers": 3,
                "classifier": "logistic_regression", "min_accuracy": 0.4, "n_components": 2, "decay_constant": 20.0,
                "epsilon": 0.1, "prefixes": ["The following text is unfair:"], "lexicon": "merged",
                "lowercase": "true", "clip_sentences": False, "test_fraction": 0.2,
                "n_classifiers_scaling": "hidden_size", "reference_hidden_size": 1024, "counterfactuals": "all_words",
                "max_pairs": 50, "prefix_scope": "bias_type", "epochs": 2, "batch_size": 4,
                "lr": 1e-4, "adam_eps": 1e-6, "grad_clip": 0.5, "max_seq_len": 64, "max_examples": 10,
                "cds_unit": "passage", "orthogonal_weight": 2.0, "ewc_importance": 0.1, "fisher_sentences": 5}


@pytest.mark.parametrize("method", ["inlp", "sentence_debias", "self_debias"])
def test_every_setting_is_in_the_key_and_gets_its_own_folder(method, tmp_path):
    fields = {f.name for f in dataclasses.fields(DebiasConfig)} - {"method", "artifact"}
    assert fields == set(OTHER_VALUES), "add a non-default value for each new DebiasConfig field to OTHER_VALUES"
    base = DebiasConfig(method=method)
    wanted = fit_key(base, "w" * 64, "c" * 64, 0)
    assert fit_mismatches(wanted, wanted) == [] and settings_suffix(base) is None
    folders = {default_artifact_dir(tmp_path, method, "model", base)}
    for name, value in OTHER_VALUES.items():
        changed = dataclasses.replace(base, **{name: value})
        reasons = fit_mismatches(fit_key(changed, "w" * 64, "c" * 64, 0), wanted)
        assert reasons == [f"debias.{name} was {method_settings(changed)[name]}, now {method_settings(base)[name]}"]
        folders.add(default_artifact_dir(tmp_path, method, "model", changed))
    assert len(folders) == len(OTHER_VALUES) + 1  # no two settings share an artifact folder
    assert fit_mismatches(fit_key(base, "v" * 64, "c" * 64, 0), wanted) == ["it was fitted on other weights"]
    assert "fit data" in fit_mismatches(fit_key(base, "w" * 64, "d" * 64, 0), wanted)[0]
    assert fit_mismatches(fit_key(base, "w" * 64, "d" * 64, 0), wanted, fit_data=False) == []
    assert fit_mismatches(None, wanted) == ["it was fitted by an older babybias (no fit key)"]


@pytest.mark.parametrize("method", ["inlp", "sentence_debias", "self_debias"])
def test_shipped_presets_are_the_method_defaults(method):
    """conf/debias/<method>.yaml sets the dataclass defaults, so default runs get the plain folder and stem."""
    from babybias.launch.compose import compose_command

    assert settings_suffix(compose_command("evaluate", [f"debias={method}"]).debias) is None


def _engine(model_dir):
    from babybias.scoring import ScoringEngine
    from babybias.scoring.model import load_masked_lm

    lm, tokenizer = load_masked_lm(model_dir, "cpu")
    return lm, ScoringEngine(lm, tokenizer, progress=False)


def test_an_artifact_fitted_otherwise_is_refit_for_evaluation(tiny_run, word_list_data, tmp_path, capsys):
    model_dir = tiny_run / "model"
    lm, engine = _engine(model_dir)
    root = tmp_path / "runs" / "tiny" / "debias"
    wanted = DebiasConfig(method="inlp", n_classifiers=4, sentences_per_class=10)
    folder = default_artifact_dir(root, "inlp", model_dir, wanted)
    # the folder holds an artifact fitted with 3 classifiers (as after a change of the shipped defaults)
    fit_and_save(dataclasses.replace(wanted, n_classifiers=3), engine, model_dir, folder, data_cfg=word_list_data, seed=0)
    _, artifact = debiased_model(lm, engine, wanted, model_dir, artifact_root=root, data_cfg=word_list_data)
    assert "refitting inlp artifact" in capsys.readouterr().out
    assert artifact.config["n_classifiers"] == 4 and artifact.info["fit_key"]["settings"]["n_classifiers"] == 4
    assert artifact.folder == str(folder)
    _, again = debiased_model(lm, engine, wanted, model_dir, artifact_root=root, data_cfg=word_list_data)
    assert "refitting" not in capsys.readouterr().out  # same fit: reused
    assert np.array_equal(again.arrays["projection"], artifact.arrays["projection"])

    # retrained weights under the same name: refit, not reused and not refused
    from babybias.scoring.testing import save_tiny_checkpoint

    save_tiny_checkpoint(model_dir, seed=42)
    lm, engine = _engine(model_dir)
    _, refit = debiased_model(lm, engine, wanted, model_dir, artifact_root=root, data_cfg=word_list_data)
    assert "fitted on other weights" in capsys.readouterr().out
    assert not np.allclose(refit.arrays["projection"], artifact.arrays["projection"])


def test_an_artifact_chosen_by_path_is_refused_when_a_setting_differs(tiny_run, word_list_data, tmp_path):
    model_dir = tiny_run / "model"
    lm, engine = _engine(model_dir)
    fitted = DebiasConfig(method="self_debias", decay_constant=20.0)
    folder = fit_and_save(fitted, engine, model_dir, tmp_path / "mine", data_cfg=word_list_data, seed=0).folder
    chosen = dataclasses.replace(fitted, artifact=folder)
    _, artifact = debiased_model(lm, engine, chosen, model_dir, artifact_root=tmp_path, data_cfg=word_list_data)
    assert artifact.config["decay_constant"] == 20.0
    for name, value in (("decay_constant", 50.0), ("bias_type", "race-color")):
        with pytest.raises(BabybiasError, match=f"debias.{name} was .*, now ") as err:
            debiased_model(lm, engine, dataclasses.replace(chosen, **{name: value}), model_dir, artifact_root=tmp_path,
                           data_cfg=word_list_data)
        assert "\n" not in str(err.value) and "force=true" in err.value.fix


def test_debias_fit_command_refits_a_changed_setting(tiny_run, word_list_data, tmp_path, capsys):
    from babybias.launch.compose import run_command

    target = tmp_path / "my_artifact"
    base = ["action=fit", "debias=inlp", f"run={tiny_run}", f"paths.runs={tmp_path / 'runs'}",
            f"data.root={word_list_data.root}", "debias.sentences_per_class=12", f"debias.artifact={target}"]
    first = run_command("debias", [*base, "debias.n_classifiers=4"])
    again = run_command("debias", [*base, "debias.n_classifiers=4"])
    assert "already fitted with these settings" in capsys.readouterr().out
    assert np.array_equal(again.arrays["projection"], first.arrays["projection"])
    changed = run_command("debias", [*base, "debias.n_classifiers=1"])
    assert "debias.n_classifiers was 4, now 1" in capsys.readouterr().out
    assert changed.config["n_classifiers"] == 1 and changed.info["n_classifiers_kept"] <= 1


def test_a_result_is_recomputed_when_its_artifact_is_refitted_in_place(tiny_run, word_list_data, tmp_path):
    """`debias.artifact=<dir>` refitted there on other sentences (same settings and weights): evaluate must not
    reuse the result computed with the old artifact."""
    import json

    from babybias.commands import evaluate as evaluate_command
    from babybias.launch.compose import compose_command, run_command

    def write_corpus(path, repeats):
        lines = [f"{who} {what} number {i} ." for i in range(repeats) for who in ("he", "she", "the man", "the woman",
                 "his father", "her mother", "the dog") for what in ("ran home", "works at home", "has a cat")]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    target, texts = tmp_path / "my_artifact", tmp_path / "texts.txt"
    texts.write_text("the man ran home .\nshe is a nurse .\nthe dog ran .\n")
    settings = ["debias=inlp", "debias.sentences_per_class=12", "debias.n_classifiers=2", f"debias.artifact={target}"]
    common = [f"paths.runs={tmp_path / 'runs'}", f"data.root={word_list_data.root}", *settings]

    def fit(corpus, *extra):
        return run_command("debias", ["action=fit", f"run={tiny_run}", f"corpus_file={corpus}", *common, *extra])

    def evaluate() -> tuple[str, dict]:
        cfg = compose_command("evaluate", [f"run={tiny_run}", "eval=[pppl]", f"pppl.path={texts}", "impl.device=cpu",
                                           "data.verify=false", *common])
        ((stem, status),) = evaluate_command.run(cfg)["status"]["tiny/step-0000010"].items()
        return status, json.loads((tiny_run.parent / "eval" / "step-0000010" / f"{stem}.json").read_text())

    first = fit(write_corpus(tmp_path / "a.txt", repeats=5))
    status, result = evaluate()
    assert status.startswith("computed") and evaluate()[0] == "skipped (exists)"
    refit = fit(write_corpus(tmp_path / "b.txt", repeats=2), "force=true")
    assert not np.array_equal(refit.arrays["projection"], first.arrays["projection"])
    status, again = evaluate()
    assert "artifact was refitted" in status
    on_disk = {k: v["sha256"] for k, v in json.loads((target / "artifact.json").read_text())["arrays"].items()}
    assert again["debias_applied"]["arrays_sha256"] == on_disk != result["debias_applied"]["arrays_sha256"]
    assert again["summary"]["pppl"] != pytest.approx(result["summary"]["pppl"])
