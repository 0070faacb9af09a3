# Every target installs what it needs first: a fresh machine goes from clone to green with `make test`.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: sandbox down test lint bench bench-keda bench-worker binaries host-packages images demo
# The real node and the image builds need a few Debian packages (installed as root when missing).
HOST_PACKAGES := podman buildah debootstrap libseccomp-dev
REAL_NODE := $(shell [ "$$(id -u)" = 0 ] && echo --real-node)
BENCH_VENV ?= $(HOME)/.cache/vaultext-bench/ultra

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

host-packages:
	@missing=$$(for p in $(HOST_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	  else echo "missing Debian packages (the real node and image builds need them): $$missing" >&2; fi; \
	fi

binaries: $(STAMP) host-packages
	$(PY) -m vaultext_sandbox build

## Set up everything, then start the sandbox in the background: cluster, Kafka, Prometheus, Vault stand-in, and (as root)
## a real node with the project's images loaded (without root: 2 fake GPU nodes instead).
sandbox: binaries
	$(PY) -m vaultext_sandbox up --with-prometheus --with-vault $(REAL_NODE)

## Build the operator and worker images from their Dockerfiles (cached by content hash).
images: binaries
	$(PY) -m vaultext_sandbox images

## The whole loop on a real node, with a live table and an HTML report (root).
demo: binaries
	$(PY) -m vaultext_sandbox demo

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
	$(PY) bench/scaling/bench_autoscaling.py --runs 5 --groups 100,1000 --blackhole 100 --warm 1000 --cold 1000

## Real KEDA v2.21.0 against the builtin engine on the same bursts (builds KEDA first: about 5 minutes, once).
bench-keda: binaries
	$(PY) -m vaultext_sandbox build --with-keda
	$(PY) bench/keda/bench_keda.py --runs 3 --plot bench/keda/keda_vs_builtin.png

## The worker against Ultralytics, which runs in a venv of its own (torch is large: several GB, once).
bench-worker: $(STAMP) $(BENCH_VENV)/.installed
	VAULTEXT_BENCH_VENV=$(BENCH_VENV) $(PY) bench/worker/bench_worker.py --clips 4 --repeats 3

$(BENCH_VENV)/.installed:
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --quiet ultralytics onnx onnxruntime
	@touch $@
