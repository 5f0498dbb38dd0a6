# The two commands: `make run` starts the whole system on embedded defaults,
# `make test` installs what the tests need and runs them all.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: run test lint services bench clean

$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(INSTALLED)

run: $(INSTALLED)
	$(BIN)/recyclab demo

services:
	bash tests/ensure-services.sh

# ruff; the import contracts of the layout (pyproject [tool.importlinter]); types of the kernel
# and the rule-holding services (pyproject [tool.mypy]).
lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy

test: $(INSTALLED) services lint
	$(BIN)/pytest

clean:
	rm -rf $(VENV) var test-artifacts .pytest_cache
