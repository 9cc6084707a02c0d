"""The training loop waits for the device only at log steps and checkpoints (issue 11 item 3, with issue 10 item 3).

On a GPU every read of a device value into Python (`float(loss)`, `.item()`, a boolean-mask gather) stalls the
host until the GPU has caught up. These CPU tests pin down the structure that avoids it: within an optimizer step no
float tensor is read into Python, the masked head gathers with host-computed positions (bit-identical to the
boolean mask), and the loss is read back only at log steps and checkpoints. (`benchmarks/gpu_sync_check.py` runs
the loop under `torch.cuda.set_sync_debug_mode("error")` on a GPU.)
"""

from __future__ import annotations

import pytest
import torch
from train_helpers import tiny_overrides

from babybias.launch.compose import compose_command

torch.set_num_threads(1)


def test_masked_positions_gather_equals_the_boolean_mask_bit_for_bit():
    from babybias.configs.model import ModelConfig
    from babybias.model import MaskedLMObjective, build_model, masked_positions

    model = build_model(ModelConfig(hidden_size=32, num_layers=2, num_heads=2, intermediate_size=64,
                                    max_position_embeddings=64, hidden_dropout=0.0, attention_dropout=0.0),
                        vocab_size=100, seed=0)
    objective = MaskedLMObjective(model, masked_only=True)
    gen = torch.Generator().manual_seed(0)
    inputs = torch.randint(5, 100, (4, 16), generator=gen)
    labels = torch.where(torch.rand(4, 16, generator=gen) < 0.2, inputs, torch.full_like(inputs, -100))
    positions = masked_positions(labels)
    assert positions.tolist() == [i for i, v in enumerate(labels.flatten().tolist()) if v != -100]
    sums, grads = [], []
    for extra in ((), (positions,)):
        model.zero_grad()
        loss, count = objective(inputs, labels, *extra)
        loss.backward()
        sums.append((loss.detach(), int(count)))
        grads.append([p.grad.clone() for p in model.parameters() if p.grad is not None])
    assert torch.equal(sums[0][0], sums[1][0]) and sums[0][1] == sums[1][1]
    assert all(torch.equal(a, b) for a, b in zip(*grads))


def test_the_loss_is_read_back_only_at_log_steps_and_checkpoints(tmp_path, use_corpus, monkeypatch):
    from babybias.commands import pretrain
    from babybias.train.loop import Pretrainer, StepOutput

    read_at, checked_at, conversions = [], [], []
    loss, check, step = StepOutput.loss, Pretrainer.check_finite, Pretrainer.train_step
    monkeypatch.setattr(StepOutput, "loss", lambda self, dist: read_at.append(self.step) or loss(self, dist))
    monkeypatch.setattr(Pretrainer, "check_finite",
                        lambda self, *a, **k: checked_at.append(self.step) or check(self, *a, **k))

    def spy(name):
        original = getattr(torch.Tensor, name)

        def read(tensor, *args, **kwargs):
            conversions.append((name, tensor.dtype))
            return original(tensor, *args, **kwargs)
        return original, read

    def step_with_spies(self):
        with pytest.MonkeyPatch.context() as patch:  # only while the optimizer step runs
            for name in ("item", "tolist", "__float__", "__int__", "__bool__"):
                patch.setattr(torch.Tensor, name, spy(name)[1])
            return step(self)

    monkeypatch.setattr(Pretrainer, "train_step", step_with_spies)
    cfg = compose_command("pretrain", tiny_overrides(tmp_path, steps=7, **{"train.log_every": 3}))
    result = pretrain.run(cfg)
    assert sorted(set(read_at)) == [2, 3, 6, 7]  # checkpoint 2, log steps 3 and 6, the last step (log + checkpoint)
    assert sorted(set(checked_at)) == [2, 3, 6, 7]
    assert result.steps == 7
    # within a step no float (a loss, a norm) is read into Python; what is read are host-side batch facts (the
    # masking's "anything selected?" and the count of predicted tokens), computed before the batch moves
    assert conversions and {dtype for _, dtype in conversions} <= {torch.bool, torch.int64}
