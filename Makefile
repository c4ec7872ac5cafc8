# Each target does its own set-up: a fresh clone needs only `make demo` or `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_STAMP := $(VENV)/.installed-demo

.PHONY: demo test check lint typecheck pytest bench clean

# The tests wait on subprocesses, servers and disks much of the time: two workers (one
# per core of the CI machine) halve the run. Each test file runs in one worker, so a
# module's fixtures (a 67 MB tree, a receiver) are built once.
PYTEST_WORKERS ?= 2
PYTEST_PARALLEL := -n $(PYTEST_WORKERS) --dist loadfile

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Everything: the demo, the examples' tools and the test tool chain (a few minutes).
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --progress-bar on -e '.[test,demo]'
	touch $(STAMP)

# Only what the demo runs: the package, the Anthropic SDK and time-machine. pip shows
# what it fetches, so a first run on a slow line is not a silent wait.
$(DEMO_STAMP): pyproject.toml | $(BIN)/python
	@echo "Installing otel-token-usage with the demo extra into $(VENV) ..."
	$(BIN)/python -m pip install --progress-bar on -e '.[demo]'
	touch $(DEMO_STAMP)

demo: $(DEMO_STAMP)
	$(BIN)/python -m otel_token_usage.demo

test: $(STAMP) lint typecheck pytest

# For developers: lint, incremental type checks and the tests not marked slow (< 90 s).
check: $(STAMP) lint
	$(BIN)/mypy --incremental
	$(BIN)/pytest -q -m "not slow" $(PYTEST_PARALLEL)

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest $(PYTEST_PARALLEL)

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	$(BIN)/python benchmarks/exporter.py
	$(BIN)/python benchmarks/instrumentation.py
	$(BIN)/python benchmarks/sampler.py

clean:
	rm -rf $(VENV) sessions .mypy_cache .pytest_cache .ruff_cache
