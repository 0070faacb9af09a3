# Every target installs what it needs first: a fresh machine goes from clone to green with `make test`.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: sandbox down test lint bench binaries

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

binaries: $(STAMP)
	$(PY) -m vaultext_sandbox build

## Set up everything, then start the sandbox in the background (cluster with 2 fake GPU nodes, Kafka, Prometheus, Vault stand-in).
sandbox: binaries
	$(PY) -m vaultext_sandbox up --with-prometheus --with-vault

down: $(STAMP)
	$(PY) -m vaultext_sandbox down

## Set up everything, then run every test (lint and type checks included); each suite starts the sandbox parts it needs.
test: binaries
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

## Benchmarks: each prints medians and ratios against a baseline measured in the same run.
bench: binaries
	$(PY) bench/sandbox_startup.py
