"""`babybias pretrain -m ... hydra/launcher=slurm` for real: a tiny 2-run sweep, a preempted run that is
requeued and ends bit-identical to an uninterrupted one (same losses, same weights), and one run trained by two
Slurm tasks (DDP over gloo) that equals a single process bit for bit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from launch_helpers import latest_sweep, wait_for

pytestmark = [pytest.mark.root, pytest.mark.slow]

# A seconds-long pretraining run (2 x 32 model, vocab ~120, seq 32) on a corpus file written by the test.
TINY = """# @package _global_
defaults:
  - override /model: tiny
  - override /impl: cpu
  - override /wandb: "off"
corpus:
  sources: [{corpus}]
tokenizer: {{vocab_size: 120, model_max_length: 64}}
model: {{hidden_size: 32, num_heads: 2, intermediate_size: 64, max_position_embeddings: 64}}
train: {{steps: {steps}, batch_size: 8, seq_len: 32, warmup_steps: 2, checkpoint_steps: [2],
         validation_blocks: 4, lr: 3.0e-3}}
impl: {{num_threads: 1}}
paths: {{runs: {root}/runs, cache: {root}/cache}}
data: {{root: {root}/data}}
"""

WORDS = (["The doctor", "A nurse", "My sister", "His father", "The engineer", "Her brother"],
         ["reads", "writes", "paints", "finds", "buys", "sells"],
         ["a book", "the letter", "an old map", "the red door", "some bread"])


@pytest.fixture(scope="module")
def pretrain_env(shared_data, tmp_path_factory):
    """A work dir with the data sets the corpus builder needs, a small corpus file and a config folder."""
    import random

    root = tmp_path_factory.mktemp("slurm_pretrain")
    rng = random.Random(0)
    corpus = root / "corpus.txt"
    corpus.write_text("\n".join(" ".join(rng.choice(w) for w in WORDS) + " today." for _ in range(800)) + "\n")
    env = {**os.environ, "BABYBIAS_DATA_MIRROR": str(shared_data), "WANDB_MODE": "disabled"}
    subprocess.run([sys.executable, "-m", "babybias.cli", "data", "prepare",
                    "datasets=[bias_attribute_words,debiaswe_word_lists,winobias,nltk_names]",
                    f"data.root={root}/data"], cwd=root, env=env, check=True, capture_output=True)
    (root / "conf" / "experiment").mkdir(parents=True)
    for name, steps in (("slurm_tiny", 6), ("slurm_long", 150)):
        (root / "conf" / "experiment" / f"{name}.yaml").write_text(TINY.format(corpus=corpus, root=root, steps=steps))
    return root, env


def pretrain_sweep(root: Path, env: dict, *overrides: str) -> subprocess.CompletedProcess:
    out = subprocess.run([sys.executable, "-m", "babybias.cli", "pretrain", "-m", *overrides,
                          f"hydra.searchpath=[file://{root}/conf]"],
                         cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    return out


def losses(run_dir: Path) -> list[float]:
    records = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines() if x.strip()]
    return [r["loss"] for r in records if "loss" in r and "event" not in r]


def test_pretrain_sweep_on_slurm(slurm_cluster, pretrain_env):
    root, env = pretrain_env
    t = time.time()
    pretrain_sweep(root, env, "experiment=slurm_tiny", "name=sweep", "seed=0,1", "hydra/launcher=slurm")
    print(f"2-run tiny pretrain sweep on Slurm: {time.time() - t:.1f} s")
    dirs = [root / "runs" / "sweep" / f"experiment=slurm_tiny,seed={s}" / "pretrain" for s in (0, 1)]
    for d in dirs:
        assert (d / "DONE").exists(), d
        assert json.loads((d / "DONE").read_text())["steps"] == 6
    assert losses(dirs[0]) != losses(dirs[1])  # two seeds, two runs

    time.sleep(1.1)  # sweep dirs are named by the second
    pretrain_sweep(root, env, "experiment=slurm_tiny", "name=sweep", "seed=0,1", "hydra/launcher=slurm")
    rerun = json.loads((latest_sweep(root) / "jobs.json").read_text())["jobs"]
    assert [e.get("skipped") for e in rerun] == ["DONE", "DONE"] and not any(e["job_id"] for e in rerun)


def test_preempted_pretrain_is_requeued_and_matches_an_uninterrupted_run(slurm_cluster, pretrain_env):
    import torch
    from safetensors.torch import load_file

    root, env = pretrain_env
    pretrain_sweep(root, env, "experiment=slurm_long", "seed=5", "name=straight,preempted",
                   "hydra/launcher=slurm", "launch.wait=false")  # the CLI alias
    sweep = latest_sweep(root)
    jobs = {e["overrides"][-1]: e for e in json.loads((sweep / "jobs.json").read_text())["jobs"]}
    target = jobs["name=preempted"]
    run_dir = Path(target["run_dir"])
    wait_for(lambda: (run_dir / "metrics.jsonl").exists() and len(losses(run_dir)) >= 20, 120, "training to start")
    subprocess.run(["scancel", "--signal=USR1", target["job_id"]], check=True)
    for entry in jobs.values():
        wait_for(lambda entry=entry: (Path(entry["run_dir"]) / "DONE").exists(), 240, f"{entry['run_dir']} DONE")

    log = (Path(target["stdout"])).read_text()
    assert "stopped by signal" in log and "resuming from" in log, log[-2000:]
    straight = Path(jobs["name=straight"]["run_dir"])
    assert len(losses(run_dir)) == len(losses(straight)) == 150  # no step lost or repeated
    assert losses(run_dir) == losses(straight)  # exactly equal floats
    a, b = load_file(straight / "model" / "model.safetensors"), load_file(run_dir / "model" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_two_tasks_per_node_train_one_run_equal_to_a_single_process(slurm_cluster, pretrain_env):
    """`hydra.launcher.tasks_per_node=2`: two Slurm tasks, one DDP run (gloo on CPU), one run directory.

    With dropout 0 it equals, bit for bit, one process that accumulates gradients over the same two halves of
    each batch (`impl.micro_batch_size` = the per-rank batch): DDP's mean of 2 x (half-batch gradient / n) is the
    same float as the sum of the two half-batch gradients / n. (Without that split a single process sums in
    another order: equal to ~1e-7, as tests/train/test_ddp.py checks for torchrun.)"""
    import torch
    from safetensors.torch import load_file

    root, env = pretrain_env
    common = ["experiment=slurm_tiny", "seed=4", "model.hidden_dropout=0.0", "model.attention_dropout=0.0"]
    # threads from Slurm here (impl.num_threads=null): one per task, from SLURM_CPUS_PER_TASK=1
    pretrain_sweep(root, env, *common, "name=ddp2", "impl.num_threads=null", "hydra/launcher=slurm",
                   "hydra.launcher.tasks_per_node=2")
    entry = json.loads((latest_sweep(root) / "jobs.json").read_text())["jobs"][0]
    ddp = Path(entry["run_dir"])
    assert (ddp / "DONE").exists() and sorted(p.name for p in (root / "runs" / "ddp2").rglob("pretrain")) == ["pretrain"]
    assert not any(p.name.startswith("rank") for p in ddp.iterdir())
    meta = json.loads((ddp / "meta.json").read_text())
    assert meta["world_size"] == 2 and meta["threads"] == 1 and "SLURM_CPUS_PER_TASK=1" in meta["threads_reason"]
    for task in (0, 1):  # both tasks ran and ended well; only rank 0 wrote and printed
        log = Path(entry["stdout"].replace("_0_log.out", f"_{task}_log.out")).read_text()  # submitit: one per task
        assert "Job completed successfully" in log and ("run dir:" in log) is (task == 0)

    single = subprocess.run([sys.executable, "-m", "babybias.cli", "pretrain", *common, "name=single",
                             "impl.micro_batch_size=4", f"hydra.searchpath=[file://{root}/conf]"],
                            cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert single.returncode == 0, single.stdout + single.stderr
    one = root / "runs" / "single" / "pretrain"
    assert len(losses(ddp)) == 6 and losses(ddp) == losses(one)  # exactly equal floats
    a, b = load_file(ddp / "model" / "model.safetensors"), load_file(one / "model" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
