"""`babybias evaluate` and run integrity (issue 10): results writable before scoring, one evaluate of a run at a time,
corrupt checkpoints refused in one line, a run without checkpoints says so."""

from __future__ import annotations

import fcntl

import pytest

from babybias.commands import evaluate as evaluate_command
from babybias.errors import BabybiasError, IntegrityError
from babybias.integrity import write_folder_sums
from babybias.launch.compose import compose_command
from babybias.runs import RunLocked

from .evaluate_helpers import overrides


def _refuse_scoring(monkeypatch):
    import babybias.debias.apply as apply

    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded for scoring")

    monkeypatch.setattr(apply, "debiased_engine", refuse)


def test_unwritable_results_are_found_before_any_scoring(tiny_run, small_data, monkeypatch):
    _refuse_scoring(monkeypatch)
    (tiny_run.parent / "eval").write_text("a file where the results folder should be")
    with pytest.raises(BabybiasError, match="cannot write into .*eval") as err:
        evaluate_command.run(compose_command("evaluate", overrides(tiny_run, small_data, "eval=[crows_pairs]")))
    assert "writable" in str(err.value) and "\n" not in str(err.value)


def test_a_second_evaluate_of_the_same_run_is_refused(tiny_run, small_data, monkeypatch):
    _refuse_scoring(monkeypatch)
    eval_root = tiny_run.parent / "eval"
    eval_root.mkdir()
    with open(eval_root / ".lock", "a+") as other:  # another open file: flock conflicts as with another process
        other.write("pid 4242 on host elsewhere (babybias evaluate)\n")
        other.flush()
        fcntl.flock(other.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(RunLocked, match="in use by pid 4242 on host elsewhere"):
            evaluate_command.run(compose_command("evaluate", overrides(tiny_run, small_data, "eval=[crows_pairs]")))
    # pretraining the same run holds <run>/pretrain's lock, not <run>/eval's: evaluating its checkpoints goes on
    from babybias.runs import RunDir

    with RunDir(tiny_run).lock("babybias pretrain"):
        monkeypatch.undo()
        out = evaluate_command.run(compose_command("evaluate", overrides(tiny_run, small_data, "eval=[crows_pairs]")))
    assert out["status"]["toy/step-0000100"]["crows_pairs"].startswith("computed")


@pytest.mark.parametrize("with_sums", [True, False])
def test_a_corrupt_checkpoint_is_refused_in_one_line(tiny_run, small_data, with_sums):
    model = tiny_run / "checkpoints" / "step-0000100"  # what checkpoints=final evaluates (model/ has the same step)
    if with_sums:
        write_folder_sums(model)
    data = (model / "model.safetensors").read_bytes()
    (model / "model.safetensors").write_bytes(data[: len(data) // 3])
    with pytest.raises(IntegrityError) as err:
        evaluate_command.run(compose_command("evaluate", overrides(tiny_run, small_data, "eval=[crows_pairs]")))
    message = str(err.value)
    assert str(model) in message and "\n" not in message
    assert ("model.safetensors has" in message) if with_sums else ("does not load" in message)


def test_a_run_without_checkpoints_says_so(tmp_path, small_data):
    run = tmp_path / "runs" / "early" / "pretrain"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text("name: early\n")
    with pytest.raises(BabybiasError, match="exists but has no checkpoint yet") as err:
        evaluate_command.run(compose_command("evaluate", overrides(run, small_data, "eval=[crows_pairs]")))
    assert "babybias pretrain name=early" in str(err.value)
