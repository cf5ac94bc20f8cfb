# Bakehouse: `make up` runs the platform, `make test` runs the whole test suite.
# Both work on a fresh machine: they create .venv and install what they need.

PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
PORT ?= 8000
CHROMIUM ?= /usr/bin/chromium

.PHONY: up test test-python test-frontend lint frontend venv bench clean chromium help api-types api-types-check

help:
	@echo "make up     - start the whole platform at http://127.0.0.1:$(PORT)"
	@echo "make test   - run every test (Python, frontend units, end-to-end, browser)"
	@echo "make bench  - run the benchmarks (writes bench/results/)"

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e ".[dev]"
	@touch $@

frontend: frontend/dist/index.html

# The frontend's dependencies, installed from the lock file (only when it changed).
frontend/node_modules/.package-lock.json: frontend/package.json frontend/package-lock.json
	cd frontend && npm ci --no-audit --no-fund --loglevel=error

# TypeScript types of the API, generated from the OpenAPI schema drf-spectacular makes of
# the views (a warning fails it: an imprecise schema makes imprecise types). Committed;
# `make lint` fails when they are stale.
API_TYPES := frontend/src/api/schema.d.ts
generate_api_types = $(PY) manage.py spectacular --validate --fail-on-warn --file $(1)/openapi.yaml && \
	(cd frontend && npx --no-install openapi-typescript $(1)/openapi.yaml --output $(1)/schema.d.ts --default-non-nullable false --silent)

api-types: venv frontend/node_modules/.package-lock.json
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	$(call generate_api_types,$$tmp) && cp "$$tmp/schema.d.ts" $(API_TYPES) && echo "wrote $(API_TYPES)"

api-types-check: venv frontend/node_modules/.package-lock.json
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	$(call generate_api_types,$$tmp) && \
	if ! diff -u $(API_TYPES) "$$tmp/schema.d.ts"; then \
		echo "$(API_TYPES) is stale: the API changed. Run 'make api-types' and commit it." >&2; exit 1; \
	fi

FRONTEND_SOURCES := $(shell find frontend/src frontend/index.html frontend/package.json frontend/package-lock.json frontend/vite.config.ts -type f 2>/dev/null)
frontend/dist/index.html: $(FRONTEND_SOURCES)
	@if [ -f frontend/package.json ]; then \
		cd frontend && npm ci --no-audit --no-fund --loglevel=error && npm run build; \
	fi

up: venv frontend
	PORT=$(PORT) $(PY) manage.py up

chromium:
	@test -x $(CHROMIUM) || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

lint: venv api-types-check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

test-frontend: frontend
	@if [ -f frontend/package.json ]; then cd frontend && npm test; fi

test-python: venv frontend chromium
	$(VENV)/bin/pytest

test: lint test-frontend test-python

$(VENV)/.bench-installed: $(VENV)/.installed
	$(PIP) install --quiet -e ".[dev,bench]"
	@touch $@

bench: venv frontend $(VENV)/.bench-installed
	$(PY) -m bench.run_all --rounds 3

clean:
	rm -rf var/run var/log frontend/dist
