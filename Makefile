# babybias: `make demo` (first run), `make test` (what CI runs), `make bench`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Offline data mirror: ../shared/data when it exists (this environment); otherwise public downloads.
MIRROR ?= $(if $(wildcard ../shared/data),$(abspath ../shared/data),)
ifneq ($(MIRROR),)
export BABYBIAS_DATA_MIRROR := $(MIRROR)
endif
# On a machine without an NVIDIA GPU install the CPU build of torch first, so pyproject's torch range is
# already satisfied and pip never pulls multi-GB CUDA wheels. With a GPU, pip picks a CUDA build.
HAS_GPU := $(shell command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1 && echo 1)
TORCH_SPEC ?= $(if $(HAS_GPU),torch>=2.4,torch==2.13.0)
# Extra pip flags for torch, e.g. TORCH_PIP_ARGS="--index-url <your CPU wheel index>" on other CPU machines.
TORCH_PIP_ARGS ?=
export WANDB_MODE ?= offline
export TOKENIZERS_PARALLELISM ?= false

.PHONY: setup data demo test test-fast lint bench bench-gpu clean-runs help

help:
	@echo "make demo | make test | make lint | make bench | make setup | make data"

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH_PIP_ARGS) "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $@

data: setup
	$(BIN)/babybias data prepare

# The corpus's data sets, the BabyLM fast set and BEC-Pro, and the two bias benchmarks of the closing "next:" line.
# impl=auto (the default) picks fp32 or bf16 for this CPU; the run prints its expected time after 3 steps.
# Extra overrides: make demo DEMO_ARGS="impl=cpu name=demo_fp32"
DEMO_ARGS ?=
demo: setup
	$(BIN)/babybias data prepare datasets=[nltk_brown,nltk_movie_reviews,nltk_state_union,nltk_inaugural,bias_attribute_words,debiaswe_word_lists,winobias,babylm_eval_fast,bec_pro,crows_pairs,stereoset]
	$(BIN)/babybias pretrain experiment=demo name=demo $(DEMO_ARGS)

test: setup
	WANDB_MODE=disabled $(BIN)/python -m pytest -q -p no:cacheprovider tests

test-fast: setup
	WANDB_MODE=disabled $(BIN)/python -m pytest -q -m "not slow and not root" tests

# the rules are in pyproject.toml ([tool.ruff])
lint: setup
	$(BIN)/ruff check src tests benchmarks scripts

# CPU benchmarks: each side at its best setting on this machine (bf16 only where native); print the CPU model.
bench: setup
	$(BIN)/python benchmarks/pretrain_throughput.py
	$(BIN)/python benchmarks/scoring_speed.py
	$(BIN)/python benchmarks/fairsisa_speed.py
	$(BIN)/python benchmarks/interval_cost.py
	$(BIN)/python benchmarks/reuse_check_cost.py

bench-gpu: setup
	$(BIN)/python benchmarks/gpu_pretrain.py

clean-runs:
	rm -rf runs outputs multirun
