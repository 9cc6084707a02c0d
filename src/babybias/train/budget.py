"""The expected GPU-hours of a pretraining run, printed before a long run starts.

From measured throughput where `benchmarks/gpu_pretrain.py` has measured it (`MEASURED_TOKENS_PER_S`, GPU name
and model config name -> tokens/s with bf16 autocast, one GPU), otherwise from the model FLOP count
(`babybias.model.training_flops_per_token`, 6N + 12 L H T (+ LTG-BERT's relative attention)) at an assumed MFU of
`ASSUMED_MFU` of the GPU's dense bf16 peak (`precision.peak_flops`; an H100/H200 when the run is not on a known
GPU). No babybias run has been measured on a GPU yet, so the table is empty and every estimate says it is one.
"""

from __future__ import annotations

from dataclasses import dataclass

ASSUMED_MFU = 0.40
"""A typical bf16 MFU for a well-fed BERT-sized encoder on an H100 at 128-token blocks; not measured for babybias."""
REFERENCE_GPU = ("H100/H200", 989e12)
"""The GPU quoted when the run is not on a known one (dense bf16 peak, FLOP/s)."""
MEASURED_TOKENS_PER_S: dict[tuple[str, str], float] = {}
"""(substring of the GPU name, model.name) -> training tokens/s on one GPU, from benchmarks/gpu_pretrain.py."""
LONG_RUN_GPU_HOURS = 0.05
"""Runs expected to take at least this long get the estimate printed (3 minutes of one GPU)."""


@dataclass(frozen=True)
class Estimate:
    tokens: float
    flops: float
    gpu: str
    gpu_hours: float
    basis: str
    """How the figure was obtained, in words."""

    def describe(self) -> str:
        return (f"expected compute: {self.tokens:.3g} tokens, {self.flops:.3g} model FLOPs = {self.gpu_hours:.3g} "
                f"GPU-hours on {self.gpu} ({self.basis})")


def estimate(total_tokens: float, flops_per_token: float, model_name: str, gpu_name: str | None,
             peak_flops: float | None) -> Estimate:
    """GPU-hours of `total_tokens` training tokens: measured tokens/s for (GPU, model) when known, else FLOPs at
    `ASSUMED_MFU` of `peak_flops` (or of the reference GPU when the run's GPU is unknown or a CPU)."""
    flops = total_tokens * flops_per_token
    for (gpu, model), tokens_per_s in MEASURED_TOKENS_PER_S.items():
        if gpu_name and gpu in gpu_name and model == model_name:
            return Estimate(total_tokens, flops, gpu_name, total_tokens / tokens_per_s / 3600,
                            f"measured {tokens_per_s:,.0f} tokens/s by benchmarks/gpu_pretrain.py")
    gpu, peak = (gpu_name, peak_flops) if gpu_name and peak_flops else REFERENCE_GPU
    basis = (f"no GPU throughput of babybias measured yet: FLOP count at an assumed {ASSUMED_MFU:.0%} MFU of "
             f"{peak / 1e12:.0f} TFLOP/s bf16; measure with benchmarks/gpu_pretrain.py")
    return Estimate(total_tokens, flops, gpu, flops / (ASSUMED_MFU * peak) / 3600, basis)


def announce(trainer) -> Estimate | None:
    """Print the estimate of the trainer's remaining steps when the run is long; returns it (None when short)."""
    import torch

    cfg = trainer.cfg
    remaining = (cfg.train.steps - trainer.step) * cfg.train.batch_size * cfg.train.seq_len
    gpu_name = torch.cuda.get_device_name(trainer.device) if trainer.device.type == "cuda" else None
    found = estimate(remaining, trainer._flops_per_token, cfg.model.name, gpu_name, trainer._peak_flops)
    if found.gpu_hours < LONG_RUN_GPU_HOURS:
        return None
    world = trainer.dist.world_size
    per_gpu = f"; {found.gpu_hours / world:.3g} h wall on {world} GPUs" if world > 1 else ""
    print(f"{cfg.train.steps - trainer.step} steps: {found.describe()}{per_gpu}", flush=True)
    return found
