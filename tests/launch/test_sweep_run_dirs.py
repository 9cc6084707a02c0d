"""Run directories of sweep jobs: a chained command inside a `-m` job, and what jobs.json records for each job."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest


@contextlib.contextmanager
def sweep_job(command: str, overrides: list[str], job_num: int = 0):
    """Make Hydra's config of job `job_num` of `babybias <command> -m <overrides>` current, as on a compute node."""
    from hydra import compose, initialize_config_dir
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    from omegaconf import open_dict

    from babybias.cli import config_dir
    from babybias.configs import register_all

    register_all()
    with initialize_config_dir(version_base="1.3", config_dir=str(config_dir()), job_name=command):
        cfg = compose(command, overrides=overrides, return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.mode = RunMode.MULTIRUN
        cfg.hydra.job.num = job_num
    holder = HydraConfig.instance()
    previous = holder.cfg
    holder.set_config(cfg)
    try:
        yield cfg
    finally:
        holder.cfg = previous


def test_a_study_sent_as_a_sweep_job_trains_each_arm_where_it_then_reads_it(tmp_path, monkeypatch):
    from babybias.commands import pretrain
    from babybias.runs import run_dir_for
    from babybias.studies.arms import pretrain_arm

    written: list[Path] = []
    monkeypatch.setattr(pretrain, "run", lambda cfg, *a: written.append(
        run_dir_for(cfg.paths.runs, cfg.name, "pretrain").path))
    with sweep_job("study", ["experiment=bias_dynamics", "size=tiny", f"paths.runs={tmp_path}"]) as job:
        assert job.hydra.job.override_dirname  # the job has a suffix of its own: runs/<name>/<suffix>/<command>
        read = pretrain_arm(["name=bd/original/seed0", "model=tiny", f"paths.runs={tmp_path}"])
    assert written == [read] == [tmp_path / "bd" / "original" / "seed0" / "pretrain"]


def sweep_launcher(command: str, overrides: list[str]):
    """The `hydra/launcher=local` launcher of `babybias <command> -m <overrides>`, set up as Hydra sets it up."""
    from hydra._internal.callbacks import Callbacks
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra._internal.utils import create_config_search_path
    from hydra.core.plugins import Plugins
    from hydra.core.utils import setup_globals
    from hydra.types import HydraContext, RunMode

    from babybias.cli import config_dir
    from babybias.configs import register_all

    register_all()
    setup_globals()  # Hydra's own resolvers (${now:...} in hydra.sweep.dir)
    loader = ConfigLoaderImpl(config_search_path=create_config_search_path(str(config_dir())))
    cfg = loader.load_configuration(command, overrides=["hydra/launcher=local", "hydra.mode=MULTIRUN", *overrides],
                                     run_mode=RunMode.MULTIRUN)  # `-m` adds hydra.mode=MULTIRUN
    context = HydraContext(config_loader=loader, callbacks=Callbacks())
    return Plugins.instance().instantiate_launcher(hydra_context=context, task_function=lambda c: None, config=cfg)


def plan(tmp_path: Path, command: str, fixed: list[str], jobs: list[list[str]]) -> list[dict]:
    """jobs.json entries the launcher plans for a sweep whose jobs are `fixed` + each of `jobs` (nothing runs)."""
    launcher = sweep_launcher(command, [*fixed, f"paths.runs={tmp_path / 'runs'}"])
    planned, _ = launcher._plan([[*fixed, f"paths.runs={tmp_path / 'runs'}", *job] for job in jobs], 0, tmp_path)
    return planned


def test_force_true_runs_a_done_sweep_job_again_and_status_waits_for_its_new_done(tmp_path):
    import time

    from babybias.launch.state import sweep_states

    fixed = ["model=tiny", "train.steps=2"]
    first = plan(tmp_path, "pretrain", fixed, [["seed=0"]])[0]
    Path(first["run_dir"]).mkdir(parents=True)
    (Path(first["run_dir"]) / "DONE").write_text("{}")
    assert plan(tmp_path, "pretrain", fixed, [["seed=0"]])[0]["skipped"] == "DONE"
    forced = plan(tmp_path, "pretrain", fixed, [["seed=0", "force=true"]])[0]
    assert "skipped" not in forced and forced["run_dir"] == first["run_dir"]
    # submitted now: the old run's DONE is not this job's
    forced.update(job_id="1_0", submitted_at=time.time() + 1)
    assert sweep_states({"jobs": [forced]})[0].state != "DONE"
    forced["submitted_at"] = time.time() - 60  # the job has written DONE since it was submitted
    assert sweep_states({"jobs": [forced]})[0].state == "DONE"


def test_two_sweep_jobs_that_would_write_one_run_directory_are_refused_before_submission(tmp_path):
    from babybias.errors import BabybiasError

    with pytest.raises(BabybiasError, match=r"#0 .*#1 .*would both write .*impl is not part of sweep run-directory"):
        plan(tmp_path, "pretrain", ["model=tiny", "seed=0"], [["impl=cpu"], ["impl=cpu_bf16"]])
    with pytest.raises(BabybiasError, match="their overrides name the same run"):
        plan(tmp_path, "pretrain", ["model=tiny"], [["seed=1"], ["seed=1"]])
    distinct = plan(tmp_path, "pretrain", ["model=tiny"], [["seed=0"], ["seed=1"], ["seed=1", "dryrun=true"]])
    assert len({e["run_dir"] for e in distinct}) == 3 and distinct[2]["run_dir"].endswith("pretrain-dryrun")


def test_jobs_json_names_the_folder_each_command_writes_its_done_into(tmp_path):
    study = plan(tmp_path, "study", [], [["experiment=bias_dynamics", "size=tiny"]])[0]
    assert study["run_dir"] == str((tmp_path / "runs" / "bias_dynamics_tiny" / "study").absolute())
    Path(study["run_dir"]).mkdir(parents=True)
    (Path(study["run_dir"]) / "DONE").write_text("{}")
    # a study runs again (its arms skip what is DONE; the table follows the settings asked for now)
    assert "skipped" not in plan(tmp_path, "study", [], [["experiment=bias_dynamics", "size=tiny"]])[0]
    assert plan(tmp_path, "debias", [], [["run=a"], ["run=b"]])[0]["run_dir"] is None  # writes beside the model
