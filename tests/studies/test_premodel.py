"""Pre-model studies (imbalance_sweep, detox): arms, result reading, table and plot; one tiny end-to-end run."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest

from babybias.configs.common import DataConfig, PathsConfig
from babybias.studies import detox, imbalance_sweep, premodel


def test_imbalance_arms_cover_the_ratios_with_size_matched_controls():
    arms = imbalance_sweep.arms([0.1, 0.5, 0.9])
    assert [a.label for a in arms] == ["original", "imbalanced_0.1", "random_drop_0.1", "imbalanced_0.5",
                                       "random_drop_0.5", "imbalanced_0.9", "random_drop_0.9"]
    control = arms[2]
    assert control.corpus == ("corpus=random_drop", "corpus.random_drop_reference=imbalanced", "corpus.female_ratio=0.1")
    assert [a.label for a in imbalance_sweep.arms([0.3], controls=False, include_original=False)] == ["imbalanced_0.3"]
    from babybias.errors import ConfigError

    with pytest.raises(ConfigError):
        imbalance_sweep.arms([0.95])


def test_detox_arms_share_the_toxicity_settings():
    arms = detox.arms("profanity_check", 0.7)
    assert [a.group for a in arms] == ["original", "detox", "random_drop"]
    assert "corpus.threshold=0.7" in arms[1].corpus and "corpus.threshold=0.7" in arms[2].corpus
    assert "corpus.random_drop_reference=detox" in arms[2].corpus


def test_every_arm_override_composes_into_pretrain():
    from babybias.launch.compose import compose_command

    for arm in imbalance_sweep.arms([0.3]) + detox.arms():
        cfg = compose_command("pretrain", list(arm.corpus))
        assert cfg.corpus.mutation == arm.group
        if arm.female_ratio is not None:
            assert cfg.corpus.female_ratio == arm.female_ratio


def _write_result(eval_dir: Path, bench: str, gender: dict) -> None:
    eval_dir.mkdir(parents=True, exist_ok=True)
    (eval_dir / f"{bench}.json").write_text(json.dumps({"summary": {}, "per_category": {"gender": gender, "race": {}}}))


def test_gender_bias_reads_the_gender_rows(tmp_path):
    _write_result(tmp_path, "crows_pairs", {"metric_score": 61.5, "n_pairs": 262})
    _write_result(tmp_path, "stereoset", {"ss": 55.0, "lms": 80.0, "icat": 72.0})
    assert premodel.gender_bias(tmp_path) == {"crows_gender": 61.5, "crows_gender_pairs": 262,
                                              "stereoset_gender_ss": 55.0, "stereoset_gender_lms": 80.0,
                                              "stereoset_gender_icat": 72.0}


def test_gender_bias_reads_the_gender_intervals_and_arm_estimates_choose_seeds_or_items(tmp_path):
    from scipy import stats

    crows = {"summary": {}, "per_category": {"gender": {"metric_score": 61.5, "n_pairs": 262}},
             "intervals": {"gender/metric_score": {"low": 55.0, "high": 67.0}}}
    (tmp_path / "crows_pairs.json").write_text(json.dumps(crows))
    _write_result(tmp_path, "stereoset", {"ss": 55.0, "lms": 80.0, "icat": 72.0})
    row = premodel.gender_bias(tmp_path)
    assert (row["crows_gender_ci_low"], row["crows_gender_ci_high"]) == (55.0, 67.0)
    assert "stereoset_gender_ss_ci_low" not in row  # no interval in that file
    one_seed = pd.DataFrame([{**row, "seed": 0}])
    assert premodel.arm_estimate(one_seed, "crows_gender") == (61.5, 55.0, 67.0)  # one seed: the item CI
    seeds = pd.DataFrame({"crows_gender": [60.0, 62.0, 67.0], "crows_gender_ci_low": 0.0, "crows_gender_ci_high": 1.0})
    mean, low, high = premodel.arm_estimate(seeds, "crows_gender")  # several seeds: the t interval across them
    want = stats.t.interval(0.95, 2, loc=63.0, scale=pd.Series([60.0, 62.0, 67.0]).std() / 3 ** 0.5)
    assert mean == pytest.approx(63.0) and (low, high) == pytest.approx(want)


def _table() -> pd.DataFrame:
    rows = [{"arm": "original", "group": "original", "female_ratio": None, "seed": 0, "crows_gender": 55.0,
             "stereoset_gender_ss": 52.0, "run": "r"}]
    for r, value in ((0.1, 60.0), (0.9, 45.0)):
        rows.append({"arm": f"imbalanced_{r}", "group": "imbalanced", "female_ratio": r, "seed": 0,
                     "crows_gender": value, "stereoset_gender_ss": value, "crows_gender_ci_low": value - 3,
                     "crows_gender_ci_high": value + 3, "run": "r"})
        rows.append({"arm": f"random_drop_{r}", "group": "random_drop", "female_ratio": r, "seed": 0,
                     "crows_gender": 55.0, "stereoset_gender_ss": 51.0, "run": "r"})
    return pd.DataFrame(rows, columns=list(premodel.COLUMNS))


@pytest.mark.parametrize("module", [imbalance_sweep, detox])
def test_plots_are_pngs(module, tmp_path):
    table = _table()
    if module is detox:
        table = table.iloc[:3].assign(group=["original", "detox", "random_drop"])
    module.plot(table, tmp_path / "plot.png", "title")
    assert (tmp_path / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_markdown_table_has_one_line_per_row():
    text = premodel.markdown_table(_table())
    lines = text.splitlines()
    assert len(lines) == 2 + 5 and lines[0].startswith("| arm | group | female_ratio")
    assert "| 60.00 |" in lines[2] + lines[3] + lines[4]


# ---------------------------------------------------------------- tiny end-to-end run (slow: ~1-2 min on 2 cores)
@dataclass
class _StudyCfg:
    """The fields of `StudyConfig` the study modules read (the `study` command passes the real one)."""

    name: str
    presets: dict
    size: str = "tiny"
    seed: int = 0
    seeds: list = field(default_factory=lambda: [0])
    overrides: list = field(default_factory=list)
    crows_pairs_scoring: list = field(default_factory=lambda: ["shared"])
    data: DataConfig = None
    paths: PathsConfig = None

    @property
    def preset(self):
        return self.presets[self.size]


def _subset_csv(src: Path, dst: Path, per_type: int) -> None:
    with src.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    header, kept, seen = rows[0], [rows[0]], {}
    for row in rows[1:]:
        bias = row[header.index("bias_type")]
        if seen.get(bias, 0) < (per_type * 3 if bias == "gender" else per_type):
            seen[bias] = seen.get(bias, 0) + 1
            kept.append(row)
    with dst.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(kept)


def _subset_jsonl(src: Path, dst: Path, per_type: int) -> None:
    seen, kept = {}, []
    for line in src.read_text(encoding="utf-8").splitlines():
        obj = json.loads(line)
        key = (obj["type"], obj["bias_type"])
        if seen.get(key, 0) < (per_type * 3 if obj["bias_type"] == "gender" else per_type):
            seen[key] = seen.get(key, 0) + 1
            kept.append(line)
    dst.write_text("\n".join(kept) + "\n", encoding="utf-8")


@pytest.fixture(scope="module")
def small_data_root(shared_data, tmp_path_factory) -> DataConfig:
    """Word lists and two small corpora, plus CrowS-Pairs/StereoSet cut to a few dozen rows (verify=false)."""
    from babybias.data import store

    root = tmp_path_factory.mktemp("study_data")
    cfg = DataConfig(root=str(root), mirror=str(shared_data), verify=True)
    for name in ("bias_attribute_words", "debiaswe_word_lists", "winobias", "nltk_inaugural", "nltk_state_union"):
        store.prepare(name, cfg)
    (root / "crows_pairs").mkdir()
    _subset_csv(shared_data / "crows_pairs" / "crows_pairs_anonymized.csv",
                root / "crows_pairs" / "crows_pairs_anonymized.csv", per_type=4)
    (root / "stereoset").mkdir()
    _subset_jsonl(shared_data / "stereoset" / "stereoset_dev_flat.jsonl",
                  root / "stereoset" / "stereoset_dev_flat.jsonl", per_type=4)
    return DataConfig(root=str(root), mirror=None, verify=False)  # the cut benchmark files fail the checksums


TINY_PRETRAIN = ["model=tiny", "impl=cpu", "wandb=off", "corpus.sources=[nltk_inaugural,nltk_state_union]",
                 "corpus.max_sentences=1500", "tokenizer.vocab_size=300", "model.hidden_size=32",
                 "model.intermediate_size=64", "model.max_position_embeddings=128", "tokenizer.model_max_length=128",
                 "train.steps=2", "train.batch_size=4", "train.seq_len=32", "train.warmup_steps=1",
                 "train.validation_blocks=0"]


@pytest.mark.slow
def test_both_studies_run_end_to_end_at_tiny_size(small_data_root, tmp_path):
    paths = PathsConfig(runs=str(tmp_path / "runs"), cache=str(tmp_path / "cache"))
    preset = {"pretrain": TINY_PRETRAIN, "evaluate": ["impl=cpu"], "female_ratios": [0.5], "controls": True,
              "include_original": False}
    sweep_cfg = _StudyCfg("sweep", {"tiny": preset}, data=small_data_root, paths=paths)
    out = imbalance_sweep.run(sweep_cfg)
    table = sweep_table = pd.read_csv(out["csv"])
    assert list(table.arm) == ["imbalanced_0.5", "random_drop_0.5"]
    assert table.crows_gender.between(0, 100).all() and table.stereoset_gender_ss.between(0, 100).all()
    assert abs(table.female_ratio_achieved[0] - 0.5) < 0.05  # the imbalanced corpus hit its target
    assert table.train_sentences[0] == table.train_sentences[1]  # the control is size-matched
    assert Path(out["plot"]).read_bytes()[:4] == b"\x89PNG"
    assert table.crows_gender_ci_low.le(table.crows_gender).all() and table.crows_gender_ci_high.ge(table.crows_gender).all()
    study = tmp_path / "runs" / "sweep" / "study"
    assert {"results.csv", "results.md", "summary.csv", "bias_vs_female_ratio.png", "config.yaml", "DONE"} <= {
        p.name for p in study.iterdir()}
    summary = pd.read_csv(study / "summary.csv")
    assert set(summary["arm"]) == {"imbalanced_0.5", "random_drop_0.5"} and (summary["n_seeds"] == 1).all()

    detox_cfg = _StudyCfg("detox", {"tiny": {**preset, "scorer": "profanity_check", "threshold": 0.5}},
                          data=small_data_root, paths=paths)
    out = detox.run(detox_cfg)
    table = pd.read_csv(out["csv"])
    assert list(table.group) == ["original", "detox", "random_drop"]
    assert table.train_sentences[1] == table.train_sentences[2] <= table.train_sentences[0]
    assert (tmp_path / "runs" / "detox" / "study" / "bias_by_corpus.png").is_file()

    # a second run reuses every finished pretrain and evaluation: the same table
    again = imbalance_sweep.run(sweep_cfg)
    pd.testing.assert_frame_equal(pd.read_csv(again["csv"]), sweep_table)
