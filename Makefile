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
LOCK_VENV := .tools/lock
UV := $(LOCK_VENV)/bin/uv
UV_COMPILE = $(UV) pip compile --quiet --generate-hashes --universal --python-version 3.11 \
  --custom-compile-command 'make lock' $(if $(UPGRADE),--upgrade)

.PHONY: help venv lock tools lint typecheck test run bench e2e image deploy clean clean-tools

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

# The venv installs exactly the locked versions (requirements/, written by `make lock`),
# every file checked against its hash, then the project itself without dependencies.
$(STAMP): setup.cfg pyproject.toml requirements/dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "Python 3.11+ is required (set PYTHON=python3.11)"; exit 1; }
	test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements/dev.txt
	$(VPY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation \
	  -e . --config-settings editable_mode=compat
	touch $@

venv: $(STAMP) ## create .venv: the locked dev dependencies, the package (editable)

# The lock tool, pinned and hash-checked, in a virtualenv of its own.
$(UV): requirements/lock-tool.txt
	test -x $(LOCK_VENV)/bin/python || $(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes \
	  -r requirements/lock-tool.txt
	touch $@

# Each lock is resolved for every platform and Python >= 3.11 (the image runs 3.12), and
# constrained by the one it extends, so that runtime, dev and bench agree on every version.
# Versions already locked are kept unless setup.cfg asks otherwise; UPGRADE=1 takes the
# newest versions that setup.cfg allows.
lock: $(UV) ## regenerate the hashed lock files in requirements/ (UPGRADE=1 to upgrade)
	$(UV_COMPILE) setup.cfg -o requirements/runtime.txt
	$(UV_COMPILE) setup.cfg --extra dev requirements/build.in \
	  -c requirements/runtime.txt -o requirements/dev.txt
	$(UV_COMPILE) setup.cfg --extra dev --extra bench requirements/build.in \
	  -c requirements/dev.txt -o requirements/bench.txt
	$(UV_COMPILE) requirements/lock-tool.in -o requirements/lock-tool.txt

tools: $(STAMP) ## install pinned helm 4, helm 3 and kubectl into .tools/bin
	$(VPY) scripts/install-tools --dest $(TOOLS)

# Then the deployable artifact: the manifests against the Kubernetes and CRD schemas, the
# dashboard and alert PromQL with promtool, the Dockerfile with hadolint.
lint: tools ## ruff, import contracts, mypy --strict, manifests, PromQL, Dockerfile
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/mypy --strict controller apiserver testkit
	$(VPY) scripts/check_manifests.py
	@bash scripts/ensure-test-deps lint
	$(VPY) scripts/check_monitoring.py
	$(VPY) scripts/check_dockerfile.py

test: tools lint ## lint, type-check and run the whole test suite
	bash scripts/ensure-test-deps
	$(VENV)/bin/pytest $(PYTEST_ARGS)

run: tools ## demo: in-memory API server + local chart repository + operator
	$(VPY) scripts/demo.py $(if $(CLUSTER),--cluster $(CLUSTER))

bench: tools ## benchmarks; QUICK=1 for the short run, SCALE=100000 adds scenario 14
	$(VPY) -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements/bench.txt
	$(VPY) -m bench $(if $(QUICK),--quick) $(if $(SCALE),--scale $(SCALE))

e2e: tools ## end-to-end suite on a kind cluster (needs Docker and kind)
	bash scripts/e2e-kind

IMAGE ?= helmrelease-operator:dev
image: ## build the container image IMAGE (docker, else buildah; scripts/build-image)
	bash scripts/build-image --tag $(IMAGE)

deploy: tools ## kubectl apply -k manifests/ to the cluster in KUBECONFIG
	$(KUBECTL_BIN) apply -k manifests/

clean: ## remove caches and build output (keeps .venv and .tools)
	rm -rf .mypy_cache .pytest_cache .ruff_cache .hypothesis build dist *.egg-info .run
	find . -name __pycache__ -prune -exec rm -rf {} +

clean-tools: ## remove .tools and .venv
	rm -rf .tools $(VENV)
