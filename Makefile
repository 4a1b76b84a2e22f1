# Every target bootstraps what it needs: a fresh clone works with one command.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TOOLS := .tools/bin
export PATH := $(CURDIR)/$(TOOLS):$(CURDIR)/$(VENV)/bin:$(PATH)
export HELM_BIN ?= $(CURDIR)/$(TOOLS)/helm
export KUBECTL_BIN ?= $(CURDIR)/$(TOOLS)/kubectl
PYTEST_ARGS ?=

.PHONY: help venv tools lint typecheck test run bench e2e image deploy clean clean-tools

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): setup.cfg pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "Python 3.11+ is required (set PYTHON=python3.11)"; exit 1; }
	test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(VPY) -m pip install --quiet --disable-pip-version-check -e '.[dev]' --config-settings editable_mode=compat
	touch $@

venv: $(STAMP) ## create .venv with the package (editable) and dev tools

tools: $(STAMP) ## install pinned helm 4, helm 3 and kubectl into .tools/bin
	$(VPY) scripts/install-tools --dest $(TOOLS)

lint: $(STAMP) ## ruff check, ruff format --check, import contracts, mypy --strict
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/mypy --strict controller apiserver testkit

test: tools lint ## lint, type-check and run the whole test suite
	bash scripts/ensure-test-deps
	$(VENV)/bin/pytest $(PYTEST_ARGS)

run: tools ## demo: in-memory API server + local chart repository + operator
	$(VPY) scripts/demo.py $(if $(CLUSTER),--cluster $(CLUSTER))

bench: tools ## benchmarks; QUICK=1 for the short run
	$(VPY) -m pip install --quiet --disable-pip-version-check -e '.[bench]' --config-settings editable_mode=compat
	$(VPY) -m bench $(if $(QUICK),--quick)

e2e: tools ## end-to-end suite on a kind cluster (needs Docker and kind)
	bash scripts/e2e-kind

image: ## build the container image (needs Docker)
	@command -v docker >/dev/null && docker info >/dev/null 2>&1 || \
	  { echo "make image needs a running Docker engine; none was found."; exit 1; }
	docker build -t helmrelease-operator:dev .

deploy: tools ## kubectl apply -k manifests/ to the cluster in KUBECONFIG
	$(KUBECTL_BIN) apply -k manifests/

clean: ## remove caches and build output (keeps .venv and .tools)
	rm -rf .mypy_cache .pytest_cache .ruff_cache .hypothesis build dist *.egg-info .run
	find . -name __pycache__ -prune -exec rm -rf {} +

clean-tools: ## remove .tools and .venv
	rm -rf .tools $(VENV)
