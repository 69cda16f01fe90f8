# Two commands: `make run` serves on the embedded default, `make test` checks everything.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: install run test lint typecheck unit bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	# bubblewrap: the sandbox of Python hooks (they are refused, never run bare, without it).
	command -v bwrap >/dev/null || (apt-get update -qq && apt-get install -y -qq bubblewrap) || \
		echo "bubblewrap not installed: Python hooks will be refused"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	# handlebars.js, the reference the template conformance tests compare against (run by node).
	npm install --silent --no-save --no-audit --no-fund --prefix $(VENV)/npm handlebars@4.7.8
	touch $(STAMP)

run: install
	$(BIN)/integrator serve

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: install
	$(BIN)/mypy src

unit: install
	$(BIN)/pytest -n 2 $(PYTEST_ARGS)

test: lint typecheck unit

bench: install
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk) || \
		echo "wrk not installed: bench/api.py falls back to its Python client"
	$(BIN)/python bench/api.py
	$(BIN)/python bench/mapping.py
	$(BIN)/python bench/templates.py
	$(BIN)/python bench/rest_export.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
