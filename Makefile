# hellotorch: `make bench` to measure, `make test` to check. `make help` lists the rest.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The torch pip installs here when none is importable: the CPU build on this disk.
TORCH_SPEC ?= torch==2.13.0
PROFILE ?= quick
DEVICE ?= cpu
# Empty: PyTorch's own choice. Fixed before any compile either way, and recorded.
THREADS ?=
# Passed to pytest's -k, to narrow a profile to some cases.
K ?=
# The newest run that finished (an interrupted, killed or empty run is never chosen).
RUN ?= $(shell $(VENV)/bin/hellotorch latest --results results 2>/dev/null)
BASELINE ?= results/baselines/cpu-quick.json
# Inductor's on-disk cache, shared by every checkout on this machine, on purpose:
# a warm cache turns a 10-20 s C++ compile into about 3 s.
export TORCHINDUCTOR_CACHE_DIR ?= $(HOME)/.cache/hellotorch/inductor
export HELLOTORCH_THREADS := $(THREADS)
# 1: bind the bench process's threads to cores, one each (docs/methodology.md, "Pinning the threads to cores").
BIND ?=
export HELLOTORCH_BIND_THREADS := $(BIND)

.PHONY: help install test test-all check bench report compare gate baseline lint clean need-run

need-run:
	@test -n "$(RUN)" || { echo "no complete run folder under results/: run 'make bench' first, or pass RUN=results/run-..." >&2; exit 2; }

help: ## this list
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'
	@echo "  variables: PROFILE=$(PROFILE) DEVICE=$(DEVICE) THREADS=$(THREADS) BIND=$(BIND) K=<pytest -k expr> RUN=<run folder>"

$(VENV)/.installed: pyproject.toml
	@# --system-site-packages: a torch the base Python already imports is reused.
	$(PYTHON) -m venv --system-site-packages $(VENV)
	@$(PY) -c "import torch" 2>/dev/null && echo "reusing torch $$($(PY) -c 'import torch; print(torch.__version__)')" \
		|| $(PY) -m pip install --quiet "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

install: $(VENV)/.installed ## create .venv and install hellotorch (reuses an importable torch)

test: install ## the fast inner loop: every test but the slow ones (CPU, about 4 min from a fresh clone, set-up included)
	$(PY) -m pytest tests -q -m "not slow"

test-all: install ## the whole suite, slow tests included (child suites, torchrun, compile workers, A/B): what CI runs
	$(PY) -m pytest tests -q

bench: install ## say whether the machine is fit to measure on, run the profile PROFILE on DEVICE, report it
	@# The verdict first: a busy machine's cases wait for it to clear, and are marked disturbed if it never does.
	-@$(VENV)/bin/hellotorch env --check
	$(VENV)/bin/hellotorch bench --profile $(PROFILE) --device $(DEVICE) --results results $(if $(K),-k "$(K)")

check: install ## is this machine fit to measure on now? (hellotorch env --check)
	$(VENV)/bin/hellotorch env --check

report: install need-run ## rebuild tables, plots and report.html of RUN (default: the newest run)
	$(VENV)/bin/hellotorch report $(RUN) --html

compare: install ## compare runs: make compare RUNS="results/run-a results/run-b"
	$(VENV)/bin/hellotorch compare $(RUNS)

gate: install need-run ## gate RUN against BASELINE (re-measuring suspects); exit 1 on a regression
	$(VENV)/bin/hellotorch gate --baseline $(BASELINE) --current $(RUN) --confirm

baseline: install ## pin RUN (or the median of RUNS="a b c") as the baseline `make gate` uses
	$(VENV)/bin/hellotorch baseline $(or $(RUNS),$(RUN)) --output $(BASELINE)

lint: install ## ruff, on the library, suite and tests
	$(PY) -m ruff check hellotorch bench tests examples
	$(PY) -m ruff format --check hellotorch bench tests examples

clean: ## remove the venv, caches and generated runs (keeps pinned baselines)
	rm -rf $(VENV) .pytest_cache .ruff_cache .benchmarks build *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
	find results -mindepth 1 -maxdepth 1 -name 'run-*' -exec rm -rf {} +
