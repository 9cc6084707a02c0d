"""Scoring runs in fp32 on every device by default, whatever `impl.precision` or the caller's state says.

CPU: the dtypes of every matmul the engine runs are recorded (a torch dispatch mode). CUDA (tested on CPU):
the autocast and TF32 state seen *inside* the model's forward, with the caller's state set as a bf16 GPU
training loop leaves it, and the autocast context the model enters for a CUDA device.
"""

from __future__ import annotations

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from babybias.configs.common import ImplConfig
from babybias.metrics.requests import TokenScoreRequest
from babybias.scoring import HFMaskedLM, MaskedLMWrapper, ScoringEngine
from babybias.scoring.numerics import fp32_matmuls
from babybias.scoring.testing import save_tiny_checkpoint

TEXTS = ["the man is a doctor .", "she was very smart and rich .", "they like dogs"]
_MATMULS = {"mm", "addmm", "bmm", "baddbmm", "matmul", "linear", "_scaled_dot_product_flash_attention_for_cpu",
            "_scaled_dot_product_attention_math", "scaled_dot_product_attention"}


class MatmulDtypes(TorchDispatchMode):
    """Records the floating dtypes of the inputs of every matmul-like aten op run under it."""

    def __init__(self):
        super().__init__()
        self.seen: list[tuple[str, torch.dtype]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.overloadpacket.__name__
        if name in _MATMULS:
            for arg in args:
                if isinstance(arg, torch.Tensor) and arg.is_floating_point():
                    self.seen.append((name, arg.dtype))
        return func(*args, **(kwargs or {}))


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return save_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "model")


def _run(engine) -> tuple[list, list]:
    with MatmulDtypes() as recorder:
        scores = [s.logprobs for s in engine.score([TokenScoreRequest(t) for t in TEXTS])]
        engine.embed(TEXTS)
    return scores, recorder.seen


def test_default_scoring_matmuls_are_fp32_even_under_impl_bf16(checkpoint):
    fp32 = ScoringEngine.from_checkpoint(checkpoint, ImplConfig(device="cpu"), progress=False)
    told_bf16 = ScoringEngine.from_checkpoint(checkpoint, ImplConfig(device="cpu", precision="bf16"), progress=False)
    assert told_bf16.precision == "fp32"  # impl.precision is a training speed setting, not a scoring one
    reference, _ = _run(fp32)
    scores, seen = _run(told_bf16)
    assert len(seen) > 20 and {dtype for _, dtype in seen} == {torch.float32}
    assert scores == reference  # bit for bit
    # a caller's bf16 autocast and reduced fp32 matmul precision do not reach the scoring forward
    previous = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("medium")
    try:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            inside, seen = _run(fp32)
            assert torch.is_autocast_enabled("cpu")  # the caller's state is left as it was
        assert torch.get_float32_matmul_precision() == "medium"
    finally:
        torch.set_float32_matmul_precision(previous)
    assert {dtype for _, dtype in seen} == {torch.float32} and inside == reference


def test_reduced_precision_is_an_explicit_choice_the_recorder_sees(checkpoint):
    bf16 = ScoringEngine.from_checkpoint(checkpoint, ImplConfig(device="cpu"), progress=False, precision="bf16")
    assert bf16.precision == "bf16"
    scores, seen = _run(bf16)
    assert torch.bfloat16 in {dtype for _, dtype in seen}  # so the fp32 assertion above is not vacuous
    reference, _ = _run(ScoringEngine.from_checkpoint(checkpoint, ImplConfig(device="cpu"), progress=False))
    assert scores != reference


class StateRecorder(MaskedLMWrapper):
    """Delegates to `base`; records the autocast/TF32 state inside each forward."""

    def __init__(self, base):
        super().__init__(base)
        self.states: list[tuple] = []

    def hidden_states(self, input_ids, attention_mask):
        self.states.append((torch.is_autocast_enabled("cuda"), torch.is_autocast_enabled("cpu"),
                            torch.backends.cuda.matmul.allow_tf32, torch.get_float32_matmul_precision()))
        return super().hidden_states(input_ids, attention_mask)


def test_gpu_path_scores_without_autocast_or_tf32_whatever_the_caller_left_on(checkpoint, monkeypatch):
    from babybias.scoring.model import load_masked_lm

    lm, tokenizer = load_masked_lm(checkpoint, "cpu")
    recorder = StateRecorder(lm)
    engine = ScoringEngine(recorder, tokenizer, progress=False)
    # what a bf16 GPU training loop (impl=gpu_bf16, TF32 on) leaves behind when it calls the scorer
    torch.set_autocast_enabled("cuda", True)
    torch.set_autocast_dtype("cuda", torch.bfloat16)
    torch.backends.cuda.matmul.allow_tf32 = True
    try:
        engine.score([TokenScoreRequest(TEXTS[0])])
        engine.embed(TEXTS[:1])
        assert torch.is_autocast_enabled("cuda") and torch.backends.cuda.matmul.allow_tf32  # restored after
    finally:
        torch.set_autocast_enabled("cuda", False)
        torch.backends.cuda.matmul.allow_tf32 = False
    assert recorder.states and set(recorder.states) == {(False, False, False, "highest")}

    # the model's own autocast context on a CUDA device: off for fp32, bf16 only when asked for
    on_cuda = HFMaskedLM(lm.model, "cpu")
    on_cuda.device = torch.device("cuda")  # only the autocast context is entered here, no tensor moves
    torch.set_autocast_enabled("cuda", True)
    try:
        with on_cuda._autocast():
            assert not torch.is_autocast_enabled("cuda")
    finally:
        torch.set_autocast_enabled("cuda", False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # else a CPU build refuses CUDA autocast
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: True)
    try:
        with on_cuda.with_precision("bf16")._autocast():
            assert torch.is_autocast_enabled("cuda") and torch.get_autocast_dtype("cuda") == torch.bfloat16
    finally:
        torch.set_autocast_enabled("cuda", False)


@pytest.mark.parametrize("api", ["legacy", "global", "medium", "per_backend", "onednn", "untouched"])
def test_fp32_matmuls_restores_the_callers_tf32_setting_in_the_api_it_used(api):
    def state():
        out = {"cuda": torch.backends.cuda.matmul.fp32_precision, "mkldnn": torch.backends.mkldnn.matmul.fp32_precision}
        for name, read in (("legacy", lambda: torch.backends.cuda.matmul.allow_tf32),
                           ("global", torch.get_float32_matmul_precision)):
            try:
                out[name] = read()
            except RuntimeError:  # the two APIs were mixed by the caller: reading the other one raises
                out[name] = "mixed"
        return out

    set_up = {"legacy": lambda: setattr(torch.backends.cuda.matmul, "allow_tf32", True),
              "global": lambda: torch.set_float32_matmul_precision("high"),
              "medium": lambda: torch.set_float32_matmul_precision("medium"),  # oneDNN bf16 on CPU too
              "per_backend": lambda: setattr(torch.backends.cuda.matmul, "fp32_precision", "tf32"),
              "onednn": lambda: setattr(torch.backends.mkldnn.matmul, "fp32_precision", "bf16"),
              "untouched": lambda: None}
    try:
        set_up[api]()
        before = state()
        with fp32_matmuls():
            inside = state()
        assert state() == before
    finally:
        torch.backends.cuda.matmul.fp32_precision = "none"  # torch's defaults
        torch.backends.mkldnn.matmul.fp32_precision = "none"
        torch.set_float32_matmul_precision("highest")
        torch.backends.cuda.matmul.fp32_precision = "none"
        torch.backends.mkldnn.matmul.fp32_precision = "none"
    # inside: full precision, and cuBLAS's own check (the legacy getter) does not raise on mixed APIs
    assert inside["legacy"] is False and inside["global"] == "highest"
    assert inside["cuda"] in ("none", "ieee") and inside["mkldnn"] in ("none", "ieee")
