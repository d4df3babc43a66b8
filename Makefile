# Promptyard: `make run` serves the app with its worker; `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test setup migrate demo lint format bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml sdk/pyproject.toml
	$(BIN)/pip install -q -e ./sdk -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

migrate: setup
	$(BIN)/python manage.py migrate --noinput

# Provider URLs reach public addresses only unless the operator allows more: `make run`
# allows its own demo-echo (apps/llm/urlcheck.py). Add e.g. `,localhost:11434` for Ollama.
demo run: export PROMPTYARD_PROVIDER_URL_ALLOWLIST ?= 127.0.0.1:8765
# The task workers and demo-echo keep off the first CPU, left to the web server's requests
# (apps/core/cpus.py); PROMPTYARD_WORKER_CPUS= (empty) lets them use every CPU.
run: export PROMPTYARD_WORKER_CPUS ?= auto

demo: migrate
	$(BIN)/python manage.py seed_demo

run: demo
	$(BIN)/python manage.py run_all

test: setup
	./scripts/ensure_chromium.sh
	./scripts/with_postgres.sh $(BIN)/pytest -q $(PYTEST_ARGS)

# mypy's Django plugin imports the settings and apps: PYTHONPATH makes it load this
# checkout's (a git worktree shares the venv's editable install of another one).
lint:
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	PYTHONPATH=$(CURDIR):$(CURDIR)/sdk $(BIN)/mypy

format:
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: setup
	for b in benchmarks/*.py; do ./scripts/with_postgres.sh $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV)
