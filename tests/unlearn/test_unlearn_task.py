"""The task builder: groups from identity terms, skew in train only, balanced test, stable ids."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from babybias.configs.common import DataConfig
from babybias.configs.unlearn import DEFAULT_PRIVILEGED, TaskConfig
from babybias.data.store import require
from babybias.errors import BabybiasError, ConfigError
from babybias.unlearn.task import DATASET, REAL_ID_OFFSET, TEMPLATES, ToxicityTask, build_task, check_calibration


@pytest.fixture(scope="module")
def folder(shared_data):
    return require(DATASET, DataConfig(root=str(shared_data), mirror=None))


@pytest.fixture(scope="module")
def skewed(folder):
    return build_task(folder, TaskConfig(attribute="binary", skew=0.8, max_examples=4000), seed=0)


def test_ids_are_template_rows_and_stable(folder, skewed):
    again = build_task(folder, TaskConfig(attribute="binary", skew=0.8, max_examples=4000), seed=0)
    pd.testing.assert_frame_equal(skewed.frame, again.frame)
    raw = pd.read_csv(folder / TEMPLATES)
    templates = skewed.frame[skewed.frame["id"] < REAL_ID_OFFSET]
    assert (raw["phrase"].to_numpy()[templates["id"]] == templates["text"].to_numpy()).all()
    assert ((raw["toxicity"].to_numpy()[templates["id"]] == "toxic") == templates["label"].astype(bool)).all()
    assert skewed.frame["id"].is_unique


def test_binary_groups_follow_the_privileged_terms(skewed):
    frame = skewed.frame[skewed.frame["split"] != "real"]
    expected = np.where(frame["term"].isin(DEFAULT_PRIVILEGED), "privileged", "unprivileged")
    assert (frame["group"].to_numpy() == expected).all()
    assert skewed.groups == ["privileged", "unprivileged"]


def test_term_grouping_keeps_one_attribute_and_prefers_longest_term(folder):
    task = build_task(folder, TaskConfig(attribute="race", grouping="term", max_examples=None), seed=0)
    assert {"african american", "african", "middle eastern", "white"} <= set(task.groups)
    assert "muslim" not in task.groups
    row = task.frame[task.frame["text"].str.lower().str.contains("african american")].iloc[0]
    assert row["group"] == "african american"
    religion = build_task(folder, TaskConfig(attribute="religion", grouping="category", max_examples=1000), seed=0)
    assert set(religion.frame["group"]) == {"religion"}


def test_skew_only_in_train_and_test_is_balanced(skewed):
    frame = skewed.frame
    train = frame[frame["split"] == "train"]
    unpriv = train[train["group"] == "unprivileged"]
    assert abs(unpriv["label"].mean() - 0.8) < 2 / len(unpriv)
    assert abs(train.loc[train["group"] == "privileged", "label"].mean() - 0.5) < 0.02
    for split in ("test", "calibration"):
        part = frame[frame["split"] == split]
        for _, g in part.groupby("group"):
            assert abs(g["label"].mean() - 0.5) < (1e-9 if split == "test" else 0.02)
    # splits are disjoint and the skew only moved training examples to `unused`
    assert set(frame.loc[frame["split"] == "unused", "id"]).isdisjoint(set(train["id"]))


def test_real_comments_have_exactly_one_group(skewed):
    real = skewed.frame[skewed.frame["split"] == "real"]
    assert len(real) > 100 and real["group"].notna().all()
    assert (real["id"] >= REAL_ID_OFFSET).all()


def test_unknown_privileged_term_and_skewed_group_are_config_errors(folder):
    with pytest.raises(ConfigError, match="task.privileged"):
        build_task(folder, TaskConfig(privileged=["martian"], max_examples=500), seed=0)
    with pytest.raises(ConfigError, match="skewed_groups"):
        build_task(folder, TaskConfig(skew=0.7, skewed_groups=["nobody"], max_examples=500), seed=0)


def test_calibration_group_without_positives_is_a_clear_error(skewed):
    frame = skewed.frame.copy()
    cal_pos = (frame["split"] == "calibration") & (frame["group"] == "privileged") & (frame["label"] == 1)
    frame.loc[cal_pos, "split"] = "unused"
    with pytest.raises(BabybiasError, match="'privileged' has no toxic"):
        check_calibration(ToxicityTask(frame=frame, groups=skewed.groups))


def test_request_distributions_and_distribution_aware_partition(skewed):
    from babybias.configs.unlearn import SisaConfig, UnlearnRequestsConfig
    from babybias.unlearn.requests import plan_run
    from babybias.unlearn.task import ids_in_population

    train = skewed.split("train").set_index("id")
    priv = ids_in_population(skewed, "group:privileged")
    assert (train.loc[priv, "group"] == "privileged").all() and len(priv) == (train["group"] == "privileged").sum()
    toxic = ids_in_population(skewed, "label:toxic")
    assert (train.loc[toxic, "label"] == 1).all()
    with pytest.raises(ConfigError, match="no group 'martians'"):
        ids_in_population(skewed, "group:martians")
    sisa = SisaConfig(shards=4, slices=2, partition="distribution")
    planned = plan_run(skewed, sisa, UnlearnRequestsConfig(rounds=2, requests=5, distribution="group:privileged"), 0)
    for ids in planned.rounds:
        assert (train.loc[ids, "group"] == "privileged").all()
    # privileged ids are ~40% of training: packed into the first 2 of 4 shards
    assert planned.assignment.shards_holding(priv) == [0, 1]
