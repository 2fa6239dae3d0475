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
# pytest-xdist workers for `make test` (the suite waits on PostgreSQL, Redis and worker processes
# as much as it computes, so two workers on two cores nearly halve it); 0 runs in one process.
TEST_WORKERS ?= 2

# Installs come from the lock: every package pinned to the version CI tested, checked by hash,
# and --no-deps so nothing outside the lock is resolved (tests/deploy/test_lock.py keeps the lock
# and pyproject.toml in step). The project itself is built with the locked setuptools.
DEV_LOCK := requirements/dev.lock
RUNTIME_LOCK := requirements/runtime.lock
# The resolution is universal (every platform, Python 3.11+), so one lock serves Linux on x86_64
# and arm64, macOS and the Docker image; the build backend is locked with the packages.
LOCK_ARGS := --universal --python-version 3.11 --generate-hashes --custom-compile-command "make lock"
BUILD_REQUIRES = $(BIN)/python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['build-system']['requires']))"

$(STAMP): pyproject.toml $(DEV_LOCK)
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r $(DEV_LOCK)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

.PHONY: install
install: $(STAMP)

.PHONY: lock
lock: $(STAMP)  ## re-resolve the locks after editing pyproject.toml (pins kept where they still fit)
	$(BUILD_REQUIRES) | $(BIN)/uv pip compile pyproject.toml - --extra dev $(LOCK_ARGS) $(UPGRADE) -o $(DEV_LOCK)
	$(BUILD_REQUIRES) | $(BIN)/uv pip compile pyproject.toml - $(LOCK_ARGS) -c $(DEV_LOCK) -o $(RUNTIME_LOCK)

.PHONY: lock-upgrade
lock-upgrade:  ## move every pin to the newest release pyproject.toml allows
	$(MAKE) lock UPGRADE=--upgrade

.PHONY: run
run: $(STAMP)  ## run the whole stack (embedded SQLite + Redis unless DATABASE_URL/REDIS_URL are set)
	$(BIN)/python -m services

.PHONY: demo
demo: $(STAMP)  ## play the seed's season through a running stack (see var/credentials.json)
	$(BIN)/python -m services.demo

.PHONY: test
test: $(STAMP)  ## the whole suite, against real PostgreSQL and Redis
	TEST_DATABASE_URL=$(TEST_DATABASE_URL) TEST_REDIS_URL=$(TEST_REDIS_URL) \
		$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

.PHONY: test-fast
test-fast: $(STAMP)  ## everything but the slow fault and end-to-end tests
	TEST_DATABASE_URL=$(TEST_DATABASE_URL) TEST_REDIS_URL=$(TEST_REDIS_URL) \
		$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal -m 'not slow' $(PYTEST_ARGS)

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
