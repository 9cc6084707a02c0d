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
        if size == "paper":  # the seed paper's runs: experiment=paper_ltgbert, LTG-BERT vs BERT-base on BabyLM 100M
            assert [a.model.architecture for a in arms] == ["ltg_bert", "bert"]
            assert [a.model.hidden_size for a in arms] == [768, 768]
            assert all(a.train.epochs == 20 and a.corpus.sources == ["babylm_100m"] for a in arms)
            assert arms[0].train == arms[1].train and arms[0].impl.precision == "auto"  # bf16 where the GPU has it
        compose_command("evaluate", preset["evaluate"])


@pytest.mark.parametrize("experiment", ["detox", "imbalance_sweep", "fairsisa"])
def test_paper_premodel_and_fairsisa_presets_train_the_seed_papers_babylm(experiment):
    preset = compose_command("study", [f"experiment={experiment}", "size=paper"]).preset
    arm = compose_command("pretrain", preset["encoder" if experiment == "fairsisa" else "pretrain"])
    assert arm.model.architecture == "ltg_bert" and arm.model.hidden_size == 768
    assert arm.corpus.sources == ["babylm_100m"] and arm.train.epochs == 20 and arm.impl.precision == "auto"


def test_paper_debias_transfer_continues_for_bias_benchs_2000_steps_not_the_recipes_20_epochs():
    preset = compose_command("study", ["experiment=debias_transfer", "size=paper"]).preset
    for method in ("cda", "dropout"):
        arm = compose_command("pretrain", [*preset["pretrain"], f"debias={method}", "init_from=x", "name=a"])
        assert (arm.train.steps, arm.train.epochs, arm.model.architecture) == (2000, None, "ltg_bert")


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
        self.correlates = True  # False: compare skips its dynamics part (writes no correlations.csv)

    def __call__(self, command, overrides=()):
        args = dict(o.split("=", 1) for o in overrides if "=" in o)
        self.calls.append((command, list(overrides)))
        if command == "compare" and self.correlates:
            out = Path(args["out"])
            out.mkdir(parents=True, exist_ok=True)
            pd.DataFrame([{"benchmark": "stereoset", "category": "overall", "metric": "ss", "n_points": 4,
                           "pearson_r": 0.5}, {"benchmark": "stereoset", "category": "overall",
                                               "metric": "n_examples", "n_points": 4, "pearson_r": None}]
                         ).to_csv(out / "correlations.csv", index=False)
        if command == "unlearn":  # skips a DONE run as `babybias unlearn` does (which first checks its settings)
            run = self.runs / args["name"] / "unlearn"
            if (run / "DONE").exists():
                return None
            run.mkdir(parents=True)
            pd.DataFrame([{"round": 0, "eval_set": "test", "method": "sisa", "accuracy": 0.8, "eo_diff": 0.1}]
                         ).to_csv(run / "fairness.csv", index=False)
            (run / "DONE").write_text("{}")
        if command == "pretrain":  # a final model for `select_checkpoints` to find (no weights needed)
            from babybias.runs import RunDir

            model = self.runs / args["name"] / "pretrain" / "model"
            model.mkdir(parents=True, exist_ok=True)
            (model / "config.json").write_text("{}")
            if not (model.parent / "config.yaml").exists():  # the resolved config, as `babybias pretrain` writes it
                RunDir(model.parent).write_config(compose_command("pretrain", overrides))
        if command == "evaluate":
            for benchmark in args.get("eval", "[stereoset]").strip("[]").split(","):
                self._write_result(benchmark, args)
            if args.get("checkpoints") == "all":  # as `evaluate` does: the dynamics table of this call's variants
                from babybias.analysis.dynamics import dynamics_table, select_checkpoints, write_table
                from babybias.results import variant

                cfg = compose_command("evaluate", overrides)
                every = select_checkpoints(args["run"], "all", self.runs)
                write_table(dynamics_table(every, [variant(b, cfg).stem for b in cfg.eval]), every[0].eval_dir.parent)
        return None

    @staticmethod
    def _write_result(benchmark: str, args: dict) -> None:
        """A result file as `evaluate` names and fills it (options, base_variant, summary, per_category).

        StereoSet SS per domain: gender 60, race 62, religion 64 (LMS 80); CrowS-Pairs metric score 60 (shared)
        or 70 (modified) in every category. A model debiased for bias type t (size 64 babylm, 96 bert_base) has
        SS of domain t lowered by 5 - size/100, the metric score of t's category by 5 + size/100, the other
        categories unchanged."""
        from babybias.commands.evaluate import variant
        from babybias.configs.debias import DebiasConfig
        from babybias.configs.evaluate import CrowsPairsEvalConfig, EvaluateConfig, ScoringConfig
        from babybias.studies.debias_transfer import CROWS_CATEGORY

        run = Path(args["run"])
        folder = run.parent / "eval" / "final"
        folder.mkdir(parents=True, exist_ok=True)
        size = 64 if "babylm" in str(run) else 96
        debias = DebiasConfig(method=args.get("debias", "none"), bias_type=args.get("debias.bias_type", "gender"))
        cfg = EvaluateConfig(debias=debias, crows_pairs=CrowsPairsEvalConfig(args.get("crows_pairs.scoring", "shared")),
                             scoring=ScoringConfig(args.get("scoring.precision", "fp32")))
        debiased = debias.method != "none"
        if benchmark == "stereoset":
            base = {"gender": 60.0, "race": 62.0, "religion": 64.0, "profession": 58.0}
            per_category = {d: {"ss": ss - (5 - size / 100 if debiased and d == cfg.debias.bias_type else 0),
                                "lms": 80.0} for d, ss in base.items()}
            summary = {"ss": 61.0, "lms": 80.0}
        else:
            score = 60.0 if cfg.crows_pairs.scoring == "shared" else 70.0
            per_category = {c: {"metric_score": score - (5 + size / 100 if debiased and c ==
                                                          CROWS_CATEGORY.get(cfg.debias.bias_type) else 0)}
                            for c in ("gender", "race-color", "religion", "age")}
            summary = {"metric_score": score}
        var = variant(benchmark, cfg)
        (folder / f"{var.stem}.json").write_text(json.dumps({
            "options": var.options, "base_variant": var.base_stem, "summary": summary, "per_category": per_category}))


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


def test_bias_dynamics_never_tabulates_an_earlier_studys_correlations(tmp_path, recorder):
    """compare skips (with a printed note) a dynamics part it cannot do: the study read the correlations.csv an
    earlier run of the study had left in the same folder."""
    from babybias.errors import BabybiasError
    from babybias.studies import bias_dynamics

    bias_dynamics.run(_study(tmp_path, "bias_dynamics"))
    recorder.correlates = False
    with pytest.raises(BabybiasError, match="could not correlate"):
        bias_dynamics.run(_study(tmp_path, "bias_dynamics"))


def test_bias_dynamics_correlates_every_variant_with_two_crows_scorings(tmp_path, recorder):
    """With crows_pairs_scoring=[shared,modified] the second evaluate call (CrowS-Pairs alone, modified) rewrote
    eval/dynamics.csv with its own variant only: compare, and the study table, lost StereoSet and the study's own
    scoring."""
    from babybias.studies import bias_dynamics

    cfg = _study(tmp_path, "bias_dynamics")
    cfg.crows_pairs_scoring = ["shared", "modified"]
    cfg.presets["tiny"]["evaluate"] = ["impl=cpu", "eval=[crows_pairs,stereoset]"]
    bias_dynamics.run(cfg)
    for model in ("babylm", "bert_base"):
        table = pd.read_csv(tmp_path / "runs" / "bias_dynamics_tiny" / model / "seed0" / "eval" / "dynamics.csv")
        assert set(table["benchmark"]) == {"crows_pairs", "crows_pairs-modified", "stereoset"}


def test_fairsisa_runs_one_unlearn_per_shard_count_and_skips_done(tmp_path, recorder):
    from babybias.studies import fairsisa

    fairsisa.run(_study(tmp_path, "fairsisa"))
    unlearns = [dict(o.split("=", 1) for o in o_) for c, o_ in recorder.calls if c == "unlearn"]
    assert [u["shards"] for u in unlearns] == ["1", "3", "5", "10"]
    assert {u["encoder"] for u in unlearns} == {str(tmp_path / "runs" / "fairsisa_tiny" / "encoder" / "seed0" / "pretrain")}
    table = pd.read_csv(tmp_path / "runs" / "fairsisa_tiny" / "study" / "results.csv")
    assert table["shards"].tolist() == [1, 3, 5, 10]
    recorder.calls.clear()
    fairsisa.run(_study(tmp_path, "fairsisa"))  # every arm is DONE: `babybias unlearn` checks each and skips it
    assert [c for c, _ in recorder.calls] == ["pretrain"] + ["unlearn"] * 4


def test_fairsisa_rerun_with_another_seed_never_reuses_the_first_seeds_arms(tmp_path, recorder):
    """With one seed the arm folders carry no seed (runs/<name>/shards<k>/unlearn). The study skipped a DONE arm
    itself, so `seed=1` after a seed-0 study tabulated seed 0's unlearning runs as seed 1's (on seed 1's encoder);
    every arm now goes through `babybias unlearn`, which refuses a run of another seed or encoder."""
    from babybias.studies import fairsisa

    fairsisa.run(_study(tmp_path, "fairsisa"))
    recorder.calls.clear()
    cfg = _study(tmp_path, "fairsisa")
    cfg.seed = 1
    fairsisa.run(cfg)
    unlearns = [dict(o.split("=", 1) for o in o_) for c, o_ in recorder.calls if c == "unlearn"]
    assert [(u["shards"], u["seed"]) for u in unlearns] == [(k, "1") for k in ("1", "3", "5", "10")]
    assert {u["encoder"] for u in unlearns} == {str(tmp_path / "runs" / "fairsisa_tiny" / "encoder" / "seed1" / "pretrain")}


@pytest.mark.parametrize("experiment", ["bias_dynamics", "imbalance_sweep", "debias_transfer"])
def test_a_rerun_study_refuses_an_arm_trained_with_other_settings(tmp_path, recorder, experiment):
    """`babybias pretrain` skips a DONE run (or resumes an unfinished one) with a warning when its settings
    changed: a study rerun after a preset change put the old models' numbers into the new table. Refused now."""
    from babybias.commands.study import _run
    from babybias.errors import BabybiasError
    from babybias.studies import bias_dynamics, debias_transfer, imbalance_sweep

    module = {"bias_dynamics": bias_dynamics, "imbalance_sweep": imbalance_sweep,
              "debias_transfer": debias_transfer}[experiment]
    cfg = _study(tmp_path, experiment)
    if experiment == "imbalance_sweep":
        cfg.presets["tiny"]["female_ratios"] = [0.3]
    if experiment == "debias_transfer":
        cfg.presets["tiny"].update(post_model=[], intra_model=["cds"], bias_types=["gender"])
    _run(cfg, module)
    before = (tmp_path / "runs" / cfg.name / "study" / "results.csv").read_text()
    recorder.calls.clear()
    # debias_transfer: the fine-tuned arm's recipe changed (which its plain baseline never reads, so the baseline
    # is reused); else the arms' training
    changed = "debias.lr=3e-5" if experiment == "debias_transfer" else "train.steps=41"
    cfg.presets["tiny"]["pretrain"] = [*cfg.presets["tiny"]["pretrain"], changed]
    with pytest.raises(BabybiasError, match=f"{'cds/' if experiment == 'debias_transfer' else ''}seed0/pretrain was "
                                            f"trained with other settings .*{changed.split('=')[0]}"):
        _run(cfg, module)
    assert [c for c, _ in recorder.calls] == (["pretrain", "evaluate"] if experiment == "debias_transfer"
                                              else [])  # refused before the arm is trained or evaluated again
    assert (tmp_path / "runs" / cfg.name / "study" / "results.csv").read_text() == before


def test_debias_transfer_correlates_the_two_models_bias_changes(tmp_path, recorder):
    from babybias.studies import debias_transfer

    cfg = _study(tmp_path, "debias_transfer")
    cfg.presets["tiny"]["intra_model"] = []  # post-model only here (the intra-model arms: the tests below)
    table = debias_transfer.run(cfg)["table"]
    rows = table[(table["method"] != "ALL") & (table["metric"] == "stereoset.ss")]
    assert set(rows["method"]) == {"inlp", "sentence_debias", "self_debias"}
    assert rows.groupby("bias_type").size().to_dict() == {"gender": 3, "race": 3, "religion": 3}
    # each row reads the domain of its own bias type from the model debiased for that type: -5 + size/100
    assert rows["change_babylm"].tolist() == pytest.approx([-4.36] * 9)
    assert rows["change_bert_base"].tolist() == pytest.approx([-4.04] * 9)
    # lms is unchanged (0, 0) and ss moves together: the changes of the two models are perfectly correlated
    assert table[table["method"] == "ALL"]["change_babylm"].item() == pytest.approx(1.0)
    debiased = [dict(o.split("=", 1) for o in args) for c, args in recorder.calls if c == "evaluate"
                and any(a.startswith("debias=") for a in args)]
    assert sorted((e["debias"], e["debias.bias_type"]) for e in debiased if "babylm" in e["run"]) == sorted(
        (m, t) for m in ("inlp", "sentence_debias", "self_debias") for t in ("gender", "race", "religion"))


def test_debias_transfer_runs_intra_model_methods_per_bias_type(tmp_path, recorder):
    """CDA is continued per bias type (its own run), dropout once for all of them (it has no bias type)."""
    from babybias.studies import debias_transfer

    cfg = _study(tmp_path, "debias_transfer")
    cfg.presets["tiny"]["post_model"], cfg.presets["tiny"]["intra_model"] = [], ["cda", "dropout"]
    table = debias_transfer.run(cfg)["table"]
    pretrains = [dict(o.split("=", 1) for o in args) for c, args in recorder.calls if c == "pretrain"]
    names = [p["name"] for p in pretrains if "babylm" in p["name"]]
    assert names[0] == "debias_transfer_tiny/babylm/seed0"  # the baseline
    assert set(names[1:]) == {f"debias_transfer_tiny/babylm/{t}/seed0" for t in
                              ("cda", "cda-race", "cda-religion", "dropout")}
    cda_types = {p.get("debias.bias_type") for p in pretrains if p.get("debias") == "cda"}
    assert cda_types == {"gender", "race", "religion"}
    assert not any("debias.bias_type" in p for p in pretrains if p.get("debias") == "dropout")
    assert set(zip(table["bias_type"], table["method"])) >= {(t, m) for t in ("gender", "race", "religion")
                                                            for m in ("cda", "dropout")}
    compose_command("pretrain", ["debias=cda", "debias.bias_type=religion", "init_from=x"])  # the overrides compose


def test_debias_transfer_tiny_runs_the_seed_papers_fine_tuning_arms_once(tmp_path, recorder):
    """The tiny preset's intra-model arms are cds and orthogonal_ewc: each a `pretrain debias=<m>` from the
    baseline, run once (gender methods) and read for every bias type; BEC-Pro is evaluated before and after."""
    from babybias.studies import debias_transfer

    cfg = _study(tmp_path, "debias_transfer")
    assert cfg.preset["intra_model"] == ["cds", "orthogonal_ewc"] and "bec_pro" in " ".join(cfg.preset["evaluate"])
    cfg.presets["tiny"]["post_model"] = []
    table = debias_transfer.run(cfg)["table"]
    pretrains = [dict(o.split("=", 1) for o in args) for c, args in recorder.calls if c == "pretrain"]
    arms = [(p["debias"], p["name"], p["init_from"]) for p in pretrains if "debias" in p and "babylm" in p["name"]]
    assert [(m, n) for m, n, _ in arms] == [(m, f"debias_transfer_tiny/babylm/{m}/seed0")
                                            for m in ("cds", "orthogonal_ewc")] * 3  # one run; DONE for the others
    assert all(i.endswith("debias_transfer_tiny/babylm/seed0/pretrain") for _, _, i in arms)
    assert not any("debias.bias_type" in p for p in pretrains)
    assert set(zip(table["bias_type"], table["method"])) >= {(t, m) for t in ("gender", "race", "religion")
                                                            for m in ("cds", "orthogonal_ewc")}
    compose_command("pretrain", [*cfg.preset["pretrain"], "debias=cds", "init_from=x"])  # the overrides compose


def test_bias_type_metrics_read_each_benchmarks_category(tmp_path):
    from babybias.configs.debias import DebiasConfig
    from babybias.runs import to_jsonable
    from babybias.studies.debias_transfer import bias_type_metrics

    def write(stem, base, debias=None, **payload):
        options = {"debias": to_jsonable(debias)} if debias else {}
        (tmp_path / f"{stem}.json").write_text(json.dumps({"base_variant": base, "options": options, **payload}))

    race_inlp, gender_inlp = DebiasConfig(method="inlp", bias_type="race"), DebiasConfig(method="inlp")
    write("crows_pairs", "crows_pairs", summary={"metric_score": 50.0},
          per_category={"race-color": {"metric_score": 61.0}, "gender": {"metric_score": 55.0}})
    write("crows_pairs-modified", "crows_pairs-modified", summary={},
          per_category={"race-color": {"metric_score": 63.0}})
    write("seat-all", "seat-all", summary={"race_mean_abs_effect_size": 0.4, "gender_mean_abs_effect_size": 0.2})
    write("blimp", "blimp", summary={"accuracy": 71.0})
    write("crows_pairs-inlp-1a2b3c4d", "crows_pairs", race_inlp, summary={},
          per_category={"race-color": {"metric_score": 52.0}})
    write("stereoset", "stereoset", summary={"ss": 60.0})  # no per-domain numbers: nothing for a bias type
    write("crows_pairs-inlp", "crows_pairs", gender_inlp, summary={"metric_score": 49.0}, per_category={})
    (tmp_path / "meta.json").write_text("{}")  # not a result file
    assert bias_type_metrics(tmp_path, None, "race") == {
        "crows_pairs.metric_score": 61.0, "crows_pairs-modified.metric_score": 63.0,
        "seat-all.mean_abs_effect_size": 0.4, "blimp.accuracy": 71.0}
    assert bias_type_metrics(tmp_path, race_inlp, "race") == {"crows_pairs.metric_score": 52.0}
    assert bias_type_metrics(tmp_path, gender_inlp, "race") == {}  # the gender INLP's files only
    assert bias_type_metrics(tmp_path, None, "religion") == {"blimp.accuracy": 71.0}  # no religion rows here
    # result files from before base_variant: named <benchmark>[-<method>], gender only
    (tmp_path / "stereoset-sentence_debias.json").write_text(json.dumps({"summary": {"ss": 55.0}}))
    assert bias_type_metrics(tmp_path, DebiasConfig(method="sentence_debias"), "gender") == {}  # no domains
    (tmp_path / "blimp-sentence_debias.json").write_text(json.dumps({"summary": {"accuracy": 70.0}}))
    assert bias_type_metrics(tmp_path, DebiasConfig(method="sentence_debias"), "gender") == {"blimp.accuracy": 70.0}
    assert bias_type_metrics(tmp_path, DebiasConfig(method="sentence_debias", bias_type="race"), "race") == {}


def test_debias_transfer_reports_both_crows_scorings_and_correlates_its_own(tmp_path, recorder):
    from babybias.studies import debias_transfer

    cfg = _study(tmp_path, "debias_transfer")
    assert cfg.crows_pairs_scoring == ["modified", "shared"]  # stated by the preset: bias-bench's, then Nangia's
    cfg.presets["tiny"]["evaluate"] = ["impl=cpu", "eval=[crows_pairs,stereoset]"]
    cfg.presets["tiny"]["intra_model"] = []
    table = debias_transfer.run(cfg)["table"]
    evaluates = [dict(o.split("=", 1) for o in overrides) for c, overrides in recorder.calls if c == "evaluate"]
    # per model: the baseline and each of the 3 methods x 3 bias types, each evaluated with both scorings
    assert [(e["eval"], e["crows_pairs.scoring"]) for e in evaluates[:2]] == [
        ("[crows_pairs,stereoset]", "modified"), ("[crows_pairs]", "shared")]
    assert len(evaluates) == 2 * (1 + 3 * 3) * 2
    methods = table[table["method"] != "ALL"]
    for metric, change in (("crows_pairs-modified.metric_score", -5.64), ("crows_pairs.metric_score", -5.64)):
        rows = methods[methods["metric"] == metric]  # each bias type's own CrowS-Pairs category
        assert set(rows["method"]) == {"inlp", "sentence_debias", "self_debias"}
        assert rows["change_babylm"].tolist() == pytest.approx([change] * 9)
    # Pearson r counts CrowS-Pairs once (the study's own scoring): 3 bias types x 3 methods x (crows, ss, lms)
    assert table[table["method"] == "ALL"]["metric"].item() == "pearson_r over 27 points"
    markdown = (tmp_path / "runs" / "debias_transfer_tiny" / "study" / "results.md").read_text()
    assert "CrowS-Pairs scoring: crows_pairs-modified = modified (bias-bench" in markdown
    assert "crows_pairs = shared (Nangia et al. 2020" in markdown


def test_debias_transfer_reads_only_the_result_variants_it_evaluates(tmp_path, recorder):
    """Every result file of the eval folder whose debias settings matched entered the table and Pearson r: results
    of another scoring precision or options left there by an earlier evaluation (here bf16 StereoSet, baseline and
    INLP) were counted beside the study's own fp32 ones."""
    from babybias.runs import to_jsonable
    from babybias.studies import debias_transfer

    cfg = _study(tmp_path, "debias_transfer")
    cfg.presets["tiny"].update(evaluate=["impl=cpu", "eval=[stereoset]"], post_model=["inlp"], intra_model=[],
                               bias_types=["gender"])
    inlp = to_jsonable(compose_command("evaluate", ["debias=inlp", "debias.bias_type=gender"]).debias)
    for model, (before, after) in {"babylm": (70.0, 50.0), "bert_base": (70.0, 69.0)}.items():
        folder = tmp_path / "runs" / "debias_transfer_tiny" / model / "seed0" / "eval" / "final"
        folder.mkdir(parents=True)
        for stem, ss, options in (("stereoset-bf16", before, {}), ("stereoset-inlp-bf16", after, {"debias": inlp})):
            (folder / f"{stem}.json").write_text(json.dumps({
                "options": options, "base_variant": "stereoset-bf16", "summary": {"ss": ss},
                "per_category": {"gender": {"ss": ss, "lms": 80.0}}, "scoring": {"precision": "bf16"}}))
    table = debias_transfer.run(cfg)["table"]
    assert set(table["metric"]) == {"stereoset.ss", "stereoset.lms", "pearson_r over 2 points"}
    ss = table[table["metric"] == "stereoset.ss"]
    assert ss["change_babylm"].item() == pytest.approx(-4.36)  # the recorder's fp32 result, not bf16's -20


def test_premodel_studies_read_the_variant_they_evaluate(tmp_path, recorder):
    """The pre-model studies read crows_pairs.json and stereoset.json whatever their evaluate settings: with
    scoring.precision=bf16 in the preset they tabulated the fp32 files an earlier evaluation had left."""
    from babybias.studies import detox

    cfg = _study(tmp_path, "detox")
    cfg.presets["tiny"]["evaluate"] = [*cfg.presets["tiny"]["evaluate"], "scoring.precision=bf16"]
    for arm in ("original", "detox", "random_drop"):
        folder = tmp_path / "runs" / "detox_tiny" / arm / "seed0" / "eval" / "final"
        folder.mkdir(parents=True)
        for stem, key in (("crows_pairs", "metric_score"), ("stereoset", "ss")):
            (folder / f"{stem}.json").write_text(json.dumps({"summary": {}, "per_category": {"gender": {key: 99.0}}}))
    table = detox.run(cfg)["table"]
    assert table["crows_gender"].tolist() == [60.0] * 3 and table["stereoset_gender_ss"].tolist() == [60.0] * 3
    cfg.presets["tiny"]["evaluate"] = ["impl=cpu", "eval=[stereoset]"]
    with pytest.raises(ConfigError, match=r"leave out \['crows_pairs'\]"):
        detox.run(cfg)


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


def test_a_seed_listed_twice_is_refused_not_counted_twice():
    """seeds=[0,0,1] ran seed 0 once but tabulated it twice: n_seeds 3 and a narrower interval than 2 seeds give."""
    from babybias.studies.premodel import context_of

    with pytest.raises(ConfigError, match=r"seeds=\[0, 0, 1\] lists a seed more than once"):
        compose_command("study", ["experiment=detox", "seeds=[0,0,1]"])
    cfg = compose_command("study", ["experiment=detox", "size=paper"])
    cfg.presets["paper"]["seeds"] = [1, 2, 1]
    with pytest.raises(ConfigError, match="presets.paper.seeds"):
        context_of(cfg)


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
