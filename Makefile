# numerai-cloudrun — the verbs users type.
# `make demo` and `make test` need only Python 3.11+; uv is installed with pip if missing.

SHELL := /bin/bash
# uv from PATH, else the copy pip installs (`python3 -m uv` works without PATH changes).
UV ?= $(shell command -v uv 2>/dev/null || echo python3 -m uv)
PYTHON ?= python3
RUN := $(UV) run --frozen --all-extras
# Bytecode compiled at install: without it every start recompiles (see DESIGN.md "Timing").
SYNC := $(UV) sync --frozen --all-extras --compile-bytecode

.PHONY: help bootstrap test lint

help:
	@grep -E '^[a-z][a-z-]*:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | sort

bootstrap: .venv/.synced ## install uv if missing, create .venv from uv.lock

.venv/.synced: pyproject.toml uv.lock
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv
	$(SYNC)
	@touch $@

test: bootstrap ## run the default test suite (what CI runs)
	$(RUN) pytest

lint: bootstrap ## ruff
	$(RUN) ruff check .

# --- job (issue: job) ---------------------------------------------------------

# --- dispatcher (issue: dispatcher) --------------------------------------------

# --- deployment (issue: delivery) ----------------------------------------------
