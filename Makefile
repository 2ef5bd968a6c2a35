# Tryggheim: the two README commands (`make demo`, `make test`) set everything up from nothing.
# Python packages come only from the committed lock (uv.lock); `uv sync --locked` refuses to run when
# pyproject.toml and the lock disagree. Debian packages are installed when run as root and missing.

SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= $(shell command -v python3.11 || command -v python3)
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)
# Use the operating system's certificate store, as pip does (some networks re-sign TLS).
export UV_NATIVE_TLS := true
PYTEST_WORKERS ?= 2
FUZZ_SECONDS ?= 60

.PHONY: help demo test check lint types imports unit fuzz lock i18n sysdeps clean devices-doc web-assets screenshots

help:
	@echo "make demo   - run Tryggheim on embedded defaults (private PostgreSQL, simulated homes)"
	@echo "make test   - lint, type checks, import contracts and the whole test suite"
	@echo "make check  - the fast subset for iteration (lint, types, unit tests)"

# --- set-up ----------------------------------------------------------------------------------------

$(UV):
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python >= 3.11 is required"'
	@if ! $(PYTHON) -m venv --help >/dev/null 2>&1 || ! $(PYTHON) -c 'import ensurepip' 2>/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq python3-venv; \
	  else echo "python3-venv is missing: run 'sudo apt-get install python3-venv'"; exit 1; fi; fi
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: $(UV) uv.lock pyproject.toml
	$(UV) sync --locked --all-extras --python $(PYTHON)
	@touch $@

sysdeps:
	@missing=""; \
	ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v mosquitto >/dev/null 2>&1 || missing="$$missing mosquitto"; \
	command -v npm >/dev/null 2>&1 || missing="$$missing npm"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	  else echo "missing Debian packages:$$missing (run as root, or install them)"; exit 1; fi; fi

# The web pages' browser packages come from npm by the committed lock (package-lock.json); only the files the
# pages load are copied next to our own static files, into an ignored folder. Nothing third-party is committed.
WEB_VENDOR := cloud/web/static/vendor
$(WEB_VENDOR)/.copied: package.json package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "npm is missing: run 'make sysdeps' as root, or install npm"; exit 1; }
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	mkdir -p $(WEB_VENDOR)
	cp node_modules/htmx.org/dist/htmx.min.js node_modules/uplot/dist/uPlot.iife.min.js \
	  node_modules/uplot/dist/uPlot.min.css $(WEB_VENDOR)/
	@touch $@

web-assets: $(WEB_VENDOR)/.copied

venv: $(VENV)/.synced web-assets

# --- the two commands ------------------------------------------------------------------------------

demo: sysdeps venv
	$(BIN)/tryggheim demo

test: sysdeps venv lint types imports
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadgroup --cov --cov-report=term:skip-covered --cov-report=xml

check: venv lint types imports
	$(BIN)/pytest -n $(PYTEST_WORKERS) -m "not slow" -q

# --- pieces ----------------------------------------------------------------------------------------

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: venv
	$(BIN)/mypy common tryggheim device_profiles edge cloud alerts

imports: venv
	$(BIN)/lint-imports

# Coverage-guided fuzzing of the SIG decoders; not part of `make test`. atheris comes with the dev extra
# (a manylinux x86_64 wheel); elsewhere it is built from source, which needs clang and libFuzzer.
fuzz: venv
	@$(BIN)/python -c 'import atheris' 2>/dev/null || $(UV) pip install --python $(BIN)/python atheris
	mkdir -p .state/fuzz
	$(BIN)/python tests/fuzz/fuzz_sig.py -max_total_time=$(FUZZ_SECONDS) -artifact_prefix=.state/fuzz/ .state/fuzz

# docs/devices.md is generated from device_profiles/devices/*.yaml; a test fails when it is stale.
devices-doc: venv
	$(BIN)/tryggheim profiles docs --output docs/devices.md

# docs/screenshots/*.png: every page at 1366x768 and 390x844 on a private demo-like service (embedded PostgreSQL,
# the demo's accounts, 90 days of simulated readings) in Debian's Chromium; a page that does not answer 200 stops
# it. SCREENSHOTS="worklist alert" shoots some pages only (names: tryggheim/demo/screenshots.py, PAGES).
screenshots: sysdeps venv
	$(BIN)/python -m tryggheim.demo.screenshots $(foreach page,$(SCREENSHOTS),--only $(page))

lock: $(UV)
	$(UV) lock --python $(PYTHON)

i18n: venv
	for po in common/locale/*/LC_MESSAGES/tryggheim.po; do \
	  $(BIN)/pybabel compile --use-fuzzy -i $$po -o $${po%.po}.mo; done

clean:
	rm -rf $(VENV) $(TOOLS) .pytest_cache .mypy_cache .ruff_cache .coverage* coverage.xml
