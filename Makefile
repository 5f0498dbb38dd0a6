# The two commands: `make run` starts the whole system on embedded defaults,
# `make test` installs what the tests need and runs them all.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

LOWEST := .venv-lowest
# Fast unit tests that import every direct dependency's code paths we rely on.
LOWEST_TESTS := tests/ingest/test_decoders.py tests/ingest/test_sqlite_store.py \
	tests/certificates/test_document.py tests/analytics/test_features.py \
	tests/analytics/test_model_registry.py tests/lims/test_grading.py tests/web/test_charts.py \
	tests/web/test_translations.py tests/certificates/test_pdf_signature.py tests/lims/test_password_rule.py

.PHONY: run test test-lowest lint services bench clean

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

# Test workers (pytest-xdist): most tests wait on a server, a subprocess or a browser, so more
# workers than cores still shorten the run. Each worker has its own PostgreSQL database,
# InfluxDB and Chromium (tests/conftest.py); `make test TEST_WORKERS=0` runs in one process.
TEST_WORKERS ?= 3

test: $(INSTALLED) services lint
	$(BIN)/pytest -n $(TEST_WORKERS)

# The lowest versions pyproject.toml allows for the direct dependencies (uv's lowest-direct
# resolution), in a venv of their own: a lower bound the code has outgrown fails here.
# Takes over two minutes, so CI (.ci/run) calls it rather than `make test`.
test-lowest: services
	test -x $(LOWEST)/bin/python || $(PYTHON) -m venv $(LOWEST)
	$(LOWEST)/bin/python -m pip install --quiet "uv>=0.5,<1"
	$(LOWEST)/bin/uv pip compile --quiet --resolution lowest-direct --extra dev \
		--python $(LOWEST)/bin/python pyproject.toml -o $(LOWEST)/requirements.txt
	$(LOWEST)/bin/uv pip install --quiet --python $(LOWEST)/bin/python -r $(LOWEST)/requirements.txt
	$(LOWEST)/bin/uv pip install --quiet --python $(LOWEST)/bin/python --no-deps -e .
	$(LOWEST)/bin/python -m pytest -p no:cacheprovider -m "not slow and not browser" $(LOWEST_TESTS)

clean:
	rm -rf $(VENV) $(LOWEST) var test-artifacts .pytest_cache
