# Two user-facing targets: `make run` and `make test`; `make check` is the developer's fast loop. The rest are helpers.
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && { echo $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin

CHECKOV_VENV := .venv-checkov
LOCK_VENV := .venv-lock
REQ := requirements

.PHONY: run test lint check check-tests newest oldest chaos bench package clean lock

$(BIN)/python:
	@test -n "$(PYTHON)" || { echo "error: Python 3.11+ not found (set PYTHON=/path/to/python3.11)"; exit 1; }
	$(PYTHON) -m venv $(VENV)

# Every install comes from a lock in requirements/ (make lock), each file checked against its hash;
# courier itself goes in last, editable, without touching the pinned set. Stamp files re-run an
# install only when its lock (or pyproject.toml) changes.
$(VENV)/.installed: $(REQ)/run.txt pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --require-hashes -r $(REQ)/run.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $@

$(VENV)/.installed-dev: $(REQ)/dev.txt pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --require-hashes -r $(REQ)/dev.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $@ $(VENV)/.installed

run: $(VENV)/.installed
	$(BIN)/courier local up --demo

# checkov lives in its own venv: it pins a fork of python-hcl2 that shares the
# import name `hcl2` with the real python-hcl2 the tests use.
$(CHECKOV_VENV)/.installed: $(REQ)/checkov.txt | $(BIN)/python
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --require-hashes -r $(REQ)/checkov.txt
	@touch $@

LINTED := src tests bench scripts loadtest

test: $(VENV)/.installed-dev $(CHECKOV_VENV)/.installed
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/mypy
	$(BIN)/python -m pytest -q --doctest-modules src/courier
	CHECKOV_BIN=$(CURDIR)/$(CHECKOV_VENV)/bin/checkov $(BIN)/python -m pytest

# mypy reads its files and strictness from pyproject.toml ([tool.mypy]).
lint: $(VENV)/.installed-dev
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/mypy

# The loop to run before a commit: lint and types, then the doctests of src/courier and the unit and integration
# tests without e2e (the local stack) and without the `slow` modules (a real NiFi, Maven, terraform apply).
# On two pytest-xdist workers (-n 2: the 2 cores it must fit in 2 minutes on), in one run so the suite is
# collected once per worker. `make test` stays serial: the e2e modules bind fixed ports.
check: lint check-tests

check-tests: $(VENV)/.installed-dev $(CHECKOV_VENV)/.installed
	CHECKOV_BIN=$(CURDIR)/$(CHECKOV_VENV)/bin/checkov $(BIN)/python -m pytest -q -n 2 -m "not e2e and not slow" \
		--doctest-modules src/courier tests/unit tests/integration

# No locks: the newest versions pyproject.toml's ranges allow (what installing courier[local] gets today), in a
# throwaway venv: unit tests and a local-stack smoke test. `oldest`: every direct dependency at its floor, unit
# tests. Weekly in .github/workflows/newest.yml; scripts/dependency_check.py says how.
newest:
	$(PYTHON) scripts/dependency_check.py newest

oldest:
	$(PYTHON) scripts/dependency_check.py oldest

# 15 minutes of seeded faults on a local stack of its own (ports 4576/8453), then the report.
chaos: $(VENV)/.installed-dev
	$(BIN)/python -m courier.local.chaos --duration 900

# BENCH_ARGS: e.g. "--baseline-duration 60 --sweep ''" for a short look (python -m bench --help).
bench: $(VENV)/.installed-dev
	$(BIN)/python -m bench $(BENCH_ARGS)

# The Lambda's own lock: requirements/lambda.txt, the same versions for arm64 (scripts/package_lambda.py).
package: $(VENV)/.installed
	$(BIN)/python scripts/package_lambda.py --out dist/courier-lambda.zip

# Refresh the locks after editing pyproject.toml's dependencies: pins that still fit stay; UPGRADE=1 moves
# every pin to the newest version its range allows. pip-tools resolves for the Python that runs it, so the
# locks are compiled with the oldest supported one (3.11), whose dependency set is the widest.
# run.txt and lambda.txt are constrained to dev.txt: the app, the Lambda and the tests share one set of versions.
# --unsafe-package courier replaces pip-tools' default list (pip, setuptools), which are then pinned like the rest,
# and keeps out the project itself, which the dev extra names (courier[local,report,load]): the WARNING closing
# dev.txt says so; courier goes in editable after the lock.
LOCK_PYTHON ?= $(shell command -v python3.11 || echo $(PYTHON))
PIP_COMPILE = CUSTOM_COMPILE_COMMAND="make lock" $(LOCK_VENV)/bin/pip-compile --quiet --generate-hashes --strip-extras \
	--no-emit-find-links --no-emit-index-url --no-emit-trusted-host $(if $(UPGRADE),--upgrade)

lock:
	@$(LOCK_PYTHON) -c 'import sys; sys.version_info[:2] == (3, 11) or print("warning: compiling the locks with Python %d.%d, not 3.11" % sys.version_info[:2])'
	test -x $(LOCK_VENV)/bin/pip-compile || { $(LOCK_PYTHON) -m venv $(LOCK_VENV) && $(LOCK_VENV)/bin/python -m pip install --quiet pip-tools; }
	$(PIP_COMPILE) --extra dev --unsafe-package courier -o $(REQ)/dev.txt pyproject.toml $(REQ)/build.in
	$(PIP_COMPILE) --extra local --extra report --unsafe-package courier -c $(REQ)/dev.txt -o $(REQ)/run.txt pyproject.toml $(REQ)/build.in
	$(LOCK_PYTHON) scripts/package_lambda.py --requirements > $(REQ)/lambda.in
	$(PIP_COMPILE) -c $(REQ)/dev.txt -o $(REQ)/lambda.txt $(REQ)/lambda.in
	$(PIP_COMPILE) --allow-unsafe -o $(REQ)/checkov.txt $(REQ)/checkov.in $(REQ)/build.in

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) $(LOCK_VENV) .courier .courier-chaos build dist src/*.egg-info .pytest_cache
