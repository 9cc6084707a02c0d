"""Run integrity of `babybias pretrain` (issue 10): nothing corrupt is trusted, nothing is lost, no run is marked
DONE wrongly, no code runs from a run directory. Each test plants one fault (a pickle, a garbled or truncated file,
a kill, a second process, a NaN) and checks it is detected, recovered from exactly, or refused in one line."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import time

import pytest
import torch
from integrity_helpers import child_command
from safetensors.torch import load_file
from train_helpers import FakeCorpus, tiny_overrides, write_sentences

from babybias.errors import BabybiasError, ConfigError, IntegrityError
from babybias.launch.compose import compose_command
from babybias.runs import RunLocked

torch.set_num_threads(1)


def _pretrain(tmp_path, name, steps=5, on_step_end=None, **extra):
    from babybias.commands import pretrain

    overrides = tiny_overrides(tmp_path, name=name, steps=steps, **{"train.checkpoint_steps": "[2,4]", **extra})
    return pretrain.run(compose_command("pretrain", overrides), on_step_end=on_step_end)


def _run(tmp_path, name):
    return tmp_path / "runs" / name / "pretrain"


def _losses(run):
    return [(r["step"], r["loss"]) for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())
            if "loss" in r]


def _weights(folder):
    return load_file(str(folder / "model.safetensors"))


def _same_weights(a, b):
    wa, wb = _weights(a), _weights(b)
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def _files(run, with_times=False):
    """Every file of a run directory (but its lock file, which records the last holder) and its bytes."""
    return {p: (p.read_bytes(), p.stat().st_mtime_ns if with_times else None) for p in run.rglob("*")
            if p.is_file() and p.name != ".lock"}


def _crash_at(step):
    def hook(s):
        if s == step:
            raise RuntimeError("simulated kill")
    return hook


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """An uninterrupted 5-step run (checkpoints 2, 4, 5) on the `tiny_corpus` sentences: the reference every
    recovery must equal bit for bit (made once; the tests' own runs live in their tmp_path)."""
    import babybias.commands.pretrain as pretrain

    root = tmp_path_factory.mktemp("straight")
    corpus = FakeCorpus(root, "fakecorpus01", write_sentences(root / "train.txt", 600, seed=1),
                        write_sentences(root / "validation.txt", 80, seed=2))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pretrain, "build_corpus_artifact", lambda cfg: corpus)
        _pretrain(root, "straight")
    return _run(root, "straight")


@pytest.fixture
def crashed(tmp_path, use_corpus):
    """The same run killed after step 5's update, before its checkpoint: checkpoints 2 and 4 on disk."""
    with pytest.raises(RuntimeError, match="simulated kill"):
        _pretrain(tmp_path, "crashed", on_step_end=_crash_at(5))
    run = _run(tmp_path, "crashed")
    assert [p.name for p in sorted((run / "checkpoints").iterdir())] == ["step-0000002", "step-0000004"]
    return run


def _copy_run(run, tmp_path, name):
    """A copy of a run directory under another name (its config.yaml renamed too)."""
    target = _run(tmp_path, name)
    shutil.copytree(run, target)
    config = target / "config.yaml"
    config.write_text(config.read_text().replace(f"name: {run.parent.name}", f"name: {name}"))
    return target


def _assert_equals_straight(run, straight):
    assert (run / "DONE").exists()
    assert _losses(run) == _losses(straight)
    assert _same_weights(run / "model", straight / "model")
    done, reference = json.loads((run / "DONE").read_text()), json.loads((straight / "DONE").read_text())
    assert (done["final_loss"], done["validation_loss"]) == (reference["final_loss"], reference["validation_loss"])


# ---------------------------------------------------------------- item 1: no code from a run directory
class _Planted:
    """Unpickling this object opens (creates) the marker file: the proof that a loader ran planted code."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_planted_training_state_pickle_never_runs(tmp_path, straight, crashed, capsys):
    from babybias.integrity import write_folder_sums

    ckpt = crashed / "checkpoints" / "step-0000004"
    plain = torch.load(ckpt / "training_state.pt", weights_only=True)  # our own state is plain data
    assert plain["rng_per_rank"][0]["numpy"]["keys"].dtype == torch.int64
    marker = tmp_path / "planted-code-ran"
    torch.save({"optimizer": _Planted(marker), "scheduler": {}, "scaler": {}, "rng_per_rank": []},
               ckpt / "training_state.pt")
    proof = tmp_path / "proof"  # the planted file really runs code when unpickled the old way
    torch.save({"optimizer": _Planted(proof)}, tmp_path / "proof.pt")
    torch.load(tmp_path / "proof.pt", weights_only=False)
    assert proof.exists()

    forged = _copy_run(crashed, tmp_path, "forged")  # checksums forged to match the planted file: refused, no run
    write_folder_sums(forged / "checkpoints" / "step-0000004")
    with pytest.raises(IntegrityError, match="training_state.pt does not load as plain tensors") as err:
        _pretrain(tmp_path, "forged")
    assert "\n" not in str(err.value) and not marker.exists()
    assert not (forged / "DONE").exists()

    capsys.readouterr()
    _pretrain(tmp_path, "crashed")  # checksums not forged: the planted checkpoint is corrupt, step 2 is used
    out = capsys.readouterr().out
    assert "step-0000004 is corrupt: training_state.pt" in out and "falling back" in out
    assert "resuming from" in out and "step-0000002 (step 2)" in out
    assert not marker.exists()
    _assert_equals_straight(crashed, straight)


# ---------------------------------------------------------------- item 3: corruption detected, recovered, refused
def _garble(path, offset_from_end=200):
    data = bytearray(path.read_bytes())
    position = max(0, len(data) - offset_from_end)
    data[position:position + 64] = os.urandom(64)
    path.write_bytes(bytes(data))


def _truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


@pytest.mark.parametrize("fault", ["garbled model.safetensors", "truncated training_state.pt",
                                   "garbled state.json", "missing config.json"])
def test_a_corrupt_checkpoint_falls_back_to_the_previous_one_exactly(tmp_path, straight, crashed, capsys, fault):
    ckpt = crashed / "checkpoints" / "step-0000004"
    how, name = fault.split(" ", 1)
    {"garbled": _garble, "truncated": _truncate, "missing": lambda p: p.unlink()}[how](ckpt / name)
    capsys.readouterr()
    _pretrain(tmp_path, "crashed")
    out = capsys.readouterr().out
    assert f"step-0000004 is {'incomplete' if how == 'missing' else 'corrupt'}" in out and name in out
    assert "step-0000002 (step 2)" in out
    _assert_equals_straight(crashed, straight)


def test_checkpoints_of_older_versions_without_checksums_fail_in_one_line(tmp_path, crashed):
    """No checksums to check against: a truncated file still never surfaces as a raw SafetensorError."""
    for step in ("step-0000002", "step-0000004"):
        (crashed / "checkpoints" / step / "checksums.json").unlink()
    _truncate(crashed / "checkpoints" / "step-0000004" / "model.safetensors")
    with pytest.raises(IntegrityError, match="model.safetensors is corrupt") as err:
        _pretrain(tmp_path, "crashed")
    assert "\n" not in str(err.value) and "resume=false" in str(err.value)


def test_every_checkpoint_corrupt_is_refused_not_restarted(tmp_path, crashed):
    for step in ("step-0000002", "step-0000004"):
        _garble(crashed / "checkpoints" / step / "model.safetensors")
    with pytest.raises(IntegrityError, match="every checkpoint .* is corrupt") as err:
        _pretrain(tmp_path, "crashed")
    assert "resume=false" in str(err.value)
    assert (crashed / "checkpoints" / "step-0000002").exists()  # nothing deleted


def test_corrupt_caches_are_rebuilt_and_never_trained_on(tmp_path, straight, crashed, capsys):
    """A truncated token-block cache, a tokenizer.json with swapped ids and a zeroed data order: each is reported
    and rebuilt (the order redrawn from its seed), and the resumed run still equals the uninterrupted one."""
    cache = tmp_path / "cache"
    blocks = sorted((cache / "blocks").glob("*.npy"))
    assert len(blocks) == 2  # train and validation
    _truncate(blocks[0])
    tokenizer = next((cache / "tokenizer").iterdir()) / "tokenizer.json"
    spec = json.loads(tokenizer.read_text())
    vocab = spec["model"]["vocab"]
    a, b = sorted(vocab, key=vocab.get)[10:12]
    vocab[a], vocab[b] = vocab[b], vocab[a]
    tokenizer.write_text(json.dumps(spec))
    order = crashed / "data_order" / "order-epoch0000.npy"
    order.write_bytes(bytes(order.stat().st_size))
    capsys.readouterr()
    _pretrain(tmp_path, "crashed")
    out = capsys.readouterr().out
    assert "token block cache" in out and "tokenizer" in out and "rebuilding it" in out
    assert f"saved data order {order} is unreadable" in out and "drawing it again from the seed" in out
    _assert_equals_straight(crashed, straight)
    assert (tokenizer.read_text() != json.dumps(spec)) and blocks[0].exists()


def test_a_non_finite_loss_stops_before_any_checkpoint_or_done(tmp_path, use_corpus, monkeypatch):
    """NaN weights after step 3's update: step 4's loss is NaN; with log_every=3 step 4 is no log step but a
    checkpoint step, and the check before that checkpoint stops the run, naming step 4 and the last good one."""
    from babybias.train.loop import NonFiniteLoss, Pretrainer

    trainers = []
    fit = Pretrainer.fit
    monkeypatch.setattr(Pretrainer, "fit", lambda self, on_step_end=None: trainers.append(self) or fit(self, on_step_end))

    def poison(step):
        if step == 3:
            trainers[0].model.bert.embeddings.LayerNorm.weight.data.fill_(float("nan"))

    with pytest.raises(NonFiniteLoss) as err:
        _pretrain(tmp_path, "nan", steps=6, on_step_end=poison, **{"train.log_every": 3})
    message = str(err.value)
    assert "non-finite" in message and "at step 4" in message and "step-0000002" in message and "\n" not in message
    run = _run(tmp_path, "nan")
    assert not (run / "DONE").exists() and not (run / "model").exists()
    assert [p.name for p in (run / "checkpoints").iterdir()] == ["step-0000002"]
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "loss" in r] == [3]  # the only log step before the fault
    assert records[-1]["event"] == "non_finite" and records[-1]["first_bad_step"] == 4


# ---------------------------------------------------------------- items 2, 4: other inputs, a second process
def test_a_changed_source_text_refuses_to_resume(tmp_path, shared_data):
    from train_helpers import write_sentences

    from babybias.configs.common import DataConfig
    from babybias.data import store

    for name in ("bias_attribute_words", "debiaswe_word_lists", "winobias"):
        store.prepare(name, DataConfig(root=str(tmp_path / "data"), mirror=str(shared_data), verify=True))
    text = write_sentences(tmp_path / "sentences.txt", 600, seed=1)
    source = {"corpus.sources": f"[{text}]", "corpus.validation_fraction": 0.1}
    with pytest.raises(RuntimeError):
        _pretrain(tmp_path, "edited", on_step_end=_crash_at(3), **source)
    run = _run(tmp_path, "edited")
    before = _files(run)
    write_sentences(text, 600, seed=9)  # the user edits the source file: another corpus, another tokenizer
    with pytest.raises(BabybiasError, match="other inputs than this config gives now") as err:
        _pretrain(tmp_path, "edited", **source)
    assert "corpus_key" in str(err.value) and "resume=false" in str(err.value)
    assert _files(run) == before  # nothing was touched
    _pretrain(tmp_path, "edited", resume="false", **source)
    assert (run / "DONE").exists()


def test_a_second_pretrain_of_a_running_run_is_refused_at_once(tmp_path, use_corpus):
    holder = subprocess.Popen(child_command(tmp_path, "busy", 5, "hold"), stdout=subprocess.PIPE, text=True)
    try:
        # the child prints its runtime line (device, precision, threads) first, then "training" from its hook
        assert "training" in iter(lambda: holder.stdout.readline().strip(), "")
        run = _run(tmp_path, "busy")
        metrics = (run / "metrics.jsonl").read_bytes()
        started = time.time()
        with pytest.raises(RunLocked) as err:
            _pretrain(tmp_path, "busy")
        assert time.time() - started < 10  # at once, not after the other run's training
        assert f"pid {holder.pid} on host" in str(err.value) and "babybias pretrain" in str(err.value)
        assert (run / "metrics.jsonl").read_bytes() == metrics  # the second run wrote nothing
    finally:
        holder.kill()
        holder.wait()


# ---------------------------------------------------------------- items 5, 6, 8: metrics, final metadata, debris
def test_a_garbled_metrics_line_is_skipped_and_the_later_ones_kept(tmp_path, straight, crashed, capsys):
    path = crashed / "metrics.jsonl"
    lines = path.read_text().splitlines()
    assert json.loads(lines[0])["step"] == 1
    path.write_text("\n".join(["{garbled by a disk error", *lines[1:], '{"step": 5, "lo'] ) + "\n")
    capsys.readouterr()
    _pretrain(tmp_path, "crashed")
    assert "dropped 2 unreadable lines (lines 1," in capsys.readouterr().out
    assert _losses(crashed) == _losses(straight)[1:]  # step 1's line is lost, not the 3 after it


@pytest.mark.parametrize("fault", ["killed after the last checkpoint", "disk full while writing model/"])
def test_final_metadata_is_restored_after_a_fault_at_the_end(tmp_path, straight, use_corpus, fault):
    from babybias.train import checkpoint
    from babybias.train.loop import Pretrainer

    with pytest.MonkeyPatch.context() as patch:
        if fault.startswith("killed"):
            patch.setattr(Pretrainer, "save_final_model", lambda self: _crash_at(0)(0))
            expected = RuntimeError
        else:
            save = checkpoint.save_hf_folder

            def save_until_full(folder, model, tokenizer_dir):
                save(folder, model, tokenizer_dir)
                if folder.parent.name.startswith(".model.tmp-"):  # atomic_path writes <tmp>/payload
                    raise OSError(errno.ENOSPC, "No space left on device", str(folder / "model.safetensors"))

            patch.setattr(checkpoint, "save_hf_folder", save_until_full)
            expected = OSError
        with pytest.raises(expected):
            _pretrain(tmp_path, "late")
    run = _run(tmp_path, "late")
    assert not (run / "DONE").exists() and not (run / "model").exists()
    _pretrain(tmp_path, "late")  # resumes from the final checkpoint: no step left, result from its saved state
    _assert_equals_straight(run, straight)


@pytest.mark.parametrize("mode", ["kill-in-model", "kill-after-last-checkpoint"])
def test_kill_9_at_the_end_then_a_rerun_is_exact_and_leaves_no_debris(tmp_path, straight, use_corpus, mode, capsys):
    child = subprocess.run(child_command(tmp_path, "killed", 5, mode), capture_output=True, text=True, timeout=300)
    assert child.returncode == -9, child.stderr[-2000:]
    run = _run(tmp_path, "killed")
    debris = [p.name for p in run.iterdir() if p.name.startswith(".model.tmp-")]
    assert bool(debris) == (mode == "kill-in-model") and not (run / "DONE").exists()
    capsys.readouterr()
    _pretrain(tmp_path, "killed", **{"train.checkpoint_steps": "[2]"})  # children save at [2]: the same schedule
    if debris:
        assert f"removed 1 temporary item(s) left by an interrupted run in {run}: {debris[0]}" in capsys.readouterr().out
    assert not [p for p in run.iterdir() if ".tmp-" in p.name]
    _assert_equals_straight(run, straight)  # (the checkpoint schedule changes no number)


def test_a_rerun_of_a_done_run_with_other_settings_warns_and_touches_nothing(tmp_path, use_corpus, capsys):
    _pretrain(tmp_path, "finished", steps=2, **{"train.checkpoint_steps": "[2]"})
    finished = _run(tmp_path, "finished")
    files = _files(finished, with_times=True)
    capsys.readouterr()
    changed = {"train.checkpoint_steps": "[2]", "train.lr": 1e-3, "impl.num_threads": 2}
    assert _pretrain(tmp_path, "finished", steps=2, **changed) is None
    warning = next(line for line in capsys.readouterr().out.splitlines() if "already DONE" in line)
    assert "already DONE with other settings" in warning and "train.lr: 0.003 (finished run) vs 0.001 (now)" in warning
    assert "num_threads" not in warning and "another name=" in warning  # speed settings are not "other settings"
    assert _files(finished, with_times=True) == files


def test_hydra_writes_a_rerun_of_a_done_run_elsewhere(tmp_path):
    """Through the CLI: the finished run's .hydra/ stays as it was; the skipped attempt is recorded beside it."""
    import sys

    from babybias.runs import DONE

    run = _run(tmp_path, "finished")
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "overrides.yaml").write_text("- train.lr=0.003\n")
    (run / "config.yaml").write_text("name: finished\ntrain:\n  lr: 0.003\n")
    (run / DONE).write_text("{}\n")
    before = _files(run)
    out = subprocess.run([sys.executable, "-m", "babybias.cli", "pretrain", "name=finished", "train.lr=0.001",
                          f"paths.runs={tmp_path / 'runs'}", f"data.root={tmp_path / 'data'}", "wandb=off"],
                         capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "already DONE with other settings" in out.stdout and "train.lr" in out.stdout
    assert _files(run) == before
    attempts = list((tmp_path / "runs" / "finished" / "pretrain-attempts").glob("*/.hydra/overrides.yaml"))
    assert len(attempts) == 1 and "train.lr=0.001" in attempts[0].read_text()


def test_checkpoint_steps_beyond_the_steps_of_train_epochs_are_refused_before_training(tmp_path, use_corpus):
    """With train.epochs the step count is known once the corpus is packed: checked then, before any write."""
    with pytest.raises(BabybiasError, match=r"\[500\], outside 1..train.steps=\d+ \(from train.epochs=1.0\)"):
        _pretrain(tmp_path, "epochs", **{"train.epochs": 1, "train.checkpoint_steps": "[2,500]"})
    assert not (_run(tmp_path, "epochs") / "config.yaml").exists()
    with pytest.raises(ConfigError, match=r"\[0\], below step 1"):
        compose_command("pretrain", ["train.epochs=1", "train.checkpoint_steps=[0]"])
