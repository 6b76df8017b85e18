# make train ALGO=ppo ENV=CartPole SEEDS=1 ARGS="--lr 3e-4"   |   make test   |   make bench   |   make benchmarks-md
# make sweep ALGO=ppo SEEDS=4 ARGS="--lr 1e-4,3e-4,1e-3 --ent-coef 0,0.01"   |   make compare RUNS="runs/A runs/B"
# make pbt ALGO=ppo ARGS="--population 16 --lr 1e-5:1e-2:log --ent-coef 0:0.05 --ready-every 20000"
# make resume RUN=runs/CartPole-v1/ppo/<name>   |   make eval RUN=runs/CartPole-v1/ppo/<name> ARGS="--video"
# Every target creates .venv (and installs the package into it) when it is missing or stale.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
ALGO   ?= ppo
SEEDS  ?= 1
ARGS   ?=
RUNS   ?= runs
# ENV is also a shell startup variable: only take it from the make command line.
ifneq ($(origin ENV),command line)
ENV := CartPole
endif

.PHONY: install train sweep pbt resume eval compare test test-fast lint bench benchmarks-md clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,export,marl,craftax]'  # the optional extras are tested in CI too
	touch $@

install: $(BIN)/.installed

# The benchmark peer (Stable-Baselines3) gets its own venv: tensorboardX imports torch whenever
# it can, which would add ~0.8 s to every jaxrl process. torch 2.13.0 is the CPU build kept on
# this project's machines; an unpinned torch pulls a multi-GB CUDA build.
PEER := .venv-peer
$(PEER)/bin/.installed:
	$(PYTHON) -m venv $(PEER)
	$(PEER)/bin/pip install --quiet 'stable-baselines3>=2.3' torch==2.13.0 'gymnasium[mujoco]>=1.0'  # MuJoCo: the SAC and PPO peers
	touch $@

# The gymnax peer, rejax 0.1.3, in its own venv too: it unpacks gymnax 0.x's 5-value step, so it
# needs gymnax<1.0, while jaxrl runs gymnax 1.0's API.
REJAX := .venv-rejax
$(REJAX)/bin/.installed:
	$(PYTHON) -m venv $(REJAX)
	$(REJAX)/bin/pip install --quiet 'rejax==0.1.3' 'gymnax<1.0'
	touch $@

train: $(BIN)/.installed
	$(BIN)/jaxrl train $(ALGO) --env $(ENV) --seeds $(SEEDS) $(ARGS)

sweep: $(BIN)/.installed
	$(BIN)/jaxrl sweep $(ALGO) --env $(ENV) --seeds $(SEEDS) $(ARGS)

pbt: $(BIN)/.installed
	$(BIN)/jaxrl pbt $(ALGO) --env $(ENV) --seeds $(SEEDS) $(ARGS)

resume: $(BIN)/.installed
	$(BIN)/jaxrl train --resume $(RUN)

eval: $(BIN)/.installed
	$(BIN)/jaxrl eval $(RUN) $(ARGS)

compare: $(BIN)/.installed
	$(BIN)/jaxrl compare $(RUNS) $(ARGS)

test: $(BIN)/.installed
	$(BIN)/python -m pytest -q --durations=20 $(ARGS)  # the slowest tests, for keeping CI fast

test-fast: $(BIN)/.installed
	$(BIN)/python -m pytest -q -m "not slow" $(ARGS)

lint: $(BIN)/.installed
	$(BIN)/ruff check jaxrl tests experiments examples
	$(BIN)/ruff format --check jaxrl tests experiments examples
	$(BIN)/mypy  # jaxrl/core and jaxrl/algos: pyproject.toml's [tool.mypy]

bench: $(BIN)/.installed $(PEER)/bin/.installed $(REJAX)/bin/.installed
	$(BIN)/python experiments/bench.py --peer-python $(PEER)/bin/python --rejax-python $(REJAX)/bin/python $(ARGS)

# BENCHMARKS.md from experiments/results/*.json (what bench.py wrote) and experiments/BENCHMARKS.template.md
benchmarks-md: $(BIN)/.installed
	$(BIN)/python experiments/benchmarks_md.py

clean:
	rm -rf $(VENV) $(PEER) $(REJAX) runs .pytest_cache .mypy_cache build *.egg-info
