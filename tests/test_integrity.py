"""Integrity helpers (issue 10): metrics lines, checksums, debris of killed writers, status without unpickling,
config validation at composition time, one-line messages for OS errors."""

from __future__ import annotations

import errno
import json
import pickle
import subprocess
import sys
import time

import pytest

from babybias import integrity, runs
from babybias.errors import ConfigError, IntegrityError, os_error_message
from babybias.launch.compose import compose_command


# ---------------------------------------------------------------- item 5: metrics.jsonl
def test_garbled_lines_are_skipped_and_counted_never_the_lines_after_them(tmp_path, capsys):
    path = tmp_path / "metrics.jsonl"
    for step in (1, 2):
        runs.append_jsonl(path, {"step": step})
    with open(path, "ab") as fh:
        fh.write(b'{"step": 3, "lo\xff\n[1, 2]\n')  # garbled bytes, then valid JSON that is no record
    runs.append_jsonl(path, {"step": 4})
    with open(path, "a") as fh:
        fh.write('{"step": 5, "lo')  # torn by a kill: no newline
    runs.append_jsonl(path, {"step": 6})  # starts a line of its own instead of joining the torn one
    records, bad = runs.read_jsonl_report(path)
    assert [r["step"] for r in records] == [1, 2, 4, 6] and bad == [3, 4, 6]
    assert [r["step"] for r in runs.read_jsonl(path)] == [1, 2, 4, 6]
    assert "skipped 3 unreadable lines (lines 3, 4, 6)" in capsys.readouterr().out


def test_truncating_metrics_on_resume_keeps_every_good_line_up_to_the_step(tmp_path, capsys):
    from babybias.train.logger import truncate_metrics

    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 1}\nnot json\n{"step": 2}\n{"step": 3}\n')
    truncate_metrics(path, 2)
    assert [json.loads(line) for line in path.read_text().splitlines()] == [{"step": 1}, {"step": 2}]
    assert "dropped 1 unreadable line (line 2)" in capsys.readouterr().out


# ---------------------------------------------------------------- item 3: checksums
def test_folder_sums_catch_garbled_truncated_and_missing_files(tmp_path):
    folder = tmp_path / "ckpt"
    folder.mkdir()
    (folder / "a.bin").write_bytes(b"\x00" * 1000)
    (folder / "b.json").write_text("{}")
    integrity.write_folder_sums(folder)
    assert integrity.verify_folder(folder, "checkpoint") is True
    (folder / "a.bin").write_bytes(b"\x00" * 999 + b"\x01")  # same size, other bytes
    with pytest.raises(IntegrityError, match="a.bin differs from what was written"):
        integrity.verify_folder(folder, "checkpoint")
    (folder / "a.bin").write_bytes(b"\x00" * 10)
    with pytest.raises(IntegrityError, match="a.bin has 10 bytes, 1000 were written"):
        integrity.verify_folder(folder, "checkpoint")
    (folder / "a.bin").unlink()
    with pytest.raises(IntegrityError, match="incomplete: a.bin is missing"):
        integrity.verify_folder(folder, "checkpoint")
    (folder / integrity.SUMS_FILE).write_text('{"files": {"a.bin": {"sha')
    with pytest.raises(IntegrityError, match="is not valid JSON"):
        integrity.verify_folder(folder, "checkpoint")
    (folder / integrity.SUMS_FILE).unlink()
    assert integrity.verify_folder(folder, "checkpoint") is False  # written before checksums existed


def test_training_state_of_older_versions_still_loads_without_running_code(tmp_path):
    """Checkpoints written before the plain-data format hold numpy's RNG tuple: loaded with weights_only=True
    and only numpy's array reconstruction allowed."""
    import random

    import numpy as np
    import torch

    from babybias.train import checkpoint

    np.random.seed(5)
    random.seed(6)
    legacy = {"optimizer": {}, "scheduler": {}, "scaler": {},
              "rng_per_rank": [{"python": random.getstate(), "numpy": np.random.get_state(),
                                "torch": torch.get_rng_state()}]}
    torch.save(legacy, tmp_path / checkpoint.TRAINING_STATE_FILE)
    expected = (random.random(), np.random.rand())
    state = checkpoint.load_training_state(tmp_path)
    checkpoint.set_rng_state(state["rng_per_rank"][0])
    assert (random.random(), np.random.rand()) == expected
    # the new format round-trips too, as plain data
    fresh = checkpoint.rng_state()
    expected = (random.random(), np.random.rand(), torch.rand(1))
    torch.save({"optimizer": {}, "scheduler": {}, "scaler": {}, "rng_per_rank": [fresh]}, tmp_path / "training_state.pt")
    checkpoint.set_rng_state(checkpoint.load_training_state(tmp_path)["rng_per_rank"][0])
    assert (random.random(), np.random.rand(), torch.rand(1)) == expected


def test_debris_of_killed_writers_is_recognised_and_nothing_else(tmp_path):
    keep = [".lock", ".hydra", "config.yaml", "checkpoints", "step-0000002", ".model"]
    stale = [".model.tmp-ab12cd34", ".step-0000004.tmp-x9", ".metrics.jsonl.tmp-7", ".model.old-12-345",
             ".step-0000006.k3j4h5l6", ".config.yaml.a1b2c3d4", ".order-epoch0000.npy.zz99yy88"]
    folders = {".hydra", "checkpoints", "step-0000002", ".model.tmp-ab12cd34", ".step-0000006.k3j4h5l6"}
    for name in keep + stale:
        (tmp_path / name).mkdir() if name in folders else (tmp_path / name).write_text("x")
    removed = integrity.remove_stale_temporaries(tmp_path)
    assert sorted(p.name for p in removed) == sorted(stale)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(keep)


def test_an_atomic_write_interrupted_leaves_recognisable_debris(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with runs.atomic_path(tmp_path / "model") as tmp:
            tmp.mkdir()
            assert tmp.parent.name.startswith(".model.tmp-")
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []  # an exception cleans up; only a kill -9 leaves `.model.tmp-*`


# ---------------------------------------------------------------- item 1: status never unpickles
class _Planted:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_status_reads_result_pickles_without_running_them(tmp_path):
    import cloudpickle

    from babybias.launch.state import submitit_result, sweep_states

    marker = tmp_path / "planted-code-ran"
    for tag in ("success", "error"):
        with open(tmp_path / f"{tag}.pkl", "wb") as fh:
            cloudpickle.dump((tag, _Planted(marker)), fh)
        assert submitit_result(str(tmp_path / f"{tag}.pkl")) == tag
    (tmp_path / "torn.pkl").write_bytes((tmp_path / "success.pkl").read_bytes()[:3])
    assert submitit_result(str(tmp_path / "torn.pkl")) is None
    jobs = {"cluster": "local", "jobs": [{"num": 0, "job_id": "1", "run_dir": str(tmp_path / "run"),
                                          "result_pickle": str(tmp_path / "error.pkl")}]}
    assert sweep_states(jobs)[0].state == "failed"
    assert not marker.exists()
    with open(tmp_path / "success.pkl", "rb") as fh:  # the planted pickle is real: unpickling it runs code
        pickle.load(fh)
    assert marker.exists()


# ---------------------------------------------------------------- item 7: validation at composition time
BAD_VALUES = [
    ("pretrain", ["train.lr=0"], "train.lr=0.0 must be > 0"),
    ("pretrain", ["train.lr=-1e-3"], "train.lr"),
    ("pretrain", ["train.log_every=0"], "train.log_every=0 must be >= 1"),
    ("pretrain", ["train.warmup_steps=-1"], "train.warmup_steps"),
    ("pretrain", ["train.weight_decay=-0.1"], "train.weight_decay"),
    ("pretrain", ["train.grad_clip=-1"], "train.grad_clip"),
    ("pretrain", ["train.validation_blocks=-1"], "train.validation_blocks"),
    ("pretrain", ["train.adam_beta2=1.0"], "train.adam_beta2"),
    ("pretrain", ["train.adam_eps=0"], "train.adam_eps"),
    ("pretrain", ["train.min_lr_ratio=1.5"], "train.min_lr_ratio"),
    ("pretrain", ["train.checkpoint_steps=[0,100]"], "outside 1..train.steps=1000"),
    ("pretrain", ["train.steps=50", "train.checkpoint_steps=[10,60]"], "[60], outside 1..train.steps=50"),
    ("pretrain", ["train.seq_len=1024"], "longer than model.max_position_embeddings=512"),
    ("pretrain", ["impl.micro_batch_size=0"], "impl.micro_batch_size"),
    ("pretrain", ["impl.micro_batch_size=64"], "larger than train.batch_size"),
    ("pretrain", ["impl.device=gpu"], "impl.device"),
    ("pretrain", ["impl.dataloader_workers=-1"], "impl.dataloader_workers"),
    ("pretrain", ["model.hidden_dropout=1.0"], "model.hidden_dropout"),
    ("pretrain", ["model.layer_norm_eps=0"], "model.layer_norm_eps"),
    ("pretrain", ["tokenizer.min_frequency=0"], "tokenizer.min_frequency"),
    ("pretrain", ["name=../elsewhere"], "is not a run name"),
    ("evaluate", ["blimp.limit=0"], "blimp.limit"),
    ("evaluate", ["pppl.max_texts=0"], "pppl.max_texts"),
    ("evaluate", ["checkpoints=[-5]"], "checkpoints"),
    ("evaluate", ["stereoset.aggregate=median"], "stereoset.aggregate"),
    ("debias", ["debias.min_accuracy=2"], "debias.min_accuracy"),
    ("unlearn", ["sisa.lr=0"], "sisa.lr"),
    ("unlearn", ["sisa.epochs_per_slice=0"], "sisa.epochs_per_slice"),
    ("unlearn", ["fairsisa.grid_size=1"], "fairsisa.grid_size"),
    ("study", ["seeds=[]"], "seeds=[]"),
    ("data", ["action=download"], "unknown data action"),
]


@pytest.mark.parametrize("command,overrides,message", BAD_VALUES, ids=[" ".join(o) for _, o, _ in BAD_VALUES])
def test_every_bad_value_fails_at_composition_time_fast(command, overrides, message):
    started = time.perf_counter()
    with pytest.raises(ConfigError) as err:
        compose_command(command, overrides)
    assert time.perf_counter() - started < 4.0  # < 2 s on an idle machine (~0.1 s); slack for a loaded CI box
    assert message in str(err.value) and err.value.fix and "\n" not in str(err.value)


def test_default_checkpoint_steps_follow_train_steps():
    assert compose_command("pretrain").train.checkpoint_steps == [100, 200, 400, 600, 800]
    assert compose_command("pretrain", ["train.steps=20"]).train.checkpoint_steps == [2, 4, 8, 12, 16]


def test_a_bad_value_stops_the_cli_before_anything_is_built(tmp_path):
    started = time.time()
    out = subprocess.run([sys.executable, "-m", "babybias.cli", "pretrain", "train.lr=0",
                          f"paths.runs={tmp_path / 'runs'}", f"data.root={tmp_path / 'data'}"],
                         capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert time.time() - started < 4.0  # < 2 s on an idle machine; slack for a loaded CI box
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert out.stderr.strip() == "babybias pretrain: error: train.lr=0.0 must be > 0.0: use e.g. train.lr=5e-4"
    assert not (tmp_path / "data").exists()  # no corpus, tokenizer or cache was started


# ---------------------------------------------------------------- item 8: one line per OS error
def test_os_errors_name_the_file_and_the_setting_to_change(tmp_path):
    roots = {"paths.runs": str(tmp_path / "runs"), "paths.cache": str(tmp_path / "cache")}
    full = OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "cache" / "blocks" / "x.npy"))
    message = os_error_message(full, roots)
    assert message.startswith("no space left on device while writing") and f"folder {tmp_path / 'cache' / 'blocks'}" in message
    assert "point paths.cache= to another folder" in message
    read_only = OSError(errno.EROFS, "Read-only file system", str(tmp_path / "runs" / "x" / "pretrain" / "config.yaml"))
    message = os_error_message(read_only, roots)
    assert "read-only file system" in message and "paths.runs=" in message and "\n" not in message


def test_an_unwritable_runs_root_is_one_line_naming_paths_runs(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    out = subprocess.run([sys.executable, "-m", "babybias.cli", "pretrain", f"paths.runs={blocker}/runs",
                          f"data.root={tmp_path / 'data'}", "wandb=off"],
                         capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "paths.runs" in lines[0] and str(blocker) in lines[0]


def test_ensure_writable_reports_before_the_work(tmp_path):
    blocker = tmp_path / "eval"
    blocker.write_text("a file where a folder should be")
    with pytest.raises(runs.BabybiasError, match=f"cannot write into {blocker}"):
        runs.ensure_writable(blocker, fix="make it writable")
    assert runs.ensure_writable(tmp_path / "fine" / "eval", fix="-").is_dir()
    assert list((tmp_path / "fine" / "eval").iterdir()) == []  # the probe is gone
