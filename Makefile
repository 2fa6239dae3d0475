.DEFAULT_GOAL := all
SHELL := /bin/bash

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PACKAGES := shared services intake_service routing_service scoring_service
export PATH := $(CURDIR)/$(BIN):$(PATH)

# Tests talk to the machine's PostgreSQL and Redis; override to point elsewhere.
TEST_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/test
TEST_REDIS_URL ?= redis://127.0.0.1:6379
PYTEST_ARGS ?=

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

.PHONY: install
install: $(STAMP)

.PHONY: run
run: $(STAMP)  ## run the whole stack (embedded SQLite + Redis unless DATABASE_URL/REDIS_URL are set)
	$(BIN)/python -m services

.PHONY: demo
demo: $(STAMP)  ## play the seed's season through a running stack (see var/credentials.json)
	$(BIN)/python -m services.demo

.PHONY: test
test: $(STAMP)  ## the whole suite, against real PostgreSQL and Redis
	TEST_DATABASE_URL=$(TEST_DATABASE_URL) TEST_REDIS_URL=$(TEST_REDIS_URL) \
		$(BIN)/python -m pytest $(PYTEST_ARGS)

.PHONY: test-fast
test-fast: $(STAMP)  ## everything but the slow fault and end-to-end tests
	TEST_DATABASE_URL=$(TEST_DATABASE_URL) TEST_REDIS_URL=$(TEST_REDIS_URL) \
		$(BIN)/python -m pytest -m 'not slow' $(PYTEST_ARGS)

.PHONY: testcov
testcov: $(STAMP)
	TEST_DATABASE_URL=$(TEST_DATABASE_URL) TEST_REDIS_URL=$(TEST_REDIS_URL) \
		$(BIN)/coverage run -m pytest $(PYTEST_ARGS)
	$(BIN)/coverage report

.PHONY: format
format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

.PHONY: lint
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

.PHONY: typecheck
typecheck: $(STAMP)
	$(BIN)/mypy

.PHONY: all
all: lint typecheck testcov

.PHONY: migrate
migrate: $(STAMP)  ## apply every service's migrations to DATABASE_URL (or the SQLite defaults)
	$(BIN)/python -m services.cli migrate

.PHONY: migration
migration: $(STAMP)  ## make migration svc=intake m="add something"
	$(BIN)/alembic -c $(svc)_service/alembic.ini revision --autogenerate -m "$(m)"

.PHONY: run-intake run-routing run-scoring
run-intake run-routing run-scoring: run-%: $(STAMP)
	$(BIN)/uvicorn $*_service.app:app --port $$(case $* in intake) echo 8001;; routing) echo 8002;; scoring) echo 8003;; esac)

.PHONY: worker-intake worker-routing worker-scoring
worker-intake worker-routing worker-scoring: worker-%: $(STAMP)
	$(BIN)/arq $*_service.worker.WorkerSettings --watch $*_service

.PHONY: bench
bench: $(STAMP)  ## benchmarks against this machine's PostgreSQL and Redis; writes bench/results/
	$(BIN)/python -m bench

.PHONY: clean
clean:
	rm -rf .pytest_cache .mypy_cache .ruff_cache .coverage htmlcov build dist *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
