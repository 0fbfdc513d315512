# numerai-cloudrun — the verbs users type.
# `make demo` and `make test` need only Python 3.11+; uv is installed with pip if missing.

SHELL := /bin/bash
# uv from PATH, else the copy pip installs (`python3 -m uv` works without PATH changes).
UV ?= $(shell command -v uv 2>/dev/null || echo python3 -m uv)
PYTHON ?= python3
RUN := $(UV) run --frozen --all-extras
# Bytecode compiled at install: without it every start recompiles (see docs/design.md "Start-up time").
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

# --- the job ---------------------------------------------------------------------
.PHONY: rehearse bench-job

rehearse: bootstrap ## the job end to end against a local fake Numerai (scratch dir .rehearsal/)
	$(RUN) python -m local.rehearse

bench-job: bootstrap ## job vs the example-scripts way on a full-size round, all + medium feature sets (scratch .bench/; ~1.5 min, +3 min to train the models on first use)
	$(RUN) python -m tests.bench.bench_job

# --- the dispatcher --------------------------------------------------------------
.PHONY: demo bench-dispatcher

demo: bootstrap ## whole system offline: fake Numerai, dispatcher (local mode), two webhooks → submissions
	$(RUN) python -m local.demo

bench-dispatcher: bootstrap ## dispatcher cold start, round-open burst, warm latency, memory (fake API)
	$(RUN) python -m tests.bench.bench_dispatcher

# --- deployment and operation --------------------------------------------------
# Deployment verbs: python -m ops (standard library only, so no .venv is needed).
# Inputs are make variables, e.g. `make rerun MODEL=all ROUND=612`; every verb prints the
# gcloud commands it runs and DRY_RUN=1 only prints them. PROJECT/REGION default to
# `gcloud config get-value project` / `run/region` (REGION then us-central1).
OPS := $(PYTHON) -m ops

.PHONY: setup release webhook-url rerun status logs cancel image-test test-slow

setup: ## enable APIs; create repository, service accounts, secrets, least-privilege IAM (idempotent)
	@$(OPS) setup

release: ## build + push both images and deploy job and dispatcher (gcloud builds submit)
	@$(OPS) release

# REGISTER=1 talks to Numerai through numerapi, which lives in .venv.
webhook-url: $(if $(REGISTER),bootstrap) ## the webhook URL for MODEL=…; REGISTER=1 sets it on Numerai
	@$(if $(REGISTER),$(RUN) python,$(PYTHON)) -m ops webhook-url

rerun: ## run MODEL=<name|id|all> now [ROUND=…] [TRIGGER=…] (gcloud run jobs execute)
	@$(OPS) rerun

status: ## recent executions: model, round, state, duration [LIMIT=…] [JOB=…]
	@$(OPS) status

logs: ## structured logs of EXECUTION=… or MODEL=… [SINCE=7d] [LIMIT=…] [FORMAT=json]
	@$(OPS) logs

cancel: ## cancel EXECUTION=…
	@$(OPS) cancel

# rotate-token registers the new URLs on Numerai through numerapi: in .venv.
.PHONY: rotate-token
rotate-token: bootstrap ## new webhook token, old one still accepted, new URLs set on Numerai; FINISH=1 drops the old one
	@$(RUN) python -m ops rotate-token

.PHONY: schedule unschedule smoke report alerts alerts-off

# report talks to Numerai through numerapi, which lives in .venv.
report: bootstrap ## did every model submit? [ROUND=current|N] [MODEL=all|name|id,…] [FORMAT=json]
	@$(RUN) python -m ops report

schedule: ## Cloud Scheduler runs MODEL (default all) [CRON="15 13 * * 2-6"] [TIMEZONE=Etc/UTC] [IF_SUBMITTED=skip] [CATCHUP=1: the catch-up check, CRON="40 13 * * 1-6"]
	@$(OPS) schedule

unschedule: ## delete the schedule(s) of MODEL's job(s) (default all) [CATCHUP=1: the catch-up check]; keeps the account
	@$(OPS) unschedule

alerts: ## e-mail EMAIL=… (comma list) when a model or an execution fails (Cloud Monitoring)
	@$(OPS) alerts

alerts-off: ## remove the alert policies and e-mail channels `make alerts` created
	@$(OPS) alerts-off

# smoke talks to the Cloud Run API and Numerai (google-cloud-run, numerapi): in .venv.
smoke: bootstrap ## test webhook for MODEL=… → execution → logs → submission on Numerai
	@$(RUN) python -m ops smoke

image-test: bootstrap ## build both images with buildah and run them (slow; installs buildah)
	$(RUN) pytest -m slow tests/image -s

test-slow: bootstrap ## the slow tests (image builds)
	$(RUN) pytest -m slow -s
