# Two user-facing targets: `make run` and `make test`. Everything else is a helper.
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && { echo $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin

CHECKOV_VENV := .venv-checkov

.PHONY: run test lint chaos bench package clean

$(BIN)/python:
	@test -n "$(PYTHON)" || { echo "error: Python 3.11+ not found (set PYTHON=/path/to/python3.11)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Stamp files re-run the install only when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[local,report]'
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@ $(VENV)/.installed

run: $(VENV)/.installed
	$(BIN)/courier local up --demo

# checkov lives in its own venv: it pins a fork of python-hcl2 that shares the
# import name `hcl2` with the real python-hcl2 the tests use.
$(CHECKOV_VENV)/.installed: | $(BIN)/python
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet 'checkov>=3.2'
	@touch $@

LINTED := src tests bench scripts loadtest

test: $(VENV)/.installed-dev $(CHECKOV_VENV)/.installed
	$(BIN)/ruff check $(LINTED)
	CHECKOV_BIN=$(CURDIR)/$(CHECKOV_VENV)/bin/checkov $(BIN)/python -m pytest

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)

# 15 minutes of seeded faults on a local stack of its own (ports 4576/8453), then the report.
chaos: $(VENV)/.installed-dev
	$(BIN)/python -m courier.local.chaos --duration 900

# BENCH_ARGS: e.g. "--baseline-duration 60 --sweep ''" for a short look (python -m bench --help).
bench: $(VENV)/.installed-dev
	$(BIN)/python -m bench $(BENCH_ARGS)

package: $(VENV)/.installed
	$(BIN)/python scripts/package_lambda.py --out dist/courier-lambda.zip

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) .courier .courier-chaos build dist src/*.egg-info .pytest_cache
