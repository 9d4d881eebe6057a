# `make dev` runs the service, `make test` runs the checks. Both create .venv on first use.
PYTHON ?= python3
PORT ?= 8000
VENV := .venv
BIN := $(VENV)/bin

$(BIN)/orders: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

.PHONY: install dev test lint bench schema
install: $(BIN)/orders

dev: install
	$(BIN)/orders dev --port $(PORT)

lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports

test: lint
	$(BIN)/pytest

# sql/schema.sql: the schema a database migrated from scratch has (a throwaway PostgreSQL 15)
schema: install
	$(BIN)/python -m orders.dev.snapshot
