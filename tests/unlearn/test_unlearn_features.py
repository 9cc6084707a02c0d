"""Features and tokenization use the encoder's own length: long real comments are not cut at 32 tokens."""

from __future__ import annotations

import numpy as np

from babybias.configs.unlearn import SisaConfig
from babybias.unlearn.features import embed_texts, encoder_features, encoder_max_length, resolve_max_length

LONG = " ".join(["you are a filthy vile person"] * 12)  # 72 words: more than 32 and than 64 tokens
SHORT = "you are a nice person"


def test_default_length_is_the_encoders_and_long_texts_keep_their_tail(tiny_encoder_run, tmp_path):
    model_dir = tiny_encoder_run / "tinyenc" / "pretrain" / "model"
    assert encoder_max_length(model_dir) == 64  # tokenizer model_max_length 64, 64 positions
    assert resolve_max_length(model_dir, None) == 64 and resolve_max_length(model_dir, 500) == 64
    tail = " ".join(["great wonderful nice"] * 6)
    texts = [LONG[:150] + " " + tail, LONG[:150] + " " + "awful " * 18, SHORT]
    feats, key = encoder_features(model_dir, texts, None, tmp_path)
    cut, _ = encoder_features(model_dir, texts, 32, tmp_path)
    # the two long texts share their first 32 tokens: cut at 32 they embed identically, at 64 they do not
    np.testing.assert_array_equal(cut[0], cut[1])
    assert not np.allclose(feats[0], feats[1])
    np.testing.assert_allclose(feats[2], cut[2], atol=1e-5)  # a short text is unaffected by the limit
    np.testing.assert_array_equal(feats, embed_texts(model_dir, texts, 64))
    again, key_again = encoder_features(model_dir, texts, 64, tmp_path)  # null resolves to 64: same cache entry
    assert key_again == key and np.array_equal(again, feats)


def test_full_finetuning_tokenizes_to_the_encoders_length_and_pads_per_batch(tiny_encoder_run):
    from babybias.unlearn.trainers import FullTrainer

    model_dir = tiny_encoder_run / "tinyenc" / "pretrain" / "model"
    trainer = FullTrainer(np.arange(2), [LONG, SHORT], np.array([1, 0]), model_dir,
                          SisaConfig(finetune="full", batch_size=2))
    assert [len(t) for t in trainer.token_ids] == [64, 7]  # [CLS] you are a nice person [SEP]
    state = trainer.init_state(0)
    # a row's prediction does not depend on the padding its batch needs
    alone = trainer.predict_proba(state, np.array([1]))
    together = trainer.predict_proba(state, np.array([0, 1]))
    np.testing.assert_allclose(alone[0], together[1], atol=1e-6)
