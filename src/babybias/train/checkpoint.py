"""Checkpoints: self-contained HF folders plus the state needed to resume exactly.

`checkpoints/step-0000100/` holds
- `config.json`, `model.safetensors`: `AutoModelForMaskedLM.from_pretrained(folder)` works;
- the tokenizer files: `AutoTokenizer.from_pretrained(folder)` works;
- `training_state.pt`: optimizer, scheduler, grad scaler, RNG states (python, numpy, torch per rank, CUDA);
- `state.json`: `step`, `tokens_seen`, `total_steps`, `fraction` (of training done), the input keys.
Each folder is written under a temporary name and renamed into place, so a folder that exists is complete.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from babybias.errors import BabybiasError
from babybias.runs import atomic_path
from babybias.tokenizer import copy_tokenizer_files

STATE_FILE = "state.json"
TRAINING_STATE_FILE = "training_state.pt"
_STEP_DIR = re.compile(r"^step-(\d+)$")


def checkpoint_name(step: int) -> str:
    return f"step-{step:07d}"


def list_checkpoints(folder: str | Path) -> list[tuple[int, Path]]:
    """(step, path) of the complete checkpoints under `folder`, by step."""
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


def rng_state() -> dict[str, Any]:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
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
    return path


def read_state(path: str | Path) -> dict:
    file = Path(path) / STATE_FILE
    if not file.exists():
        raise BabybiasError(f"{path} is not a babybias checkpoint (no {STATE_FILE})",
                            fix="pass a folder under <run>/checkpoints/ written by `babybias pretrain`")
    return json.loads(file.read_text())


def load_training_state(path: str | Path) -> dict:
    # our own file (optimizer tensors, RNG tuples): not restricted to weights only
    return torch.load(Path(path) / TRAINING_STATE_FILE, map_location="cpu", weights_only=False)


def load_weights_into(model, folder: str | Path) -> None:
    """Copy the weights saved in an HF folder into `model` (exactly; tied weights included)."""
    from safetensors.torch import load_file

    folder = Path(folder)
    file = folder / "model.safetensors"
    if not file.exists():
        raise BabybiasError(f"{folder} has no model.safetensors", fix="pass a checkpoint folder written by `babybias pretrain`")
    saved = load_file(str(file))
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
