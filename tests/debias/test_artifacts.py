"""Artifacts round-trip to disk; fitting through the engine and the `debias fit` command; applying to a model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from babybias.configs.debias import DebiasConfig
from babybias.debias.apply import apply_artifact, debiased_model
from babybias.debias.artifacts import DebiasArtifact, default_artifact_dir
from babybias.errors import BabybiasError


def _artifact() -> DebiasArtifact:
    rng = np.random.default_rng(0)
    return DebiasArtifact("inlp", {"method": "inlp", "n_classifiers": 3}, {"projection": rng.normal(size=(4, 4))},
                          {"hidden_size": 4, "dev_accuracies": [0.9, 0.5]},
                          [{"label": "male", "line": 3, "text": "he ran ."}])


def test_artifact_round_trips(tmp_path):
    saved = _artifact()
    saved.save(tmp_path / "a", extra_files={"config.yaml": "x: 1\n"})
    loaded = DebiasArtifact.load(tmp_path / "a")
    assert loaded.method == saved.method and loaded.config == saved.config and loaded.info == saved.info
    assert loaded.sentences == saved.sentences
    assert np.array_equal(loaded.arrays["projection"], saved.arrays["projection"])
    assert (tmp_path / "a" / "config.yaml").read_text() == "x: 1\n"
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == [
        "DONE", "arrays.npz", "artifact.json", "config.yaml", "sentences.jsonl"]


def test_altered_or_unfinished_artifacts_are_refused(tmp_path):
    folder = _artifact().save(tmp_path / "a")
    np.savez(folder / "arrays.npz", projection=np.eye(4))
    with pytest.raises(BabybiasError, match="altered"):
        DebiasArtifact.load(folder)
    (folder / "DONE").unlink()
    with pytest.raises(BabybiasError, match="not a finished"):
        DebiasArtifact.load(folder)


@pytest.mark.parametrize("method", ["inlp", "sentence_debias", "self_debias"])
def test_fit_save_load_apply_gives_the_same_model(method, tiny_run, word_list_data, tmp_path):
    """Fitting at evaluation time writes the artifact; loading it back gives identical scores."""
    from babybias.scoring import ScoringEngine
    from babybias.scoring.model import load_masked_lm

    model_dir = tiny_run / "model"
    lm, tokenizer = load_masked_lm(model_dir, "cpu")
    engine = ScoringEngine(lm, tokenizer, progress=False)
    cfg = DebiasConfig(method=method, n_classifiers=3, sentences_per_class=10)
    runs = str(tmp_path / "runs")
    root = f"{runs}/tiny/debias"
    fitted_lm, artifact = debiased_model(lm, engine, cfg, model_dir, artifact_root=root, data_cfg=word_list_data)
    folder = default_artifact_dir(root, method, model_dir, cfg)  # runs/tiny/debias/<method>/model-<settings hash>
    assert folder.parent == tmp_path / "runs" / "tiny" / "debias" / method and folder.name.startswith("model-")
    assert (folder / "DONE").exists()
    loaded_lm, loaded = debiased_model(lm, engine, cfg, model_dir, artifact_root=root, data_cfg=word_list_data)
    assert loaded.config == artifact.config and loaded.info == json.loads(json.dumps(artifact.info))

    ids = torch.tensor([tokenizer("the man is a [MASK] .")["input_ids"]])
    pos = (ids[0] == tokenizer.mask_token_id).nonzero()[0]
    args = (ids, torch.ones_like(ids), torch.tensor([0]), pos)
    with torch.inference_mode():
        plain, a, b = lm.masked_logprobs(*args), fitted_lm.masked_logprobs(*args), loaded_lm.masked_logprobs(*args)
    assert torch.equal(a, b)
    assert not torch.allclose(plain, a)  # the method changes the scores
    if method != "self_debias":
        records = [json.loads(line) for line in (folder / "sentences.jsonl").read_text().splitlines()]
        assert records and all(r["text"] for r in records)  # which sentences were used is recorded
        assert artifact.info["corpus_file"]["sha256"]
        # the projection is applied before the MLM head and before pooling
        hidden = ScoringEngine(fitted_lm, tokenizer, progress=False).embed(["the man ran ."])
        P = artifact.arrays["projection"]
        assert np.allclose(hidden, hidden @ P, atol=1e-4)


def test_artifact_of_other_weights_is_refused(tiny_run, word_list_data, tmp_path):
    from babybias.scoring import ScoringEngine
    from babybias.scoring.model import load_masked_lm

    lm, tokenizer = load_masked_lm(tiny_run / "model", "cpu")
    cfg = DebiasConfig(method="sentence_debias", sentences_per_class=10)
    runs = str(tmp_path / "runs")
    _, artifact = debiased_model(lm, ScoringEngine(lm, tokenizer, progress=False), cfg, tiny_run / "model",
                                 artifact_root=f"{runs}/tiny/debias", data_cfg=word_list_data)
    folder = default_artifact_dir(f"{runs}/tiny/debias", "sentence_debias", tiny_run / "model", cfg)
    other = tiny_run / "checkpoints" / "step-0000000"
    with pytest.raises(BabybiasError, match="other weights"):
        debiased_model(lm, None, DebiasConfig(method="sentence_debias", sentences_per_class=10, artifact=str(folder)),
                       other, artifact_root=f"{runs}/tiny/debias", data_cfg=word_list_data)
    assert apply_artifact(lm, artifact) is not None


def test_debias_fit_command(tiny_run, word_list_data, tmp_path):
    from babybias.launch.compose import run_command

    overrides = ["action=fit", "debias=inlp", f"run={tiny_run}", "name=tiny", f"paths.runs={tmp_path / 'runs'}",
                 f"data.root={word_list_data.root}", "debias.n_classifiers=4", "debias.sentences_per_class=12"]
    artifact = run_command("debias", overrides)
    folder = Path(artifact.folder)
    assert folder.parent == tmp_path / "runs" / "tiny" / "debias" / "inlp"
    # fitted on the checkpoint `evaluate run=<run> debias=inlp` scores as final (step-0000010 holds model/'s step),
    # so evaluation finds this artifact instead of fitting a second one on model/
    assert folder.name.startswith("step-0000010-")
    assert {"config.yaml", "meta.json", "DONE", "artifact.json"} <= {p.name for p in folder.iterdir()}
    assert artifact.info["class_counts"] == {"male": 12, "female": 12, "neutral": 12}
    assert artifact.config["n_classifiers"] == 4
    P = artifact.arrays["projection"]
    assert np.allclose(P, P.T, atol=1e-8) and np.allclose(P @ P, P, atol=1e-6)
    again = run_command("debias", overrides)  # already fitted: loaded, not refitted
    assert np.array_equal(again.arrays["projection"], P)


def test_debias_fit_rejects_intra_model_methods(tmp_path):
    from babybias.commands.debias import run
    from babybias.configs.debias import DebiasCommandConfig
    from babybias.errors import ConfigError

    with pytest.raises(ConfigError, match="post-model"):
        run(DebiasCommandConfig(debias=DebiasConfig(method="none")))


@pytest.mark.parametrize("method", ["none", "inlp", "sentence_debias", "self_debias"])
def test_debiased_engine_scores_benchmark_requests(method, tiny_run, word_list_data):
    """What `evaluate debias=<method>` runs: the engine over the wrapped model, artifact beside the run."""
    from babybias.configs.common import ImplConfig
    from babybias.debias.apply import debiased_engine
    from babybias.metrics.requests import TokenScoreRequest

    cfg = DebiasConfig(method=method, n_classifiers=3, sentences_per_class=10)
    engine, artifact = debiased_engine(tiny_run / "model", cfg, ImplConfig(device="cpu"), data_cfg=word_list_data,
                                       progress=False)
    plain, _ = debiased_engine(tiny_run / "model", DebiasConfig(), ImplConfig(device="cpu"), progress=False)
    texts = ["the man is a doctor .", "the woman is a nurse .", "he likes " + "the dog " * 40]
    scores = engine.score([TokenScoreRequest(t) for t in texts])
    reference = plain.score([TokenScoreRequest(t) for t in texts])
    assert all(np.isfinite(s.logprobs).all() for s in scores)
    if method == "none":
        assert artifact is None and [s.logprobs for s in scores] == [s.logprobs for s in reference]
    else:
        assert (default_artifact_dir(tiny_run.parent / "debias", method, tiny_run / "model", cfg) / "DONE").exists()
        assert scores[0].logprobs != reference[0].logprobs
    if method == "self_debias":  # long inputs are truncated to leave room for the prefix, not refused
        room = max(len(p) for p in artifact.info["prefix_token_ids"])  # the default (gender) prefix
        assert engine.max_length == plain.max_length - room
