"""Study presets: every preset composes for both sizes, and each study chains the right commands.

The chaining tests replace `run_command` with a recorder that writes the files a real command would leave
(correlations.csv, fairness.csv, eval JSONs), so they check the study logic in milliseconds; the real tiny
run is `babybias study experiment=bias_dynamics size=tiny` (minutes, see the report in the closing note).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import babybias.launch.compose as compose
from babybias.errors import ConfigError
from babybias.launch.compose import compose_command

PRESETS = ("bias_dynamics", "debias_transfer", "fairsisa")


@pytest.mark.parametrize("size", ["tiny", "paper"])
@pytest.mark.parametrize("experiment", PRESETS)
def test_presets_compose(experiment, size):
    cfg = compose_command("study", [f"experiment={experiment}", f"size={size}"])
    assert cfg.experiment == experiment and cfg.name == f"{experiment}_{size}"
    preset = cfg.preset
    if experiment == "fairsisa":
        assert preset["shards"] == [1, 3, 5, 10]
        compose_command("unlearn", [*preset["unlearn"], "shards=3", "encoder=x"])  # the overrides are valid
        compose_command("pretrain", preset["encoder"])
    else:
        assert len(preset["models"]) == 2
        arms = [compose_command("pretrain", [*preset["pretrain"], *overrides]) for overrides in preset["models"].values()]
        if (experiment, size) == ("bias_dynamics", "paper"):  # the seed paper's runs: experiment=paper_ltgbert
            assert [a.model.architecture for a in arms] == ["ltg_bert", "bert"]
            assert all(a.train.epochs == 20 and a.corpus.sources == ["babylm_100m"] for a in arms)
            assert arms[0].train == arms[1].train and arms[0].impl.precision == "bf16"
        compose_command("evaluate", preset["evaluate"])


def test_study_errors_name_the_override():
    from babybias.commands.study import run

    with pytest.raises(ConfigError, match="experiment="):
        run(compose_command("study"))
    with pytest.raises(ConfigError, match="size=tiny or size=paper"):
        compose_command("study", ["experiment=fairsisa", "size=huge"])


class Recorder:
    """Stands in for run_command: records (command, overrides) and writes what the command would write."""

    def __init__(self, runs: Path):
        self.runs, self.calls = runs, []

    def __call__(self, command, overrides=()):
        args = dict(o.split("=", 1) for o in overrides if "=" in o)
        self.calls.append((command, list(overrides)))
        if command == "compare":
            out = Path(args["out"])
            out.mkdir(parents=True)
            pd.DataFrame([{"benchmark": "stereoset", "category": "overall", "metric": "ss", "n_points": 4,
                           "pearson_r": 0.5}, {"benchmark": "stereoset", "category": "overall",
                                               "metric": "n_examples", "n_points": 4, "pearson_r": None}]
                         ).to_csv(out / "correlations.csv", index=False)
        if command == "unlearn":
            run = self.runs / args["name"] / "unlearn"
            run.mkdir(parents=True)
            pd.DataFrame([{"round": 0, "eval_set": "test", "method": "sisa", "accuracy": 0.8, "eo_diff": 0.1}]
                         ).to_csv(run / "fairness.csv", index=False)
            (run / "DONE").write_text("{}")
        if command == "evaluate":
            run = Path(args["run"])
            folder = run.parent / "eval" / "final"
            folder.mkdir(parents=True, exist_ok=True)
            size = 64 if "babylm" in str(run) else 96
            if "stereoset" in args.get("eval", "[stereoset]"):  # an older result file: no options, no base_variant
                stem, ss = ("stereoset", 60.0) if "debias" not in args else (f"stereoset-{args['debias']}", 55.0)
                ss += size / 100 if "debias" in args else 0
                (folder / f"{stem}.json").write_text(json.dumps({"summary": {"ss": ss, "lms": 80.0}}))
            if "crows_pairs" in args.get("eval", ""):  # as the real command writes it
                scoring = args["crows_pairs.scoring"]
                base = "crows_pairs" if scoring == "shared" else f"crows_pairs-{scoring}"
                score = (60.0 if scoring == "shared" else 70.0) - (("debias" in args) * (5 + size / 100))
                options = {"scoring": scoring, **({"debias": {"method": args["debias"]}} if "debias" in args else {})}
                stem = base + (f"-{args['debias']}" if "debias" in args else "")
                (folder / f"{stem}.json").write_text(json.dumps({
                    "summary": {"metric_score": score}, "base_variant": base, "options": options}))
        return None


@pytest.fixture
def recorder(tmp_path, monkeypatch):
    rec = Recorder(tmp_path / "runs")
    monkeypatch.setattr(compose, "run_command", rec)
    return rec


def _study(tmp_path, experiment):
    return compose_command("study", [f"experiment={experiment}", f"paths.runs={tmp_path / 'runs'}",
                                     f"data.root={tmp_path / 'data'}", "report=false"])


def test_bias_dynamics_chains_pretrain_evaluate_compare(tmp_path, recorder):
    from babybias.studies import bias_dynamics

    result = bias_dynamics.run(_study(tmp_path, "bias_dynamics"))
    commands = [c for c, _ in recorder.calls]
    assert commands == ["pretrain", "evaluate", "pretrain", "evaluate", "compare"]
    pretrain_a, evaluate_a, pretrain_b = (dict(o.split("=", 1) for o in recorder.calls[i][1]) for i in range(3))
    assert pretrain_a["name"] == "bias_dynamics_tiny/babylm/seed0" and pretrain_a["model.hidden_size"] == "64"
    assert pretrain_b["model.hidden_size"] == "96"  # same corpus, other architecture
    assert pretrain_a["corpus.max_sentences"] == pretrain_b["corpus.max_sentences"]
    assert evaluate_a["checkpoints"] == "all"
    compare_args = dict(o.split("=", 1) for o in recorder.calls[4][1])
    assert compare_args["a"].endswith("babylm/seed0/pretrain") and compare_args["b"].endswith("bert_base/seed0/pretrain")
    assert list(result["table"]["metric"]) == ["ss"]  # constant counts dropped
    assert (tmp_path / "runs" / "bias_dynamics_tiny" / "study" / "DONE").exists()


def test_fairsisa_runs_one_unlearn_per_shard_count_and_skips_done(tmp_path, recorder):
    from babybias.studies import fairsisa

    fairsisa.run(_study(tmp_path, "fairsisa"))
    unlearns = [dict(o.split("=", 1) for o in o_) for c, o_ in recorder.calls if c == "unlearn"]
    assert [u["shards"] for u in unlearns] == ["1", "3", "5", "10"]
    assert {u["encoder"] for u in unlearns} == {str(tmp_path / "runs" / "fairsisa_tiny" / "encoder" / "seed0" / "pretrain")}
    table = pd.read_csv(tmp_path / "runs" / "fairsisa_tiny" / "study" / "results.csv")
    assert table["shards"].tolist() == [1, 3, 5, 10]
    recorder.calls.clear()
    fairsisa.run(_study(tmp_path, "fairsisa"))  # every arm is DONE: only the (skipping) encoder pretrain runs
    assert [c for c, _ in recorder.calls] == ["pretrain"]


def test_debias_transfer_correlates_the_two_models_bias_changes(tmp_path, recorder):
    from babybias.studies import debias_transfer

    table = debias_transfer.run(_study(tmp_path, "debias_transfer"))["table"]
    rows = table[(table["method"] != "ALL") & (table["metric"] == "stereoset.ss")]
    assert set(rows["method"]) == {"inlp", "sentence_debias", "self_debias"}
    # the recorder's debiased ss is 55 + 0.64 (babylm) or 55 + 0.96 (bert) against a baseline of 60
    assert rows["change_babylm"].tolist() == pytest.approx([-4.36] * 3)
    assert rows["change_bert_base"].tolist() == pytest.approx([-4.04] * 3)
    # lms is unchanged (0, 0) and ss moves together: the changes of the two models are perfectly correlated
    assert table[table["method"] == "ALL"]["change_babylm"].item() == pytest.approx(1.0)


def test_debias_transfer_reports_both_crows_scorings_and_correlates_its_own(tmp_path, recorder):
    from babybias.studies import debias_transfer

    cfg = _study(tmp_path, "debias_transfer")
    assert cfg.crows_pairs_scoring == ["modified", "shared"]  # stated by the preset: bias-bench's, then Nangia's
    cfg.presets["tiny"]["evaluate"] = ["impl=cpu", "eval=[crows_pairs,stereoset]"]
    table = debias_transfer.run(cfg)["table"]
    evaluates = [dict(o.split("=", 1) for o in overrides) for c, overrides in recorder.calls if c == "evaluate"]
    # per model: the baseline and each of the 3 methods, each evaluated with both scorings
    assert [(e["eval"], e["crows_pairs.scoring"]) for e in evaluates[:2]] == [
        ("[crows_pairs,stereoset]", "modified"), ("[crows_pairs]", "shared")]
    assert len(evaluates) == 2 * 4 * 2
    methods = table[table["method"] != "ALL"]
    for metric, change in (("crows_pairs-modified.metric_score", -5.64), ("crows_pairs.metric_score", -5.64)):
        rows = methods[methods["metric"] == metric]
        assert set(rows["method"]) == {"inlp", "sentence_debias", "self_debias"}
        assert rows["change_babylm"].tolist() == pytest.approx([change] * 3)
    # Pearson r counts CrowS-Pairs once (the study's own scoring): 3 methods x (crows, ss, lms)
    assert table[table["method"] == "ALL"]["metric"].item() == "pearson_r over 9 points"
    markdown = (tmp_path / "runs" / "debias_transfer_tiny" / "study" / "results.md").read_text()
    assert "CrowS-Pairs scoring: crows_pairs-modified = modified (bias-bench" in markdown
    assert "crows_pairs = shared (Nangia et al. 2020" in markdown


def test_a_study_that_scores_crows_pairs_must_state_how(tmp_path):
    from babybias.studies.premodel import StudyContext, evaluate_overrides

    ctx = StudyContext("s", str(tmp_path), [0])
    assert evaluate_overrides(ctx, ["eval=[stereoset]"]) == [["eval=[stereoset]"]]
    with pytest.raises(ConfigError, match="does not state which scoring"):
        evaluate_overrides(ctx, ["impl=cpu"])  # evaluate's default list includes CrowS-Pairs
    ctx.crows_scorings = ["shared"]
    assert evaluate_overrides(ctx, ["crows_pairs.scoring=modified"]) == [["crows_pairs.scoring=shared"]]
    with pytest.raises(ConfigError, match="crows_pairs_scoring"):
        compose_command("study", ["experiment=bias_dynamics", "crows_pairs_scoring=[shared,shared]"])
    for experiment in ("bias_dynamics", "imbalance_sweep", "detox"):
        assert compose_command("study", [f"experiment={experiment}"]).crows_pairs_scoring == ["shared"]


def test_study_checks_its_data_before_the_first_run(tmp_path, recorder):
    from babybias.commands.study import required_datasets, run
    from babybias.errors import DataError

    cfg = compose_command("study", ["experiment=detox", "size=tiny", f"paths.runs={tmp_path / 'runs'}",
                                    f"data.root={tmp_path / 'data'}", "report=false"])
    assert required_datasets(cfg) == ["bias_attribute_words", "crows_pairs", "debiaswe_word_lists", "nltk_brown",
                                      "nltk_inaugural", "nltk_movie_reviews", "nltk_state_union", "stereoset",
                                      "winobias"]
    with pytest.raises(DataError, match=r"missing .*crows_pairs.*babybias data prepare datasets=\[bias_attribute_words,"):
        run(cfg)
    assert recorder.calls == []  # nothing trained before the error
    paper = compose_command("study", ["experiment=bias_dynamics", "size=paper"])
    assert {"crows_pairs", "stereoset", "seat", "blimp", "babylm_100m"} <= set(required_datasets(paper))
    fairsisa = compose_command("study", ["experiment=fairsisa", "size=tiny"])
    assert "identity_toxicity_templates" in required_datasets(fairsisa)


@pytest.mark.parametrize("experiment", [*PRESETS, "imbalance_sweep", "detox"])
def test_paper_presets_run_three_seeds_and_seeds_overrides_them(experiment):
    from babybias.studies.premodel import context_of

    assert context_of(compose_command("study", [f"experiment={experiment}", "size=paper"]))[0].seeds == [0, 1, 2]
    assert context_of(compose_command("study", [f"experiment={experiment}", "size=tiny"]))[0].seeds == [0]
    chosen = compose_command("study", [f"experiment={experiment}", "size=paper", "seeds=[4,5]"])
    assert context_of(chosen)[0].seeds == [4, 5]


def test_study_reports_mean_sd_and_ci_across_seeds(tmp_path, recorder):
    from babybias.studies import debias_transfer

    cfg = compose_command("study", ["experiment=debias_transfer", f"paths.runs={tmp_path / 'runs'}",
                                    f"data.root={tmp_path / 'data'}", "report=false", "seeds=[0,1,2]"])
    out = debias_transfer.run(cfg)
    assert sorted(out["table"]["seed"].unique()) == [0, 1, 2]
    summary = pd.read_csv(out["summary"])
    row = summary[(summary["method"] == "inlp") & (summary["metric"] == "stereoset.ss")
                  & (summary["column"] == "change_babylm")].iloc[0]
    values = out["table"][(out["table"]["method"] == "inlp") & (out["table"]["metric"] == "stereoset.ss")]["change_babylm"]
    assert row["n_seeds"] == 3 and row["mean"] == pytest.approx(values.mean())
    assert row["sd"] == pytest.approx(values.std(ddof=1))  # the recorder gives every seed the same change: sd 0
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((values.mean(), values.mean()))
    assert "## Across seeds (3 seeds" in Path(out["markdown"]).read_text()


def test_seed_summary_is_the_t_interval_per_arm():
    from scipy import stats

    from babybias.studies.summary import seed_summary

    table = pd.DataFrame({"arm": ["x"] * 3 + ["y"] * 3, "seed": [0, 1, 2] * 2, "n": 7,
                          "score": [50.0, 52.0, 57.0, 40.0, 41.0, float("nan")], "run": "r"})
    summary = seed_summary(table).set_index(["arm", "column"])
    assert list(seed_summary(table).columns) == ["arm", "n", "column", "n_seeds", "mean", "sd", "ci_low", "ci_high"]
    x = summary.loc[("x", "score")]
    low, high = stats.t.interval(0.95, 2, loc=53.0, scale=np.std([50, 52, 57], ddof=1) / np.sqrt(3))
    assert x["n_seeds"] == 3 and x["mean"] == pytest.approx(53.0)
    assert (x["ci_low"], x["ci_high"]) == pytest.approx((low, high))
    y = summary.loc[("y", "score")]  # a failed seed (NaN) is left out and counted out
    assert y["n_seeds"] == 2 and y["mean"] == pytest.approx(40.5)
