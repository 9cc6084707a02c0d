"""After a round nothing derived from a deleted example is left: no file under the run directory or its feature
cache holds a deleted text or feature row (bytes scanned), no checkpoint trained on a deleted id exists, and the
audit fails loudly on any planted leftover."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from unlearn_helpers import fast_overrides, files_containing

from babybias.launch.compose import run_command
from babybias.unlearn.audit import audit_run
from babybias.unlearn.features import FeatureStore
from babybias.unlearn.purge import checkpoint_dirs, lineage_ids
from babybias.unlearn.state import StateStore


@pytest.fixture(scope="module")
def purged(tiny_encoder_run, shared_data, tmp_path_factory):
    """A run, what derives from 3 training ids and 1 calibration id before `forget`, and a backup of the run."""
    from babybias.data.store import require
    from babybias.unlearn.task import DATASET, build_task

    runs = tiny_encoder_run
    run = run_command("unlearn", fast_overrides(runs, shared_data, "purge", "unlearn.rounds=0")).path
    state = StateStore(run).current()
    examples = state.examples
    ids = [int(state.assignment.slices[s][0][0]) for s in range(2)] + [int(state.assignment.slices[1][1][-1])]
    ids.append(int(examples.loc[examples["split"] == "calibration", "id"].iloc[0]))
    texts = build_task(require(DATASET, _data(shared_data)), _task(run), 0).frame
    texts = texts.set_index("id").loc[ids, "text"].tolist()
    feature_ids, rows = FeatureStore(run / "features").load(state.features)
    rows = rows[np.isin(feature_ids, ids)]
    tainted = [c for c in checkpoint_dirs(run) if lineage_ids(c) & set(ids)]
    backup = tmp_path_factory.mktemp("backup") / "unlearn"
    shutil.copytree(run, backup, symlinks=True)
    roots = [run, runs / "cache-purge"]
    # not vacuous: before the round every text's row is in the run's copy and in the shared cache
    for row in rows:
        assert len(files_containing(roots, row.tobytes())) == 2
    assert len(tainted) >= 4  # stages of both shards and the single model
    run_command("unlearn", ["action=forget", f"run={run}", f"ids=[{','.join(map(str, ids))}]"])
    return run, roots, texts, rows, tainted, backup


def _data(shared_data):
    from babybias.configs.common import DataConfig

    return DataConfig(root=str(shared_data), mirror=None)


def _task(run):
    from babybias.runs import RunDir
    from babybias.unlearn.setup import load_saved_config

    return load_saved_config(RunDir(run)).task


def test_no_file_holds_a_deleted_text_or_feature_row_and_tainted_checkpoints_are_gone(purged):
    run, roots, texts, rows, tainted, _ = purged
    for text in texts:
        assert files_containing(roots, text.encode()) == [] and files_containing(roots, text.lower().encode()) == []
    for row in rows:
        assert files_containing(roots, row.tobytes()) == []
    assert all(not c.exists() for c in tainted)
    assert [p.name for p in (run / "states").iterdir()] == ["1"]
    assert len(list((run / "features").iterdir())) == 2  # one copy: rows and ids
    assert not list((roots[1] / "features").glob("*.npy"))  # the shared cache entry held the rows: purged
    result = audit_run(run)
    assert result.ok, result.problems
    assert result.deleted == 4 and result.files_scanned > 10


def _plant(run, edit):
    copy = run.parent.parent / f"planted-{len(list(run.parent.parent.iterdir()))}" / "unlearn"
    shutil.copytree(run, copy, symlinks=True)
    edit(copy)
    result = audit_run(copy)
    assert not result.ok
    return "\n".join(result.problems)


def test_audit_fails_on_planted_leftovers(purged):
    run, roots, texts, rows, tainted, backup = purged
    assert "1 deleted text" in _plant(run, lambda d: (d / "notes.txt").write_text(f"kept: {texts[0]}\n"))
    assert "1 deleted text" in _plant(run, lambda d: (d / "rounds" / "round-1" / "x.log").write_bytes(
        texts[1].lower().encode()))
    assert "feature row(s) of deleted examples" in _plant(run, lambda d: np.save(d / "features" / "old.npy", rows))

    def restore_checkpoint(d):
        old = tainted[0]
        shutil.copytree(backup / old.relative_to(run), d / old.relative_to(run))

    assert "was trained on" in _plant(run, restore_checkpoint)

    def renamed_weights(d):
        shutil.copy(backup / tainted[0].relative_to(run) / "model.pt", d / "weights.bin")

    assert "copy of the weights of a checkpoint removed" in _plant(run, renamed_weights)
    assert "old or uncommitted state folder" in _plant(run, lambda d: shutil.copytree(backup / "states" / "0",
                                                                                         d / "states" / "0"))
    assert "deleted id(s)" in _plant(run, lambda d: np.save(d / "features" / "x.ids.npy",
                                                             np.load(next((backup / "features").glob("*.ids.npy")))))
    # a kept example may embed exactly like a deleted one (texts that tokenize alike): its row is its own
    copy = run.parent.parent / "shared-row" / "unlearn"
    shutil.copytree(run, copy, symlinks=True)
    state = StateStore(copy).current()
    path = copy / "features" / f"{state.features}.npy"
    kept = np.load(path)
    kept[0] = rows[0]
    np.save(path, kept)
    assert audit_run(copy).ok, audit_run(copy).problems
    # a leftover in the feature cache the run used is found too (and removed again for the other tests)
    cache_file = roots[1] / "features" / "leftover.npy"
    np.save(cache_file, rows)
    try:
        problems = audit_run(run).problems
        assert any(str(cache_file) in p for p in problems)
    finally:
        cache_file.unlink()


def test_audit_without_the_data_set_cannot_check_texts_and_says_so(purged, monkeypatch):
    import babybias.data.store as store

    run = purged[0]

    def missing(*args, **kwargs):
        from babybias.errors import DataError

        raise DataError("identity_toxicity_templates is missing", fix="run `babybias data prepare`")

    monkeypatch.setattr(store, "require", missing)
    result = audit_run(run)
    assert not result.ok and any("cannot scan for the deleted texts" in p for p in result.problems)
