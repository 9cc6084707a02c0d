"""`impl=auto`: training precision chosen by the hardware (capability queries mocked), TF32 for training only, the
emulated-bf16 warning, and what a pretrain run prints and records (device, precision, threads)."""

from __future__ import annotations

import json

import pytest
import torch
from train_helpers import tiny_overrides

from babybias import hardware
from babybias.configs.common import ImplConfig
from babybias.errors import ConfigError
from babybias.train import precision

CPU, CUDA = torch.device("cpu"), torch.device("cuda")  # a device object needs no GPU


@pytest.fixture(autouse=True)
def keep_process_settings(monkeypatch):
    """start_training sets process-wide threads, OpenMP variables and TF32: restore them after each test."""
    for key in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        monkeypatch.delenv(key, raising=False)  # remembered (present or not) and restored at teardown
    threads, matmul = torch.get_num_threads(), torch.get_float32_matmul_precision()
    yield
    torch.set_num_threads(threads)
    precision.set_tf32(False)
    torch.set_float32_matmul_precision(matmul)


@pytest.fixture
def native_bf16(monkeypatch):
    """Set what the CPU capability query answers."""
    def answer(value: bool) -> None:
        monkeypatch.setattr(hardware, "cpu_has_native_bf16", lambda: value)
    return answer


@pytest.mark.parametrize("native,expected", [(True, "bf16"), (False, "fp32")])
def test_auto_on_cpu_uses_bf16_only_where_native(native_bf16, native, expected):
    native_bf16(native)
    name, reason = precision.training_precision(ImplConfig(), CPU)
    assert name == expected and reason.startswith("impl=auto")
    assert precision.autocast_dtype(ImplConfig(), CPU) == (torch.bfloat16 if native else None)


@pytest.mark.parametrize("has_bf16,expected,dtype", [(True, "bf16", torch.bfloat16), (False, "fp16", torch.float16)])
def test_auto_on_gpu_uses_bf16_else_fp16_with_a_grad_scaler(monkeypatch, has_bf16, expected, dtype):
    monkeypatch.setattr(precision, "cuda_has_bf16", lambda: has_bf16)
    assert precision.training_precision(ImplConfig(), CUDA)[0] == expected
    assert precision.autocast_dtype(ImplConfig(), CUDA) == dtype
    # the scaler follows the dtype (checked on a CPU-typed scaler: a CUDA one disables itself without a GPU)
    assert precision.grad_scaler(CPU, dtype).is_enabled() is (dtype == torch.float16)


def test_explicit_settings_are_kept_except_where_the_hardware_cannot(monkeypatch, native_bf16):
    native_bf16(False)
    assert precision.training_precision(ImplConfig(precision="bf16"), CPU)[0] == "bf16"  # asked: warned, not changed
    assert precision.training_precision(ImplConfig(precision="fp32"), CPU)[0] == "fp32"
    with pytest.raises(ConfigError, match="fp16 is for CUDA only"):
        precision.training_precision(ImplConfig(precision="fp16"), CPU)
    monkeypatch.setattr(precision, "cuda_has_bf16", lambda: False)  # e.g. a V100
    name, reason = precision.training_precision(ImplConfig(device="cuda", precision="bf16"), CUDA)
    assert name == "fp16" and "no bf16" in reason
    with pytest.raises(ConfigError, match="impl.precision='half'"):
        ImplConfig(precision="half")


def test_emulated_bf16_on_a_gpu_does_not_count(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: including_emulation)
    assert precision.cuda_has_bf16() is False


def test_explicit_cpu_bf16_without_native_bf16_warns_with_the_measured_ratio(monkeypatch, native_bf16, capsys):
    native_bf16(False)
    monkeypatch.setattr(hardware, "cpu_fp32_and_bf16_flops", lambda: (19.0e9, 1.1e9))
    impl = ImplConfig(device="cpu", precision="bf16")
    message = precision.emulated_bf16_warning(impl, CPU)
    assert "17.3x slower than fp32" in message and "1.1 vs 19.0 GFLOP/s" in message and "impl=auto" in message
    runtime = precision.start_training(impl)
    out = capsys.readouterr()
    assert "17.3x slower" in out.err and "precision bf16 (impl.precision=bf16)" in out.out
    assert runtime.precision == "bf16" and runtime.device == CPU
    assert precision.emulated_bf16_warning(ImplConfig(), CPU) is None  # auto picked fp32: nothing to warn about
    native_bf16(True)
    assert precision.emulated_bf16_warning(impl, CPU) is None


def test_tf32_is_on_for_training_on_cuda_only():
    precision.set_tf32(True)
    assert torch.get_float32_matmul_precision() == "high" and torch.backends.cudnn.allow_tf32
    precision.start_training(ImplConfig(device="cpu"), announce=False)  # CPU training: full fp32 matmuls
    assert torch.get_float32_matmul_precision() == "highest" and not torch.backends.cudnn.allow_tf32


def test_pretrain_prints_and_records_its_runtime(tmp_path, use_corpus, native_bf16, capsys, monkeypatch):
    from babybias.commands import pretrain
    from babybias.launch.compose import compose_command

    native_bf16(True)
    cpus = hardware.usable_cpus()
    monkeypatch.setenv("BABYBIAS_LOCAL_JOBS", str(cpus))  # as if a local sweep ran one job per CPU: 1 thread each
    overrides = tiny_overrides(tmp_path, steps=6, impl="auto", **{"impl.num_threads": "null"})
    result = pretrain.run(compose_command("pretrain", overrides))
    meta = json.loads((tmp_path / "runs" / "tiny" / "pretrain" / "meta.json").read_text())
    assert meta["device"] == "cpu" and meta["precision"] == "bf16" and meta["tf32"] is False
    assert meta["threads"] == 1 and meta["threads_reason"] == f"{cpus} usable CPUs" + (f" / {cpus} local jobs" if cpus > 1 else "")
    out = capsys.readouterr().out
    assert "device cpu" in out and "precision bf16 (impl=auto: the CPU has native bf16)" in out
    assert "expected training time" in out and "over steps 2-4" in out  # 1 warm-up step, 3 timed
    assert "next: babybias evaluate run=tiny" in out
    assert result.final_loss == result.final_loss  # bf16 training produced a number, not NaN


def test_a_resume_in_another_precision_is_warned_about_and_recorded(tmp_path, use_corpus, native_bf16, capsys):
    """impl=auto on a CPU with native bf16, preempted, then resumed on one without (fp32): the run says so and
    meta.json keeps both, instead of recording only the last segment's fp32."""
    import os
    import signal

    from babybias.commands import pretrain
    from babybias.launch.compose import compose_command

    def stop_at_2(step):
        if step == 2:
            os.kill(os.getpid(), signal.SIGTERM)

    overrides = tiny_overrides(tmp_path, name="moved", steps=4, impl="auto")
    native_bf16(True)
    with pytest.raises(SystemExit):
        pretrain.run(compose_command("pretrain", overrides), on_step_end=stop_at_2)
    capsys.readouterr()
    native_bf16(False)
    pretrain.run(compose_command("pretrain", overrides))
    out = capsys.readouterr().out
    assert "warning: resuming" in out and "in fp32, but it trained in bf16" in out
    run = tmp_path / "runs" / "moved" / "pretrain"
    meta = json.loads((run / "meta.json").read_text())
    assert meta["precision"] == "fp32" and meta["precision_history"] == ["bf16", "fp32"]
    events = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert {"step": 2, "event": "precision_changed", "precision": ["bf16", "fp32"]} in events
