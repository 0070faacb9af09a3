# Every target installs what it needs first: a fresh machine goes from clone to green with `make test`.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: sandbox down test lint bench bench-worker binaries
BENCH_VENV ?= $(HOME)/.cache/vaultext-bench/ultra

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
	$(PY) bench/scaling/bench_autoscaling.py --runs 5 --groups 100,1000 --extensions 1000

## The worker against Ultralytics, which runs in a venv of its own (torch is large: several GB, once).
bench-worker: $(STAMP) $(BENCH_VENV)/.installed
	VAULTEXT_BENCH_VENV=$(BENCH_VENV) $(PY) bench/worker/bench_worker.py --clips 4 --repeats 3

$(BENCH_VENV)/.installed:
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --quiet ultralytics onnx onnxruntime
	@touch $@
