"""babybias.hardware: CPU flags and native bf16 (capability queries mocked), the thread choice, matmul timing."""

from __future__ import annotations

import math
import os

import pytest
import torch

from babybias import hardware

X86_AVX2 = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 7B12
flags\t\t: fpu vme sse sse2 avx f16c fma avx2 bmi2 sha_ni

processor\t: 1
model name\t: AMD EPYC 7B12
flags\t\t: fpu vme sse sse2 avx f16c fma avx2 bmi2 sha_ni
"""
X86_BF16 = X86_AVX2.replace("avx2 bmi2", "avx2 avx512f avx512bw avx512_bf16 bmi2").replace("7B12", "9R14")
ARM_BF16 = """processor\t: 0
BogoMIPS\t: 2100.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp bf16 i8mm
CPU implementer\t: 0x41
"""


@pytest.mark.parametrize("text,has,lacks", [
    (X86_AVX2, {"avx2", "fma"}, {"avx512_bf16", "avx512f"}),
    (X86_BF16, {"avx2", "avx512f", "avx512_bf16"}, {"amx_bf16"}),
    (ARM_BF16, {"asimd", "bf16"}, {"avx2"}),
])
def test_cpu_flags_are_read_from_cpuinfo(tmp_path, text, has, lacks):
    path = tmp_path / "cpuinfo"
    path.write_text(text)
    flags = hardware.cpu_flags(path)
    assert has <= flags and not (lacks & flags)


def test_cpu_flags_and_name_without_cpuinfo(tmp_path):
    assert hardware.cpu_flags(tmp_path / "absent") == frozenset()
    assert hardware.cpu_model_name(tmp_path / "absent")  # falls back on platform, never empty
    (tmp_path / "cpuinfo").write_text(X86_AVX2)
    assert hardware.cpu_model_name(tmp_path / "cpuinfo") == "AMD EPYC 7B12"


@pytest.mark.parametrize("torch_says,flags,native", [
    (True, {"avx2", "avx512f", "avx512bw", "avx512_bf16"}, True),   # Zen 4 / Cooper Lake
    (True, {"avx2", "avx512f", "amx_bf16", "amx_tile"}, True),       # Sapphire Rapids
    (True, {"avx2", "avx512f", "avx512bw", "avx512vl"}, False),      # Skylake-X: oneDNN *emulates* bf16
    (False, {"avx2", "fma"}, False),                                  # the AVX2-only EPYC of issue 11
    (False, {"avx512_bf16"}, False),                                  # torch cannot use it (e.g. old build)
    (True, {"asimd", "bf16"}, True),                                  # Arm with FEAT_BF16
])
def test_native_bf16_needs_torch_and_the_cpu_flags(monkeypatch, torch_says, flags, native):
    monkeypatch.setattr(hardware, "torch_cpu_bf16", lambda: torch_says)
    monkeypatch.setattr(hardware, "cpu_flags", lambda cpuinfo=None: frozenset(flags))
    assert hardware.cpu_has_native_bf16() is native
    assert ("no native bf16" in hardware.cpu_summary()) is not native


@pytest.mark.parametrize("requested,env,cpus,threads,reason", [
    (3, {}, 2, 3, "impl.num_threads"),                                       # explicit wins
    (None, {}, 2, 2, "2 usable CPUs"),                                       # alone: all it may use
    (None, {"BABYBIAS_LOCAL_JOBS": "2"}, 2, 1, "2 usable CPUs / 2 local jobs"),  # two jobs on two cores
    (None, {"BABYBIAS_LOCAL_JOBS": "3"}, 16, 5, "/ 3 local jobs"),
    (None, {"BABYBIAS_LOCAL_JOBS": "8"}, 2, 1, "/ 8 local jobs"),            # never below one
    (None, {"LOCAL_WORLD_SIZE": "2"}, 2, 1, "/ 2 ranks on this machine"),    # torchrun, 2 ranks, 2 cores
    (None, {"LOCAL_WORLD_SIZE": "4"}, 32, 8, "/ 4 ranks"),
    (None, {"SLURM_JOB_ID": "7", "SLURM_CPUS_PER_TASK": "1", "LOCAL_WORLD_SIZE": "2"}, 2, 1,
     "SLURM_CPUS_PER_TASK=1"),                                               # Slurm gave each task its CPUs
    (None, {"SLURM_JOB_ID": "7", "SLURM_CPUS_PER_TASK": "8", "LOCAL_WORLD_SIZE": "4"}, 64, 8, "min(64"),
    (None, {"SLURM_JOB_ID": "7", "SLURM_CPUS_PER_TASK": "8"}, 4, 4, "min(4 usable CPUs"),  # cpuset is smaller
    (None, {"SLURM_CPUS_PER_TASK": "8"}, 4, 4, "4 usable CPUs"),             # stale variable outside a job
    (None, {"BABYBIAS_LOCAL_JOBS": "zero"}, 4, 4, "4 usable CPUs"),          # garbage is ignored
])
def test_thread_choice(requested, env, cpus, threads, reason):
    choice = hardware.choose_threads(requested, env=env, cpus=cpus)
    assert choice.threads == threads and reason in choice.reason


def test_usable_cpus_follow_the_affinity_mask(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 3, 5})
    assert hardware.usable_cpus() == 3
    assert hardware.choose_threads(None, env={"BABYBIAS_LOCAL_JOBS": "3"}).threads == 1


def test_apply_threads_sets_torch_and_the_openmp_environment(monkeypatch):
    before = torch.get_num_threads()
    for key in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        monkeypatch.setenv(key, "99")  # restored by monkeypatch afterwards
    target = 2 if before != 2 else 1
    try:
        hardware.apply_threads(target)
        assert torch.get_num_threads() == target
        assert all(os.environ[k] == str(target) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"))
    finally:
        torch.set_num_threads(before)


def test_matmul_timing_is_quick_and_plausible():
    import time

    start = time.perf_counter()
    fp32, bf16 = hardware.cpu_fp32_and_bf16_flops()
    assert time.perf_counter() - start < 5.0  # a quick measurement (about 0.3 s on a quiet machine)
    for value in (fp32, bf16):
        assert math.isfinite(value) and 1e7 < value < 1e14  # FLOP/s of a CPU, not a unit mistake
    assert hardware.cpu_fp32_and_bf16_flops() == (fp32, bf16)  # measured once per process


def test_commands_with_impl_get_their_threads_configured(monkeypatch):
    from babybias.configs.common import ImplConfig

    class WithImpl:
        impl = ImplConfig(num_threads=1)

    for key in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        monkeypatch.delenv(key, raising=False)  # restored afterwards
    before = torch.get_num_threads()
    try:
        assert hardware.configure_threads_for(object()) is None  # e.g. `babybias report`: nothing to set
        assert hardware.configure_threads_for(WithImpl()).threads == 1 and torch.get_num_threads() == 1
        assert os.environ["OMP_NUM_THREADS"] == "1"
    finally:
        torch.set_num_threads(before)
