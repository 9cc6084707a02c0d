"""The demo pipeline on an LTG-BERT checkpoint: `babybias pretrain model=ltg_bert_small experiment=demo` (shrunk to
test size), evaluate crows_pairs/stereoset/seat/blimp, `debias fit debias=inlp` and the three post-model methods
at evaluation, CDA continued pretraining, and the SISA encoder and features."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from ltg_helpers import write_sentences

from babybias.launch.compose import run_command

torch.set_num_threads(1)

TINY = {"model.hidden_size": 32, "model.num_layers": 2, "model.num_heads": 2, "model.intermediate_size": 48,
        "model.max_position_embeddings": 64, "model.position_bucket_size": 8, "tokenizer.vocab_size": 200,
        "tokenizer.model_max_length": 64, "train.steps": 4, "train.batch_size": 8, "train.seq_len": 32,
        "train.warmup_steps": 1, "train.checkpoint_steps": "[2]", "train.validation_blocks": 4, "impl": "cpu",
        "impl.num_threads": 1, "wandb": "off"}


@pytest.fixture(scope="module")
def data_root(shared_data, tmp_path_factory) -> Path:
    """A few rows of CrowS-Pairs and StereoSet (so tests compose with data.verify=false), the rest linked whole."""
    root = tmp_path_factory.mktemp("ltg_data")
    for name, file, n in (("crows_pairs", "crows_pairs_anonymized.csv", 9), ("stereoset", "stereoset_dev_flat.jsonl", 20)):
        (root / name).mkdir()
        lines = (shared_data / name / file).read_text(encoding="utf-8").splitlines(keepends=True)
        (root / name / file).write_text("".join(lines[:n]), encoding="utf-8")
    for name in ("seat", "blimp", "bias_attribute_words", "debiaswe_word_lists", "winobias"):
        (root / name).symlink_to(shared_data / name, target_is_directory=True)
    return root


@pytest.mark.slow
def test_demo_pipeline_runs_on_an_ltg_bert_checkpoint(tmp_path, data_root):
    from babybias.metrics import crows_pairs
    from babybias.model import load_model
    from babybias.scoring import ScoringEngine
    from babybias.unlearn.features import encoder_features

    common = [f"data.root={data_root}", "data.verify=false", "data.mirror=null", f"paths.runs={tmp_path / 'runs'}",
              f"paths.cache={tmp_path / 'cache'}"]
    text = write_sentences(tmp_path / "corpus.txt", 700, seed=5)
    run_command("pretrain", ["model=ltg_bert_small", "experiment=demo", "name=demo_ltg", f"corpus.sources=[{text}]",
                             *[f"{k}={v}" for k, v in TINY.items()], *common])
    run = tmp_path / "runs" / "demo_ltg" / "pretrain"
    assert (run / "DONE").exists()
    assert json.loads((run / "model" / "config.json").read_text())["model_type"] == "ltg_bert"

    # evaluate: four benchmarks on the final checkpoint; the command's number is the engine + metric, directly
    evaluate = [f"run={run}", "impl.device=cpu", "impl.eval_batch_size=64", "seat.tests=[sent-weat6]",
                "blimp.limit=1", *common]
    run_command("evaluate", [*evaluate, "eval=[crows_pairs,stereoset,seat,blimp]"])
    eval_dir = run.parent / "eval" / "step-0000004"
    names = {p.name for p in eval_dir.glob("*.json")}
    assert {"crows_pairs.json", "stereoset.json", "blimp-limit1.json"} <= names
    assert any(n.startswith("seat") for n in names)
    result = json.loads((eval_dir / "crows_pairs.json").read_text())
    pairs = crows_pairs.load_crows_pairs(data_root / "crows_pairs" / "crows_pairs_anonymized.csv")
    engine = ScoringEngine.from_checkpoint(run / "model", progress=False)
    direct = crows_pairs.compute(pairs, engine.score(crows_pairs.requests_for(pairs)))
    assert result["summary"]["metric_score"] == pytest.approx(direct.summary["metric_score"])

    # the engine's masked log-probabilities are the LTG-BERT model's own, from one full forward pass
    model = load_model(run / "model").eval()
    ids = torch.tensor([[2, 40, 41, 4, 42, 43, 3]])
    with torch.no_grad():
        expected = torch.log_softmax(model(input_ids=ids).logits[0, 3], -1)
        got = engine.model.masked_logprobs(ids, torch.ones_like(ids), torch.tensor([0]), torch.tensor([3]))[0]
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)

    # INLP on LTG-BERT's hidden states: an orthogonal projection of size H, applied at evaluation
    artifact = run_command("debias", ["action=fit", "debias=inlp", f"run={run}", "name=demo_ltg",
                                      "debias.n_classifiers=4", "debias.sentences_per_class=12", *common])
    projection = artifact.arrays["projection"]
    assert projection.shape == (32, 32) and np.allclose(projection @ projection, projection, atol=1e-6)
    run_command("evaluate", [*evaluate, "eval=[crows_pairs]", "debias=inlp"])
    for method in ("sentence_debias", "self_debias"):  # fitted where missing, then applied
        # one prefix for every category: the longest per-category prefix (66 tokens with this test tokenizer)
        # does not fit the 64-position test model
        scope = ["debias.prefix_scope=bias_type"] if method == "self_debias" else []
        run_command("evaluate", [*evaluate, "eval=[crows_pairs]", f"debias={method}", *scope])
    for method in ("inlp", "sentence_debias", "self_debias"):
        assert any(method in p.name for p in eval_dir.glob("crows_pairs*.json")), method

    # CDA continued pretraining from the LTG-BERT run (the corpus is rebuilt with gender-swapped copies)
    cda = run_command("pretrain", ["model=ltg_bert_small", "name=demo_ltg_cda", "debias=cda",
                                   f"init_from={run}", "debias.steps=1", f"corpus.sources=[{text}]",
                                   *[f"{k}={v}" for k, v in TINY.items() if k != "train.steps"],
                                   "train.checkpoint_steps=[]", *common])  # 1 step: no checkpoint at step 2
    assert cda.steps == 1 and type(cda.model).__name__ == "LtgBertForMaskedLM"

    # SISA: the encoder loads through AutoModel (fine-tuning) and its mean-pooled features are LTG-BERT's own
    from transformers import AutoModel

    from babybias.unlearn.features import quiet_from_pretrained

    assert type(quiet_from_pretrained(AutoModel, run / "model")).__name__ == "LtgBertModel"
    texts = ["she is a doctor .", "he reads a book every morning and the letter after school ."]
    features, _ = encoder_features(run / "model", texts, max_length=16, cache_dir=tmp_path / "cache")
    tokenizer = engine.tokenizer
    with torch.no_grad():
        for row, text in zip(features, texts):
            enc = tokenizer(text, return_tensors="pt", truncation=True, max_length=16)
            hidden = model.ltg_bert(input_ids=enc["input_ids"]).last_hidden_state[0]
            np.testing.assert_allclose(row, hidden.mean(0).numpy(), atol=1e-5)
