# Public commands. The only prerequisite is python3 on PATH: uv and the virtualenv are
# bootstrapped on first use into .tools/ and .venv/. The virtualenv uses an installed Python 3.11,
# 3.12 or 3.13 when there is one, and otherwise lets uv fetch one, as uv does by default.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
RUN := $(UV) run --frozen --no-sync
STACK ?= dev

export UV_PYTHON_PREFERENCE ?= system

.PHONY: help dev test plan policy deploy image lint typecheck sync

help: ## List the commands
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(UV):
	@$(PYTHON) -m venv $(TOOLS)
	@$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	@$(UV) sync --frozen --quiet
	@touch $@

sync: $(VENV)/.synced ## Create or update the virtualenv from uv.lock

dev: $(VENV)/.synced ## Local PostgreSQL + migrations + API on http://localhost:8000 (PORT=8123 for another port)
	@$(RUN) python -m app.cli dev

test: $(VENV)/.synced ## The whole suite, real PostgreSQL included
	@$(RUN) pytest $(PYTEST_ARGS)

plan: $(VENV)/.synced ## Render STACK offline (mocks, no cloud); STACK=ci-access/shared: CI roles
	@$(RUN) python -m infra.plan --stack $(STACK) $(PLAN_ARGS)

policy: $(VENV)/.synced ## Policy pack + repository guardrails over every stack, offline
	@$(RUN) python -m policies.check

deploy: $(VENV)/.synced ## Real deployment of STACK (needs the Pulumi CLI and AWS credentials)
	@scripts/deploy $(STACK)

image: ## Build the container image (docker buildx, else buildah; BASE_IMAGE to choose the base)
	@BASE_IMAGE="$$(scripts/base-image)" && export BASE_IMAGE && scripts/build-image

lint: $(VENV)/.synced ## ruff, the layer contracts (lint-imports), mypy, and the workflows: actionlint, zizmor, pinned actions
	@$(RUN) ruff check .
	@$(RUN) ruff format --check .
	@$(RUN) lint-imports --no-cache
	@$(RUN) mypy
	@$(RUN) actionlint
	@$(RUN) zizmor --offline --quiet .github/workflows
	@$(RUN) python scripts/ci/check_pinned_actions.py

typecheck: $(VENV)/.synced ## mypy over app/ (strict), infra/, policies/ and scripts/ (config in pyproject.toml)
	@$(RUN) mypy
