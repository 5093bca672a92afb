# Trainboard: `make run` serves the dashboard with one worker; `make test` runs the whole suite.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The CPU build of PyTorch; install the build that fits your GPU into $(VENV) first to use CUDA.
TORCH ?= torch==2.13.0
# The versions the suite was tested with, for everything but torch (make lock refreshes it).
LOCK := constraints.txt
# Where `make run` serves: make run PORT=8080 (HOST=0.0.0.0 needs TRAINBOARD_AUTH=on).
HOST ?= 127.0.0.1
PORT ?= 8000
# pip's verbosity: -q hides progress; `make run` passes -qq, which still shows errors.
PIP_QUIET ?= -q
# Test processes (pytest-xdist). Most of the suite's wall time is end-to-end tests waiting on real servers,
# workers and browsers, so more processes than cores pays: on 2 cores 4 took the suite from 22 to 10 minutes.
# Each module's tests stay together, in order, in one process (--dist loadscope): its module-scoped
# fixtures are made once, as in one process. TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= 4

.PHONY: install lock run test test-fast lint chromium bench bench-deps mlflow-client fuzz clean

$(STAMP): pyproject.toml $(LOCK)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install $(PIP_QUIET) --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install $(PIP_QUIET) "$(TORCH)"
	$(PY) -m pip install $(PIP_QUIET) -c $(LOCK) -e ".[test,huggingface,lightning]"
	touch $(STAMP)

install: $(STAMP)

# Pin the newest versions pyproject.toml allows, for Python 3.11 on Linux x86_64; torch and what only torch
# needs are left out (above, or you for your GPU, install it separately). Then run make test and commit it.
lock: install
	$(PY) -m pip install -q "uv>=0.5"
	echo torch | $(VENV)/bin/uv pip compile pyproject.toml --extra test --extra huggingface --extra lightning \
		--upgrade --quiet \
		--python-version 3.11 --python-platform x86_64-unknown-linux-gnu --excludes /dev/stdin \
		--custom-compile-command "make lock" -o $(LOCK)

# Quiet: the install shows only errors, `up` checks the port before it says anything, and the URL is the
# last line it prints.
run:
	@$(MAKE) --no-print-directory -s install PIP_QUIET=-qq
	@$(VENV)/bin/trainboard up --host $(HOST) --port $(PORT)

# Browser tests drive Debian's chromium; install it when missing (needs root, as on CI).
chromium:
	@command -v chromium >/dev/null 2>&1 || command -v /usr/bin/chromium >/dev/null 2>&1 || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
		echo "chromium could not be installed: browser tests will be skipped (or fail with CI=true)"

# Lint first: CI runs exactly `make test`, so that is where the type check runs too.
test: install chromium mlflow-client lint
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadscope

# Many more generated requests than the suite's bounded run: no 5xx, every 4xx with a detail.
fuzz: install
	TRAINBOARD_FUZZ_EXAMPLES=200 $(PY) -m pytest -q --timeout 0 tests/server/api/test_fuzz.py

test-fast: install
	$(PY) -m pytest -q -m "not e2e and not browser"

# mypy reads its settings (the folders, the strict modules) from pyproject.toml and keeps an incremental
# cache in .mypy_cache: a second run checks only what changed.
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# MLflow, for bench/vs_mlflow.py only: its own virtual environment, so it never meets our dependencies.
MLFLOW ?= mlflow==3.*
MLFLOW_VENV := bench/.venv-mlflow
bench-deps:
	test -x $(MLFLOW_VENV)/bin/python || $(PYTHON) -m venv $(MLFLOW_VENV)
	$(MLFLOW_VENV)/bin/python -m pip install -q --upgrade pip
	$(MLFLOW_VENV)/bin/python -m pip install -q "$(MLFLOW)" "psycopg[binary]" psycopg2-binary
	$(MLFLOW_VENV)/bin/mlflow --version

# MLflow's official client, for tests/server/api/mlflow/: its own virtual environment, since its pins
# (opentelemetry) clash with constraints.txt.
MLFLOW_CLIENT ?= mlflow-skinny==3.17.2
MLFLOW_CLIENT_VENV := .venv-mlflow-client
$(MLFLOW_CLIENT_VENV)/.installed:
	test -x $(MLFLOW_CLIENT_VENV)/bin/python || $(PYTHON) -m venv $(MLFLOW_CLIENT_VENV)
	$(MLFLOW_CLIENT_VENV)/bin/python -m pip install -q "$(MLFLOW_CLIENT)"
	touch $@
mlflow-client: $(MLFLOW_CLIENT_VENV)/.installed

clean:
	rm -rf $(VENV) $(MLFLOW_CLIENT_VENV) .trainboard .pytest_cache .mypy_cache
