VENV := .venv
PY := $(VENV)/bin/python

.PHONY: setup test lint unit docs clean

setup:
	scripts/setup

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

unit: setup
	$(PY) -m pytest

# Every check the project has: lint, types, the documentation's freshness, all tests.
test: lint
	$(PY) -m pytest

docs: setup
	$(PY) scripts/generate_configuration_reference.py > docs/configuration.md

clean:
	rm -rf $(VENV) build dist .mypy_cache .pytest_cache .ruff_cache
