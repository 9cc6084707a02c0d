"""Device and precision from `impl`: autocast context, GradScaler, and peak FLOP/s for MFU."""

from __future__ import annotations

import contextlib
import os

import torch

from babybias.configs.common import ImplConfig
from babybias.errors import ConfigError


def resolve_device(impl: ImplConfig, local_rank: int = 0) -> torch.device:
    name = impl.device
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"impl.device={impl.device} but no CUDA GPU is visible", fix="use impl=cpu (or impl.device=cpu)")
        if name == "cuda" and "LOCAL_RANK" in os.environ:
            name = f"cuda:{local_rank}"
        device = torch.device(name)
        torch.cuda.set_device(device)
        return device
    if name != "cpu":
        raise ConfigError(f"impl.device={impl.device!r} is not known", fix="use impl.device=auto|cpu|cuda|cuda:N")
    return torch.device("cpu")


def autocast_dtype(impl: ImplConfig, device: torch.device) -> torch.dtype | None:
    """The autocast dtype: None for fp32; bf16 falls back to fp16 (+ GradScaler) on GPUs without bf16."""
    if impl.precision == "fp32":
        return None
    if device.type == "cuda":
        if impl.precision == "bf16" and not torch.cuda.is_bf16_supported():
            return torch.float16
        return torch.bfloat16 if impl.precision == "bf16" else torch.float16
    if impl.precision == "fp16":
        raise ConfigError("impl.precision=fp16 is for CUDA only", fix="use impl.precision=bf16 or fp32 on CPU")
    return torch.bfloat16


def autocast(device: torch.device, dtype: torch.dtype | None):
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def grad_scaler(device: torch.device, dtype: torch.dtype | None) -> torch.amp.GradScaler:
    """Enabled only for fp16 (bf16 has fp32's exponent range and needs no loss scaling)."""
    return torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)


# dense bf16/fp16 tensor-core peak FLOP/s, by substring of the device name (for MFU)
_PEAK_FLOPS = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "A10G": 125e12, "L40S": 362e12, "L4": 121e12,
               "A6000": 155e12, "V100": 125e12, "T4": 65e12, "4090": 165e12, "3090": 71e12}


def peak_flops(device: torch.device) -> float | None:
    """Peak FLOP/s of the GPU (None on CPU or an unknown GPU: MFU is then not logged)."""
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in _PEAK_FLOPS.items() if k in name), None)


def flops_per_token(n_params_no_embed: int, num_layers: int, hidden: int, seq_len: int) -> float:
    """Training FLOPs per token, 6N + 12 L H T (Kaplan et al. 2020; PaLM appendix B)."""
    return 6 * n_params_no_embed + 12 * num_layers * hidden * seq_len
