"""`babybias rerun <run dir>`: what the saved config.yaml leaves open is taken from the run, not from this machine."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from babybias.launch.compose import compose_command
from babybias.runs import RunDir


def _rerun(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "WANDB_MODE": "disabled"}
    return subprocess.run([sys.executable, "-m", "babybias.cli", "rerun", *map(str, args), "--cfg", "job"],
                          capture_output=True, text=True, env=env, timeout=120)


def _block(text: str, section: str) -> str:
    """The lines of one top-level section of a printed config."""
    lines = text.splitlines()
    start = lines.index(f"{section}:")
    end = next((i for i in range(start + 1, len(lines)) if lines[i] and not lines[i].startswith(" ")), len(lines))
    return "\n".join(lines[start:end])


def test_rerun_pins_impl_auto_to_the_device_and_precision_the_run_used(tmp_path):
    """A run trained with impl=auto in bf16 on a GPU saves `precision: auto`; rerun on an fp32-only CPU (or an
    fp16 GPU) would silently train in another precision. The rerun takes them from meta.json."""
    run = RunDir(tmp_path / "runs" / "first" / "pretrain").create()
    cfg = compose_command("pretrain", ["name=first", "model=tiny", f"paths.runs={tmp_path / 'runs'}"])
    assert (cfg.impl.device, cfg.impl.precision) == ("auto", "auto")
    run.write_config(cfg)
    (run / "meta.json").write_text(json.dumps({"device": "cuda:1", "precision": "bf16"}))

    out = _rerun(run.path, "name=again")
    assert out.returncode == 0, out.stderr[-2000:]
    impl = _block(out.stdout, "impl")
    assert "device: cuda\n" in impl + "\n" and "precision: bf16" in impl  # the type only: each rank picks its GPU
    assert "impl.precision=bf16" in out.stderr  # said so

    again = _rerun(run.path, "name=again", "impl=auto")  # this machine decides again, when asked
    assert "device: auto" in _block(again.stdout, "impl") and "precision: auto" in _block(again.stdout, "impl")
    explicit = _rerun(run.path, "name=again", "impl.precision=fp32")
    assert "precision: fp32" in _block(explicit.stdout, "impl")


def test_rerun_of_an_evaluation_folder_scores_that_checkpoint(tmp_path):
    """runs/<name>/eval/<checkpoint>/config.yaml nests the evaluate config under `evaluate:`; rerun used to refuse it
    ("names no babybias command"). It reruns that evaluation on the checkpoint the folder holds results of, not on
    whatever `checkpoints=all|final` of the run would select today."""
    checkpoint = tmp_path / "runs" / "first" / "pretrain" / "checkpoints" / "step-0000004"
    cfg = compose_command("evaluate", ["run=first", "checkpoints=all", "eval=[crows_pairs]", "bootstrap.resamples=1234"])
    folder = RunDir(tmp_path / "runs" / "first" / "eval" / "step-0000004").create()
    folder.write_config({"evaluate": cfg, "checkpoint": {"name": checkpoint.name, "path": str(checkpoint), "step": 4}})

    out = _rerun(folder.path, "force=true")
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.startswith("command: evaluate\n")
    assert f"checkpoint: {checkpoint}\n" in out.stdout and "run: null" in out.stdout
    assert "checkpoints: final" in out.stdout and "force: true" in out.stdout
    assert "resamples: 1234" in _block(out.stdout, "bootstrap") and "\neval:\n- crows_pairs\n" in out.stdout
