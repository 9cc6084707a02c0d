"""Checkpoints: self-contained HF folders plus the state needed to resume exactly.

`checkpoints/step-0000100/` holds
- `config.json`, `model.safetensors`: `AutoModelForMaskedLM.from_pretrained(folder)` works;
- the tokenizer files: `AutoTokenizer.from_pretrained(folder)` works;
- `training_state.pt`: optimizer, scheduler, grad scaler, RNG states (python, numpy, torch per rank, CUDA), all
  as tensors, numbers, strings, lists and dicts, so it loads with `torch.load(..., weights_only=True)`: a
  planted pickle in a copied or shared run directory cannot run code;
- `state.json`: `step`, `tokens_seen`, `total_steps`, `fraction` (of training done), `loss`, the input keys;
- `checksums.json` (written last): sha256 and size of every other file, verified before a checkpoint is used.
Each folder is written under a temporary name and renamed into place, so a folder that exists is complete;
the checksums catch what happens to it afterwards (a garbled or truncated file).
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from babybias.errors import BabybiasError, IntegrityError
from babybias.integrity import read_json, verify_folder, write_folder_sums
from babybias.runs import atomic_path
from babybias.tokenizer import copy_tokenizer_files

STATE_FILE = "state.json"
TRAINING_STATE_FILE = "training_state.pt"
_STEP_DIR = re.compile(r"^step-(\d+)$")


def checkpoint_name(step: int) -> str:
    return f"step-{step:07d}"


def list_checkpoints(folder: str | Path) -> list[tuple[int, Path]]:
    """(step, path) of the complete checkpoints under `folder`, by step (not verified: see `verify_checkpoint`)."""
    folder = Path(folder)
    found = []
    if folder.is_dir():
        for p in folder.iterdir():
            m = _STEP_DIR.match(p.name)
            if m and (p / STATE_FILE).exists() and (p / TRAINING_STATE_FILE).exists():
                found.append((int(m.group(1)), p))
    return sorted(found)


def latest_checkpoint(folder: str | Path) -> Path | None:
    found = list_checkpoints(folder)
    return found[-1][1] if found else None


def verify_checkpoint(path: str | Path) -> bool:
    """Check every file of a checkpoint (or model/) folder against its checksums.json; IntegrityError names the
    bad file. False for a folder written before checksums existed (nothing to check against)."""
    return verify_folder(path, "checkpoint")


def latest_valid_checkpoint(folder: str | Path, say: Callable[[str], None] = print) -> Path | None:
    """The newest checkpoint under `folder` whose files match their checksums; each newer corrupt one is
    reported through `say` and skipped. IntegrityError when there are checkpoints but none is valid."""
    found = list_checkpoints(folder)
    problems = []
    for _, path in reversed(found):
        try:
            verify_checkpoint(path)
            read_state(path)
        except IntegrityError as err:
            problems.append(err.message)
            say(f"warning: {err.message}; falling back to the previous checkpoint")
            continue
        return path
    if problems:
        raise IntegrityError(f"every checkpoint under {folder} is corrupt ({problems[-1]})",
                             fix="resume=false starts the run over (or restore the checkpoints from a copy)")
    return None


# ------------------------------------------------------------------ RNG state as plain data
def rng_state() -> dict[str, Any]:
    """This process's RNG states as tensors, numbers and strings (loadable with weights_only=True)."""
    version, internal, gauss_next = random.getstate()
    name, keys, pos, has_gauss, cached_gaussian = np.random.get_state()
    state = {
        "python": {"version": int(version), "state": torch.tensor(internal, dtype=torch.int64),
                   "gauss_next": gauss_next},
        "numpy": {"name": str(name), "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached_gaussian)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what `rng_state` returned (or the tuples that checkpoints of older versions hold)."""
    py, npy = state["python"], state["numpy"]
    if isinstance(py, dict):
        py = (py["version"], tuple(int(x) for x in py["state"].tolist()), py["gauss_next"])
    if isinstance(npy, dict):
        npy = (npy["name"], npy["keys"].numpy().astype(np.uint32), npy["pos"], npy["has_gauss"], npy["cached_gaussian"])
    random.setstate(py)
    np.random.set_state(npy)
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_hf_folder(folder: Path, model, tokenizer_dir: str | Path) -> None:
    """Model (config.json + model.safetensors) and tokenizer files into `folder`."""
    model.save_pretrained(str(folder))
    copy_tokenizer_files(tokenizer_dir, folder)
    # the tokenizer must not promise more positions than the model has
    config_file = folder / "tokenizer_config.json"
    if config_file.exists():
        tok_config = json.loads(config_file.read_text())
        limit = model.config.max_position_embeddings
        if tok_config.get("model_max_length", limit) > limit:
            tok_config["model_max_length"] = limit
            config_file.write_text(json.dumps(tok_config, indent=2, sort_keys=True) + "\n")


def save_checkpoint(path: str | Path, model, tokenizer_dir: str | Path, training_state: dict, state: dict) -> Path:
    """Write one checkpoint folder atomically (see the module docstring for its contents)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.mkdir(parents=True)
        save_hf_folder(tmp, model, tokenizer_dir)
        torch.save(training_state, tmp / TRAINING_STATE_FILE)
        (tmp / STATE_FILE).write_text(json.dumps(state, indent=2, sort_keys=True) + "\n")
        write_folder_sums(tmp)
    return path


def read_state(path: str | Path) -> dict:
    file = Path(path) / STATE_FILE
    if not file.exists():
        raise BabybiasError(f"{path} is not a babybias checkpoint (no {STATE_FILE})",
                            fix="pass a folder under <run>/checkpoints/ written by `babybias pretrain`")
    state = read_json(file, what=f"checkpoint {path}")
    if not isinstance(state, dict) or not isinstance(state.get("step"), int):
        raise IntegrityError(f"checkpoint {path} is corrupt: {STATE_FILE} has no step")
    return state


def _numpy_array_globals() -> list:
    """What the RNG state of checkpoints written before version 2 needs: numpy's array reconstruction only
    (numpy's own pickles name it numpy.core in 1.x and numpy._core in 2.x)."""
    reconstruct = np.zeros(1).__reduce__()[0]
    return [reconstruct, (reconstruct, "numpy.core.multiarray._reconstruct"), np.ndarray, np.dtype,
            type(np.dtype(np.uint32))]


def load_training_state(path: str | Path) -> dict:
    """Optimizer, scheduler, scaler and RNG states, loaded with `weights_only=True` (no code runs, whatever the
    file holds); a file that is not such a state raises IntegrityError naming it."""
    file = Path(path) / TRAINING_STATE_FILE
    try:
        with torch.serialization.safe_globals(_numpy_array_globals()):
            state = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as err:  # UnpicklingError, a truncated zip (PytorchStreamReader), EOFError, ...
        reason = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
        raise IntegrityError(f"checkpoint {path} is corrupt or not a babybias training state: {TRAINING_STATE_FILE} "
                             f"does not load as plain tensors ({reason})") from None
    if not isinstance(state, dict) or not {"optimizer", "scheduler", "scaler", "rng_per_rank"} <= set(state):
        raise IntegrityError(f"checkpoint {path} is corrupt: {TRAINING_STATE_FILE} lacks the optimizer/RNG state")
    return state


def load_weights_into(model, folder: str | Path) -> None:
    """Copy the weights saved in an HF folder into `model` (exactly; tied weights included)."""
    from safetensors.torch import load_file

    folder = Path(folder)
    file = folder / "model.safetensors"
    if not file.exists():
        raise BabybiasError(f"{folder} has no model.safetensors", fix="pass a checkpoint folder written by `babybias pretrain`")
    try:
        saved = load_file(str(file))
    except Exception as err:  # safetensors' SafetensorError on a truncated or garbled file
        raise IntegrityError(f"{folder}/model.safetensors is corrupt ({str(err)[:200]})",
                             fix="resume from another checkpoint, or resume=false to start over") from None
    missing, unexpected = model.load_state_dict(saved, strict=False)
    # a tied parameter (the decoder weight is the word embedding matrix) is stored once, under one of its names
    missing = [k for k in missing if not _tied_to_a_loaded_name(model, k, set(missing))]
    if missing or unexpected:
        raise BabybiasError(f"{folder} does not fit the model (missing {missing[:3]}, unexpected {unexpected[:3]})",
                            fix="use the model config it was trained with")
    model.tie_weights()


def _tied_to_a_loaded_name(model, name: str, missing: set[str]) -> bool:
    """Whether parameter `name` is the same tensor as a parameter that was loaded under another name."""
    params = dict(model.named_parameters(remove_duplicate=False))
    target = params.get(name)
    return target is not None and any(p is target and other not in missing for other, p in params.items())
