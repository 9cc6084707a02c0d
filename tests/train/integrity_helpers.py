"""A tiny pretrain in a child process, for the lock and kill -9 tests (a uniquely named module, see train_helpers).

    python integrity_helpers.py <tmp dir> <run name> <steps> <mode>

mode: `hold` (prints "training" after step 1 and sleeps there, holding the run's lock), `kill-in-model` (SIGKILL
while model/ is being written), `kill-after-last-checkpoint` (SIGKILL after the last checkpoint, before model/).
The corpus is the one of the `tiny_corpus` fixture (same sentences, same key), so results compare bit for bit
with runs made in the test process.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def child_command(tmp: Path, name: str, steps: int, mode: str) -> list[str]:
    return [sys.executable, str(HERE / "integrity_helpers.py"), str(tmp), name, str(steps), mode]


def _kill_self() -> None:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    tmp, name, steps, mode = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
    sys.path[:0] = [str(HERE), str(HERE.parent)]  # train_helpers, and the run_helpers it imports
    os.environ["WANDB_MODE"] = "disabled"
    import torch
    from train_helpers import FakeCorpus, tiny_overrides, write_sentences

    import babybias.commands.pretrain as pretrain
    from babybias.launch.compose import compose_command
    from babybias.train import checkpoint
    from babybias.train.loop import Pretrainer

    torch.set_num_threads(1)
    root = tmp / "child_corpus"
    root.mkdir(parents=True, exist_ok=True)
    corpus = FakeCorpus(root, "fakecorpus01", write_sentences(root / "train.txt", 600, seed=1),
                        write_sentences(root / "validation.txt", 80, seed=2), {"sentences": 600})
    pretrain.build_corpus_artifact = lambda cfg: corpus
    hook = None
    if mode == "hold":
        def hold_after_step_1(step: int) -> None:
            if step == 1:
                print("training", flush=True)
                time.sleep(120)

        hook = hold_after_step_1
    elif mode == "kill-in-model":
        save = checkpoint.save_hf_folder

        def save_then_die(folder, model, tokenizer_dir):
            save(folder, model, tokenizer_dir)
            if Path(folder).parent.name.startswith(".model.tmp-"):  # model/ written into its temporary folder
                _kill_self()

        checkpoint.save_hf_folder = save_then_die
    elif mode == "kill-after-last-checkpoint":
        Pretrainer.save_final_model = lambda self: _kill_self()
    else:
        raise SystemExit(f"unknown mode {mode}")
    pretrain.run(compose_command("pretrain", tiny_overrides(tmp, name=name, steps=steps)), on_step_end=hook)


if __name__ == "__main__":
    main()
