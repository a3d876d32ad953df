# Two commands do all set-up: `make run` and `make test` (see README.md).
# Installs are recorded in stamp files, so a second run installs nothing unless
# pyproject.toml changed.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip

.PHONY: run test lint format bench stress clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# Tests also run ranks under MPICH/Hydra: its wheel goes into a second prefix so
# its mpirun/mpiexec never shadow Open MPI's in .venv/bin.
$(VENV)/.dev-installed: pyproject.toml | $(PY)
	$(PIP) install -e '.[dev]'
	$(PIP) install --quiet --upgrade --target $(VENV)/mpich mpich
	@touch $@

$(VENV)/.all-installed: pyproject.toml | $(PY)
	$(PIP) install -e '.[all]'
	@touch $@

run: $(VENV)/.all-installed
	$(VENV)/bin/ezpz-tui

test: $(VENV)/.dev-installed lint
	$(PY) -m pytest

lint: $(VENV)/.dev-installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.dev-installed
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# Benchmarks (never part of `make test`): a table, and bench/results.json. About
# 5-8 minutes; see docs/performance.md. BENCH_FLAGS=--strict fails on a missed target.
bench: $(VENV)/.dev-installed
	$(PY) bench/run_all.py $(BENCH_FLAGS)

# The default job (`ezpz-tui --run -n 2`, the workload) 20 times in a row: every exit
# code, bench/stress_results.json, exit 1 if any run failed. STRESS_FLAGS=--runs 50
stress: $(VENV)/.dev-installed
	$(PY) bench/stress_workload.py $(STRESS_FLAGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build *.egg-info
