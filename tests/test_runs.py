"""Run directories, atomic writes, hashing and seeding."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest

from babybias import runs


@dataclass
class _Cfg:
    a: int = 1
    b: list = field(default_factory=lambda: [1, 2])


def test_config_hash_is_stable_and_sensitive():
    assert runs.config_hash(_Cfg()) == runs.config_hash(_Cfg())
    assert runs.config_hash(_Cfg()) == runs.config_hash({"b": [1, 2], "a": 1})
    assert runs.config_hash(_Cfg(a=2)) != runs.config_hash(_Cfg())


def test_child_seeds_are_deterministic_and_distinct():
    assert runs.child_seed(0, "model_init") == runs.child_seed(0, "model_init")
    seeds = {runs.child_seed(0, n) for n in ("model_init", "data_order", "masking", "shard/0", "shard/1")}
    assert len(seeds) == 5
    assert runs.child_seed(1, "model_init") != runs.child_seed(0, "model_init")
    drawn = runs.resolve_seed(None)
    assert isinstance(drawn, int) and drawn >= 0
    assert runs.resolve_seed(7) == 7


def test_atomic_write_leaves_old_content_on_failure(tmp_path):
    target = tmp_path / "x.json"
    runs.atomic_write_json(target, {"v": 1})
    with pytest.raises(RuntimeError):
        with runs.atomic_path(target) as tmp:
            tmp.write_text("partial")
            raise RuntimeError("killed")
    assert json.loads(target.read_text()) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_atomic_directory_replace(tmp_path):
    target = tmp_path / "ckpt"
    for version in (1, 2):
        with runs.atomic_path(target) as tmp:
            tmp.mkdir()
            (tmp / "v").write_text(str(version))
    assert (target / "v").read_text() == "2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]


def test_concurrent_directory_publish_keep_existing(tmp_path):
    """Two writers building the same content-addressed folder: the second keeps the first's (CI race, two
    Slurm jobs training the same cached tokenizer)."""
    out = tmp_path / "cache" / "key"
    with runs.atomic_path(out, keep_existing=True) as first:
        first.mkdir()
        (first / "vocab.txt").write_text("first")
        # the other writer publishes while we are still writing
        with runs.atomic_path(out, keep_existing=True) as second:
            second.mkdir()
            (second / "vocab.txt").write_text("second")
    assert (out / "vocab.txt").read_text() == "second"
    assert sorted(p.name for p in out.parent.iterdir()) == ["key"]  # no temp debris


def test_concurrent_directory_publish_last_wins(tmp_path):
    out = tmp_path / "artifact"
    with runs.atomic_path(out) as first:
        first.mkdir()
        (first / "a").write_text("first")
        with runs.atomic_path(out) as second:
            second.mkdir()
            (second / "a").write_text("second")
    assert (out / "a").read_text() == "first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["artifact"]


def test_publish_races_between_processes(tmp_path):
    """Many processes publishing the same folder at once: no error, one complete copy, no debris."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_publish_worker, args=(str(tmp_path / "shared"), i)) for i in range(6)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0] * 6
    files = sorted(p.name for p in (tmp_path / "shared").iterdir())
    assert files == sorted(f"part{j}" for j in range(20))
    assert len({(tmp_path / "shared" / f).read_text() for f in files}) == 1  # one writer's complete copy
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "go") == ["shared"]


def _publish_worker(path: str, i: int) -> None:
    for keep in (True, False, True):
        with runs.atomic_path(path, keep_existing=keep) as tmp:
            tmp.mkdir()
            for j in range(20):
                (tmp / f"part{j}").write_text(str(i))


def test_run_dir_lifecycle(tmp_path):
    rd = runs.run_dir_for(str(tmp_path), "exp", "pretrain").create()
    assert rd.path == tmp_path / "exp" / "pretrain"
    rd.write_config(_Cfg())
    rd.write_meta(inputs={"corpus": "abc"})
    rd.log({"step": 1, "loss": 2.5})
    rd.log({"step": 2, "loss": 2.0})
    assert not rd.done
    rd.mark_done({"final_loss": 2.0})
    assert rd.done
    assert rd.read_config() == {"a": 1, "b": [1, 2]}
    assert [m["loss"] for m in rd.metrics()] == [2.5, 2.0]
    meta = json.loads((rd.path / "meta.json").read_text())
    assert meta["inputs"] == {"corpus": "abc"} and "torch" not in meta.get("argv", [])
    assert runs.find_run("exp", runs_root=str(tmp_path)).path == rd.path


def test_torn_jsonl_line_is_ignored(tmp_path):
    path = tmp_path / "m.jsonl"
    runs.append_jsonl(path, {"a": 1})
    with open(path, "a") as fh:
        fh.write('{"a": 2')  # killed mid-write
    assert runs.read_jsonl(path) == [{"a": 1}]


def test_find_run_error_names_the_fix(tmp_path):
    from babybias.errors import BabybiasError

    with pytest.raises(BabybiasError, match="name="):
        runs.find_run("missing", runs_root=str(tmp_path))


def test_long_sweep_dirnames_are_shortened_deterministically():
    long = ",".join(f"corpus.option_{i}=value_{i}" for i in range(40))
    short = runs._short_dirname(long)
    assert len(short) <= 120 and short == runs._short_dirname(long)
    assert short != runs._short_dirname(long + "x")
    assert runs._short_dirname("seed=1,corpus=balanced") == "seed=1,corpus=balanced"


def test_run_lock_refuses_a_second_process_and_is_released_when_the_holder_dies(tmp_path):
    import signal
    import subprocess
    import sys

    folder = tmp_path / "runs" / "x" / "pretrain"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from babybias.runs import run_lock\n"
         f"with run_lock({str(folder)!r}, 'pretrain'):\n    print('locked', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(runs.RunLocked) as err:
            with runs.run_lock(folder):
                pass
        assert f"pid {holder.pid}" in str(err.value) and "host" in str(err.value) and "pretrain" in str(err.value)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with runs.run_lock(folder) as path:  # the OS released the dead holder's lock
        with runs.RunDir(folder).lock():  # re-entrant within one process
            assert path.exists()


def test_meta_records_whether_the_code_had_uncommitted_changes(tmp_path):
    """git_commit alone names code that may not be what ran: a run from an edited checkout says so (git_dirty)."""
    import subprocess

    repo = tmp_path / "repo"
    repo.mkdir()
    git = lambda *args: subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)  # noqa: E731
    git("init", "-q")
    (repo / "code.py").write_text("x = 1\n")
    git("add", "code.py")
    git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-q", "-m", "c")
    (repo / "untracked.txt").write_text("run outputs are not code\n")
    assert runs.git_dirty(repo) is False
    (repo / "code.py").write_text("x = 2\n")
    assert runs.git_dirty(repo) is True
    outside = tmp_path / "plain"
    outside.mkdir()
    assert runs.git_dirty(outside) in (None, False)  # no checkout: unknown (None), unless tmp is inside one
    meta = json.loads(runs.RunDir(tmp_path / "run").create().write_meta().read_text())
    assert meta["git_dirty"] == runs.git_dirty() and "git_commit" in meta
