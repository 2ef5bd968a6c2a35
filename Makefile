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

.PHONY: help demo test check lint types imports unit fuzz lock i18n sysdeps timescaledb clean devices-doc web-assets \
  screenshots

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
	if [ "$$(id -u)" = 0 ]; then \
	  [ -f /usr/include/postgresql/15/server/postgres.h ] || missing="$$missing postgresql-server-dev-15"; \
	  for tool in cmake gcc make curl; do command -v $$tool >/dev/null 2>&1 || missing="$$missing $$tool"; done; fi; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	  else echo "missing Debian packages:$$missing (run as root, or install them)"; exit 1; fi; fi

# TimescaleDB has no Debian 12 or PyPI package: built once from its source release against Debian's PostgreSQL 15
# headers, cached under .tools, installed into PostgreSQL 15's library and extension folders (as root only).
# Installing files changes no running server: only a server started with shared_preload_libraries=timescaledb
# loads it (the tests' private instance); migration 0002 checks what the server has loaded. The release tarball (a
# `git archive` of the tag) is an offline copy when there is one, TIMESCALEDB_TARBALL or a `vendor/` folder beside
# the checkout, its SHA-256 checked; else the tag's archive is downloaded from GitHub, which compresses differently,
# so the unpacked tree is checked instead (a digest of every file's path and content, taken from the release).
TIMESCALEDB_VERSION := 2.28.3
TIMESCALEDB_SHA256 := ec2f7de0ba53a473c01e0a57e09053898c6b1f7487228caff0f1d31c8cb2dedb
TIMESCALEDB_TREE_SHA256 := a5f8a2d0f1d5b044cf081f213d7eacd871eb622b7b3128abcf29ac0118cc052f
TIMESCALEDB_TARBALL ?= $(firstword $(wildcard $(abspath ..)/*/vendor/timescaledb-$(TIMESCALEDB_VERSION).tar.gz))
TIMESCALEDB_URL := https://github.com/timescale/timescaledb/archive/refs/tags/$(TIMESCALEDB_VERSION).tar.gz
TIMESCALEDB_DIR := $(TOOLS)/timescaledb-$(TIMESCALEDB_VERSION)
PG15_CONFIG := /usr/lib/postgresql/15/bin/pg_config
# The build asks git for "its" commit at every make run; inside our checkout git would answer with ours.
TIMESCALEDB_NO_GIT := GIT_CEILING_DIRECTORIES=$(abspath $(TIMESCALEDB_DIR))
# DESTDIR for a staged install (trying the build without touching the machine's PostgreSQL); empty = the real one.
TIMESCALEDB_DESTDIR ?=

$(TIMESCALEDB_DIR)/.built:
	rm -rf $(TIMESCALEDB_DIR) && mkdir -p $(TIMESCALEDB_DIR)
	@set -euo pipefail; cd $(TIMESCALEDB_DIR); \
	if [ -n "$(TIMESCALEDB_TARBALL)" ]; then \
	  echo "TimescaleDB $(TIMESCALEDB_VERSION) from $(abspath $(TIMESCALEDB_TARBALL))"; \
	  echo "$(TIMESCALEDB_SHA256)  $(abspath $(TIMESCALEDB_TARBALL))" | sha256sum --check --quiet \
	    || { echo "that file is not the TimescaleDB $(TIMESCALEDB_VERSION) release (SHA-256 differs)"; exit 1; }; \
	  tar xzf $(abspath $(TIMESCALEDB_TARBALL)); \
	else \
	  echo "downloading TimescaleDB $(TIMESCALEDB_VERSION) from $(TIMESCALEDB_URL)"; \
	  curl -fsSL --retry 3 -o release.tar.gz $(TIMESCALEDB_URL) || { echo "no copy of the TimescaleDB \
	$(TIMESCALEDB_VERSION) release beside the checkout ($(abspath ..)/*/vendor/) and the download failed: set \
	TIMESCALEDB_TARBALL to the release's tar.gz"; exit 1; }; tar xzf release.tar.gz; rm release.tar.gz; fi; \
	tree=$$(cd timescaledb-$(TIMESCALEDB_VERSION) && { find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum; \
	  find . -type l -printf '%p -> %l\n' | LC_ALL=C sort; } | sha256sum | cut -d' ' -f1); \
	[ "$$tree" = "$(TIMESCALEDB_TREE_SHA256)" ] || { echo "TimescaleDB source tree digest $$tree is not the release's"; exit 1; }
	cd $(TIMESCALEDB_DIR)/timescaledb-$(TIMESCALEDB_VERSION) && $(TIMESCALEDB_NO_GIT) ./bootstrap -DPG_CONFIG=$(PG15_CONFIG) \
	  -DCMAKE_BUILD_TYPE=Release -DREGRESS_CHECKS=OFF -DTAP_CHECKS=OFF -DWARNINGS_AS_ERRORS=OFF -DLINTER=OFF \
	  -DSEND_TELEMETRY_DEFAULT=OFF >../bootstrap.log
	$(TIMESCALEDB_NO_GIT) $(MAKE) -C $(TIMESCALEDB_DIR)/timescaledb-$(TIMESCALEDB_VERSION)/build -j$$(nproc) >$(TIMESCALEDB_DIR)/build.log 2>&1 \
	  || { tail -n 40 $(TIMESCALEDB_DIR)/build.log; exit 1; }
	@touch $@

# As root: build when not cached, install when the library is not in place. Otherwise one line, and the TimescaleDB
# tests are left out (tests/support/timescaledb.py).
timescaledb: sysdeps
	@if [ -f "$(abspath $(TIMESCALEDB_DESTDIR))$$($(PG15_CONFIG) --pkglibdir)/timescaledb-$(TIMESCALEDB_VERSION).so" ]; then \
	  echo "TimescaleDB $(TIMESCALEDB_VERSION) is installed"; \
	elif [ "$$(id -u)" != 0 ]; then \
	  echo "TimescaleDB $(TIMESCALEDB_VERSION) is not installed and building it needs root: its tests are left out"; \
	else \
	  $(MAKE) --no-print-directory $(TIMESCALEDB_DIR)/.built || exit 1; \
	  $(TIMESCALEDB_NO_GIT) $(MAKE) -C $(TIMESCALEDB_DIR)/timescaledb-$(TIMESCALEDB_VERSION)/build install \
	    DESTDIR=$(abspath $(TIMESCALEDB_DESTDIR)) >$(TIMESCALEDB_DIR)/install.log 2>&1 \
	    || { tail -n 20 $(TIMESCALEDB_DIR)/install.log; exit 1; }; \
	  echo "TimescaleDB $(TIMESCALEDB_VERSION) installed"; fi

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

test: sysdeps timescaledb venv lint types imports
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
