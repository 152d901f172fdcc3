# Two commands do all set-up on a fresh machine: `make run` and `make test`.
# Both create .venv if needed and install the pinned dependencies (requirements.lock),
# then do nothing more when nothing changed.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# uv installs the pinned packages (about 1 minute into a new venv, where pip takes 3): it
# downloads and unpacks in parallel. --compile-bytecode does what pip does by default, so
# the first test run does not compile TensorFlow's modules instead.
UV_VERSION := 0.13.9
# Stages run `python -m alphabet_lstm.stages...`: the venv must come first on PATH.
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: run test test-fast lint study sweep readme benchmark verify-objects setup mlflow-ui clean-venv

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet uv==$(UV_VERSION)
	$(BIN)/uv pip install --quiet --python $(BIN)/python --compile-bytecode --constraint requirements.lock -e '.[test,s3]'
	touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	dvc repro
	@echo "Report: reports/report.md (and reports/report.html); MLflow store: tracking.uri in params.yaml (default $(CURDIR)/mlflow.db)"

# The whole suite, as CI runs it, on every core (pytest-xdist). Each module runs on one worker
# (--dist loadscope), so a module's fixtures are built once; the set-ups several modules share
# are built once for all workers (tests/conftest.py), which also hands out the costliest
# modules first (--no-loadscope-reorder keeps its order), so that the workers end together.
test: lint
	$(BIN)/python -m pytest -n auto --dist loadscope --no-loadscope-reorder

# The inner loop: the lint and type checks, then the unit tier only (no process, pipeline,
# server or TensorFlow). One process: the workers' start-up would cost what they save here.
test-fast: lint
	$(BIN)/python -m pytest -m "not pipeline and not system"

# Style, types and dead code (configured in pyproject.toml); `ruff format .` and
# `ruff check --fix .` repair most of what the first two report.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/vulture

# The 10-seed study (seeds 7..16) as a DVC experiment; the report gains confidence intervals.
study: $(STAMP)
	dvc exp run -S 'seeds=[7,8,9,10,11,12,13,14,15,16]'

# The sweeps of params.yaml (`sweeps:`) on Dask: a LocalCluster on every core, or the cluster
# DASK_SCHEDULER_ADDRESS names. `make sweep SWEEP=one_char_budget` runs one. docs/sweeps.md.
SWEEP ?=
sweep: $(STAMP)
	dvc repro sweeps/dvc.yaml$(if $(SWEEP),:sweep_log@$(SWEEP))

# Files of this checkout whose objects are missing (on the remote REMOTE) or do not match their
# md5 name, by workspace path (DVC 3 has no fsck): `make verify-objects REMOTE=team`; REPAIR=1
# removes them and pushes (a remote) or fetches (the cache) them again.
REMOTE ?=
REPAIR ?=
verify-objects: $(STAMP)
	$(BIN)/python tools/verify_objects.py$(if $(REMOTE), --remote $(REMOTE))$(if $(REPAIR), --repair)

# The README's results table, from the committed metrics (a test checks it is current).
readme: $(STAMP)
	$(BIN)/python tools/readme.py

# The everyday loop (a batch size change, an experiment, the 10-seed study, a forced repro)
# timed against the faithful Keras port, with each stage's seconds: 10-20 minutes on 2 cores.
# It saves benchmarks/results/loop.json; benchmarks/README.md shows the committed run.
benchmark: $(STAMP)
	$(BIN)/python benchmarks/loop.py

# The UI of the embedded store, on loopback: `make mlflow-ui PORT=5055` picks another port.
# Not 5000, the team server's default (scripts/mlflow-server.sh), so both can run at once.
PORT ?= 5050
mlflow-ui: $(STAMP)
	$(BIN)/mlflow ui --backend-store-uri sqlite:///$(CURDIR)/mlflow.db --host 127.0.0.1 --port $(PORT)

clean-venv:
	rm -rf $(VENV)
