# make train ALGO=ppo ENV=CartPole SEEDS=1 ARGS="--lr 3e-4"   |   make test   |   make bench
# Every target creates .venv (and installs the package into it) when it is missing or stale.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
ALGO   ?= ppo
SEEDS  ?= 1
ARGS   ?=
# ENV is also a shell startup variable: only take it from the make command line.
ifneq ($(origin ENV),command line)
ENV := CartPole
endif

.PHONY: install train test test-fast lint bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/.installed

$(BIN)/.bench-installed: $(BIN)/.installed
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	touch $@

train: $(BIN)/.installed
	$(BIN)/jaxrl train $(ALGO) --env $(ENV) --seeds $(SEEDS) $(ARGS)

test: $(BIN)/.installed
	$(BIN)/python -m pytest -q $(ARGS)

test-fast: $(BIN)/.installed
	$(BIN)/python -m pytest -q -m "not slow" $(ARGS)

lint: $(BIN)/.installed
	$(BIN)/ruff check jaxrl tests experiments
	$(BIN)/ruff format --check jaxrl tests experiments

bench: $(BIN)/.bench-installed
	$(BIN)/python experiments/bench.py $(ARGS)

clean:
	rm -rf $(VENV) runs .pytest_cache
