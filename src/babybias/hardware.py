"""What this machine offers, queried or measured, never assumed: CPU model and flags, native bf16, the CPUs this
process may use, the thread count it should run with, and matmul FLOP/s in a given precision.

The same CPU family name covers machines with and without bf16 hardware (an AVX2-only AMD EPYC ran a bf16 matmul
18x slower than fp32; a Zen 4 with `avx512_bf16` runs it ~2x faster), so `cpu_has_native_bf16` asks both torch
(`torch.ops.mkldnn._is_mkldnn_bf16_supported`, which is also true on AVX-512 CPUs that only *emulate* bf16) and the
CPU's own flags (`avx512_bf16` / `amx_bf16` on x86, `bf16` on Arm).

Threads: a process gets the CPUs it may run on (`os.sched_getaffinity`), capped by Slurm's `SLURM_CPUS_PER_TASK`,
divided among the processes that share them: the jobs of a local sweep (`BABYBIAS_LOCAL_JOBS`, set by the local
launcher) and the ranks of a torchrun on this machine (`LOCAL_WORLD_SIZE`). Two training processes on two cores
that each spin two threads run 10-60x slower than with one thread each.
"""

from __future__ import annotations

import functools
import os
import platform
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Mapping

CPUINFO = Path("/proc/cpuinfo")
# x86 flags of bf16 arithmetic in hardware (AVX512-BF16 dot products, AMX tiles); `bf16` is Arm's FEAT_BF16
NATIVE_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})
LOCAL_JOBS_ENV = "BABYBIAS_LOCAL_JOBS"
"""Number of jobs a local sweep runs at once on this machine (exported to them by the local launcher)."""


# ---------------------------------------------------------------- CPU identity and capabilities
def cpu_flags(cpuinfo: Path = CPUINFO) -> frozenset[str]:
    """The CPU feature flags of the first processor in /proc/cpuinfo (`flags` on x86, `Features` on Arm);
    empty where there is no /proc/cpuinfo (macOS, Windows)."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    match = re.search(r"^(?:flags|Features)\s*:\s*(.*)$", text, flags=re.MULTILINE)
    return frozenset(match.group(1).split()) if match else frozenset()


def cpu_model_name(cpuinfo: Path = CPUINFO) -> str:
    """The CPU's model name as `lscpu` shows it ("AMD EPYC", "Intel(R) Xeon(R) Platinum 8480+", ...)."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
        match = re.search(r"^(?:model name|Model Name|Processor)\s*:\s*(.*)$", text, flags=re.MULTILINE)
        if match and match.group(1).strip():
            return match.group(1).strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def torch_cpu_bf16() -> bool:
    """torch's own answer: can oneDNN run bf16 kernels on this CPU (natively or emulated)."""
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def cpu_has_native_bf16() -> bool:
    """True only when torch supports bf16 on this CPU *and* the CPU has bf16 arithmetic in hardware."""
    return torch_cpu_bf16() and bool(cpu_flags() & NATIVE_BF16_FLAGS)


def cpu_summary() -> str:
    """e.g. "AMD EPYC (2 usable CPUs, native bf16)" or "... (AVX2, no native bf16)"."""
    flags = cpu_flags()
    simd = next((name for flag, name in (("avx512f", "AVX-512"), ("avx2", "AVX2"), ("asimd", "NEON"))
                 if flag in flags), None)
    bf16 = "native bf16" if cpu_has_native_bf16() else "no native bf16"
    return f"{cpu_model_name()} ({usable_cpus()} usable CPUs, {', '.join(x for x in (simd, bf16) if x)})"


# ---------------------------------------------------------------- threads
def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask: taskset, cgroups/Slurm cpusets), not the machine's."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class ThreadChoice:
    threads: int
    """torch intra-op (OpenMP/MKL) threads for this process."""
    reason: str
    """Where the number comes from, e.g. "2 usable CPUs / 2 local jobs"."""

    def as_dict(self) -> dict:
        return asdict(self)


def _positive_int(env: Mapping[str, str], key: str) -> int | None:
    try:
        value = int(env.get(key, ""))
    except ValueError:
        return None
    return value if value > 0 else None


def choose_threads(requested: int | None, env: Mapping[str, str] | None = None,
                   cpus: int | None = None) -> ThreadChoice:
    """The thread count of this process: `impl.num_threads` when given, else its share of the usable CPUs.

    A Slurm task gets `min(usable CPUs, SLURM_CPUS_PER_TASK)` (Slurm gave each task its own CPUs); otherwise the
    usable CPUs are divided by the processes sharing them on this machine: `BABYBIAS_LOCAL_JOBS` (jobs of a local
    sweep) x `LOCAL_WORLD_SIZE` (torchrun ranks). Never below 1.
    """
    if requested:
        return ThreadChoice(int(requested), "impl.num_threads")
    env = os.environ if env is None else env
    cpus = usable_cpus() if cpus is None else cpus
    jobs = _positive_int(env, LOCAL_JOBS_ENV) or 1
    slurm = _positive_int(env, "SLURM_CPUS_PER_TASK") if "SLURM_JOB_ID" in env else None
    if slurm:
        budget, sharing = min(cpus, slurm), jobs
        reason = f"min({cpus} usable CPUs, SLURM_CPUS_PER_TASK={slurm})"
    else:
        ranks = _positive_int(env, "LOCAL_WORLD_SIZE") or 1
        budget, sharing = cpus, jobs * ranks
        reason = f"{cpus} usable CPUs"
        if ranks > 1:
            reason += f" / {ranks} ranks on this machine"
    if jobs > 1:
        reason += f" / {jobs} local jobs"
    return ThreadChoice(max(1, budget // sharing), reason)


def apply_threads(threads: int) -> None:
    """Run this process's OpenMP/MKL work on `threads` threads (call before torch does any work).

    The environment variables reach libraries that read them when they load and any child process; torch's
    intra-op pool is set directly (it may already be loaded). The inter-op pool can be sized only before its
    first use, so a later call leaves it as it is.
    """
    for key in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[key] = str(threads)
    import torch

    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(threads)
    except RuntimeError:  # already started or already set: keep it
        pass


def configure_threads(requested: int | None) -> ThreadChoice:
    """`choose_threads` and `apply_threads` in one call; returns the choice (for the run's meta.json)."""
    choice = choose_threads(requested)
    apply_threads(choice.threads)
    return choice


def configure_threads_for(config) -> ThreadChoice | None:
    """`configure_threads` for a command's typed config that has an `impl` (None for commands without one)."""
    impl = getattr(config, "impl", None)
    return None if impl is None else configure_threads(impl.num_threads)


# ---------------------------------------------------------------- measured speed
def matmul_flops(dtype, size: int = 256, budget_s: float = 0.15, device: str = "cpu") -> float:
    """Measured FLOP/s of a `size` x `size` matmul in `dtype` (2 n^3 FLOPs each), repeated for about `budget_s`
    seconds after one warm-up call, on the current torch threads. Quick, hence noisy: a ratio, not a peak."""
    import torch

    a = torch.randn(size, size, device=device).to(dtype)
    b = torch.randn(size, size, device=device).to(dtype)
    torch.mm(a, b)  # warm-up: kernel selection, allocator
    reps, start = 0, time.perf_counter()
    while True:
        torch.mm(a, b)
        reps += 1
        if device != "cpu":
            torch.cuda.synchronize()
        elapsed = time.perf_counter() - start
        if elapsed >= budget_s:
            return 2 * size**3 * reps / elapsed


@functools.lru_cache(maxsize=None)
def cpu_fp32_and_bf16_flops() -> tuple[float, float]:
    """(fp32, bf16) matmul FLOP/s on this CPU, measured once per process (about 0.3 s)."""
    import torch

    return matmul_flops(torch.float32), matmul_flops(torch.bfloat16)
