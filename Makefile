VENV := .venv
PY := $(VENV)/bin/python

.PHONY: setup test lint docs demo bench reliability clean

setup:
	scripts/setup

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# Every check the project has: lint, types, the documentation's freshness, all tests.
test: lint
	$(PY) -m pytest

# The plugin in a real Orthanc, against a local OAuth2 provider and a protected DICOMweb
# server; runs until Ctrl-C. PROVIDER=keycloak: a real Keycloak instead of
# node-oidc-provider.
demo: setup
	$(PY) -m local_rig.demo $(if $(PROVIDER),--provider $(PROVIDER))

# Figures printed, written to test-artifacts/bench.json and docs/performance.md (about
# 15 minutes); `python -m local_rig.bench --document FILE` writes the document again from
# the figures of a run. The test suite runs only `python -m local_rig.bench --smoke`.
bench: setup
	$(PY) -m local_rig.bench --write-docs

# docs/reliability.md from the tests that measure it (about 8 minutes); `make test`
# writes the same figures to test-artifacts/reliability.md only.
reliability: setup
	$(PY) -m pytest tests/integration/test_fault_scenarios.py tests/e2e/test_reliability.py \
		tests/e2e/test_recovery.py tests/e2e/test_healing.py tests/e2e/test_replicas.py \
		--reliability-report docs/reliability.md

docs: setup
	$(PY) scripts/generate_configuration_reference.py > docs/configuration.md

# .local-rig holds the Debian chroots: nothing may be mounted in them, and rm stays on
# their file system.
clean:
	@if grep -qs " $(CURDIR)/.local-rig/" /proc/self/mountinfo; then \
		echo "something is mounted under .local-rig: unmount it first" >&2; exit 1; fi
	rm -rf --one-file-system $(VENV) .local-rig build dist .mypy_cache .pytest_cache .ruff_cache
