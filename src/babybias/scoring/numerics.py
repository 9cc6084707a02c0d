"""The numerics of the scoring forward: fp32 on every device unless a reduced precision is asked for by name.

Scores are compared across models, devices and papers, so the default must not depend on the machine or on
what the caller left switched on (a training loop's autocast, `impl.precision=bf16`, TF32):

- `scoring_numerics()` wraps every scoring forward (`ScoringEngine.score` and `.embed`): autocast off for
  CPU and CUDA whatever the caller's state, and float32 matmuls in full IEEE precision (TF32 off on CUDA,
  no reduced-precision fp32 matmuls in oneDNN on CPU); the caller's settings are restored afterwards.
- `autocast_for(device, precision)` is what the model side enters around the encoder and the MLM head:
  disabled for `fp32`; bf16/fp16 autocast only for an explicit reduced scoring precision (`scoring.precision`
  in `babybias evaluate`), whose results are recorded as such and kept apart from fp32 ones.

Why it matters: bf16 rounds logits of magnitude 8-32 by 0.03-0.06 nats, about 50x CrowS-Pairs' 0.001
rounding step; on a weak model bf16 flipped 6.8% of CrowS pair preferences.
"""

from __future__ import annotations

from contextlib import ExitStack, contextmanager
from typing import Iterator

import torch

PRECISIONS = ("fp32", "bf16", "fp16")
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
_AMBIENT_DEVICES = ("cpu", "cuda")


def autocast_for(device: torch.device, precision: str):
    """The autocast context of a scoring forward on `device`: off for fp32, on with bf16/fp16 otherwise."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "fp32":
        return torch.autocast(device.type, enabled=False)
    return torch.autocast(device.type, dtype=_DTYPES[precision])


@contextmanager
def fp32_matmuls() -> Iterator[None]:
    """float32 matmuls in full IEEE precision for the block (TF32 off), the caller's settings restored after.

    torch keeps a global setting (`torch.set_float32_matmul_precision`, also set by the legacy
    `torch.backends.cuda.matmul.allow_tf32`) and per-backend ones (`torch.backends.<backend>.matmul.
    fp32_precision`); when they disagree the global getter, and cuBLAS's TF32 check, raise. So a full-precision
    state is left alone, the global setting is changed through the global API when it is readable, and the
    per-backend values are restored exactly afterwards.
    """
    backends = (torch.backends.cuda.matmul, torch.backends.mkldnn.matmul)
    saved = [backend.fp32_precision for backend in backends]
    try:
        previous = torch.get_float32_matmul_precision()
    except RuntimeError:  # the caller set the per-backend API: stay with it
        previous = None
    if previous == "highest" and all(value in ("none", "ieee") for value in saved):
        yield  # already full precision (the default): touch nothing
        return
    if previous is not None:
        torch.set_float32_matmul_precision("highest")
    for backend in backends:
        if backend.fp32_precision not in ("none", "ieee"):
            backend.fp32_precision = "ieee"
    try:
        yield
    finally:
        if previous is not None:
            torch.set_float32_matmul_precision(previous)
        for backend, value in zip(backends, saved):
            if backend.fp32_precision != value:
                backend.fp32_precision = value


@contextmanager
def scoring_numerics() -> Iterator[None]:
    """fp32 scoring whatever the caller left on: autocast off (CPU and CUDA) and TF32 off (see the module)."""
    with ExitStack() as stack:
        stack.enter_context(fp32_matmuls())
        for device_type in _AMBIENT_DEVICES:
            stack.enter_context(torch.autocast(device_type, enabled=False))
        yield
