"""Device, precision and threads from `impl`: what `impl=auto` picks on this hardware, the autocast context, the
GradScaler, TF32, the line a run prints and records about them, and peak FLOP/s for MFU.

`impl=auto` (the default): on a CUDA GPU bf16 autocast where the GPU has bf16 (Ampere and later), else fp16 with a
GradScaler, and TF32 matmuls for training; on a CPU bf16 autocast only where the CPU has native bf16
(`babybias.hardware.cpu_has_native_bf16`), else fp32. Scoring never follows the training precision (it runs in
fp32; see `babybias.scoring`).
"""

from __future__ import annotations

import contextlib
import inspect
import os
import sys
from dataclasses import dataclass

import torch

from babybias import hardware
from babybias.configs.common import ImplConfig
from babybias.errors import ConfigError

_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


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


def cuda_has_bf16() -> bool:
    """bf16 in the GPU's hardware (Ampere and later); emulated bf16 on older GPUs does not count."""
    if "including_emulation" in inspect.signature(torch.cuda.is_bf16_supported).parameters:
        return bool(torch.cuda.is_bf16_supported(including_emulation=False))
    return bool(torch.cuda.is_bf16_supported())


def training_precision(impl: ImplConfig, device: torch.device) -> tuple[str, str]:
    """(fp32 | bf16 | fp16, why) for training on `device`: `impl.precision=auto` asks the hardware."""
    asked = impl.precision
    if device.type == "cuda":
        has_bf16 = cuda_has_bf16()
        if asked == "auto":
            return ("bf16", "impl=auto: the GPU has bf16") if has_bf16 else \
                ("fp16", "impl=auto: the GPU has no bf16, fp16 + GradScaler")
        if asked == "bf16" and not has_bf16:
            return "fp16", "impl.precision=bf16, but the GPU has no bf16: fp16 + GradScaler"
        return asked, f"impl.precision={asked}"
    if asked == "fp16":
        raise ConfigError("impl.precision=fp16 is for CUDA only", fix="use impl.precision=auto (or bf16, fp32) on CPU")
    if asked == "auto":
        return ("bf16", "impl=auto: the CPU has native bf16") if hardware.cpu_has_native_bf16() else \
            ("fp32", "impl=auto: the CPU has no native bf16")
    return asked, f"impl.precision={asked}"


def autocast_dtype(impl: ImplConfig, device: torch.device) -> torch.dtype | None:
    """The training autocast dtype (None = fp32), as `training_precision` decides."""
    return _DTYPES[training_precision(impl, device)[0]]


def autocast(device: torch.device, dtype: torch.dtype | None):
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def grad_scaler(device: torch.device, dtype: torch.dtype | None) -> torch.amp.GradScaler:
    """Enabled only for fp16 (bf16 has fp32's exponent range and needs no loss scaling)."""
    return torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)


def set_tf32(enabled: bool) -> None:
    """TF32 for fp32 matmuls and convolutions on CUDA (training only: scoring keeps full fp32)."""
    torch.set_float32_matmul_precision("high" if enabled else "highest")
    torch.backends.cudnn.allow_tf32 = enabled


def emulated_bf16_warning(impl: ImplConfig, device: torch.device) -> str | None:
    """The warning for an explicit bf16 request on a CPU without native bf16, with the measured matmul ratio."""
    if device.type != "cpu" or impl.precision != "bf16" or hardware.cpu_has_native_bf16():
        return None
    fp32, bf16 = hardware.cpu_fp32_and_bf16_flops()
    return (f"warning: impl.precision=bf16 on a CPU without native bf16 ({hardware.cpu_model_name()}): a bf16 "
            f"matmul measured {fp32 / bf16:.1f}x slower than fp32 here ({bf16 / 1e9:.1f} vs {fp32 / 1e9:.1f} "
            "GFLOP/s, 256x256); training will be slower, not faster. Use impl=auto (fp32 on this CPU).")


@dataclass(frozen=True)
class Runtime:
    """What a training process runs on, printed at start and recorded in meta.json."""

    device: torch.device
    hardware: str
    precision: str
    precision_reason: str
    threads: int
    threads_reason: str
    tf32: bool

    def describe(self) -> str:
        tf32 = ", TF32 matmuls" if self.tf32 else ""
        return (f"device {self.device} ({self.hardware}); precision {self.precision} ({self.precision_reason}{tf32}); "
                f"{self.threads} thread(s) ({self.threads_reason})")

    def meta(self) -> dict:
        return {"device": str(self.device), "hardware": self.hardware, "precision": self.precision,
                "precision_reason": self.precision_reason, "threads": self.threads,
                "threads_reason": self.threads_reason, "tf32": self.tf32}


def start_training(impl: ImplConfig, local_rank: int = 0, announce: bool = True) -> Runtime:
    """Set this process's threads (before torch does any work), pick the device and precision, turn TF32 on for
    training on CUDA; with `announce`, print what was chosen (and the emulated-bf16 warning) to the terminal."""
    threads = hardware.configure_threads(impl.num_threads)
    device = resolve_device(impl, local_rank)
    name, reason = training_precision(impl, device)
    tf32 = device.type == "cuda"
    set_tf32(tf32)
    what = torch.cuda.get_device_name(device) if device.type == "cuda" else hardware.cpu_summary()
    runtime = Runtime(device, what, name, reason, threads.threads, threads.reason, tf32)
    if announce:
        print(runtime.describe(), flush=True)
        warning = emulated_bf16_warning(impl, device)
        if warning:
            print(warning, file=sys.stderr, flush=True)
    return runtime


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
