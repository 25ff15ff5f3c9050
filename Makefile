# grid-backend: `make run` serves the demo, `make test` runs the suite on SQLite and PostgreSQL.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PICCOLO_CONF := grid_backend.piccolo_conf
PG_TEST_URL ?= postgresql://postgres@127.0.0.1:5432/test

.DEFAULT_GOAL := help

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) ## create .venv and install the project with its dev tools

run: $(STAMP) ## migrate a SQLite database, load the demo if empty, serve on 127.0.0.1:8000
	$(BIN)/grid-backend migrate
	$(BIN)/grid-backend seed demo --if-empty
	$(BIN)/grid-backend serve

# the two engines' runs share nothing (own database, temporary directory, Redis prefix, free
# ports, screenshots named by engine) and each leaves a core mostly idle waiting on its server
# and browser: run them side by side, each one's output shown whole when it ends
test: $(STAMP) ## the whole suite on SQLite and on PostgreSQL, the two runs side by side
	@$(MAKE) --no-print-directory -j2 --output-sync=target test-sqlite test-pg

test-sqlite: $(STAMP) ## the suite on SQLite only
	GRID_DATABASE_URL=sqlite:///$(CURDIR)/.pytest-data/test.sqlite3 $(BIN)/pytest -q --durations=15

test-pg: $(STAMP) ## the suite on PostgreSQL only
	GRID_DATABASE_URL=$(PG_TEST_URL) $(BIN)/pytest -q --durations=15

fuzz: $(STAMP) ## a bigger schemathesis run (FUZZ_EXAMPLES=50 per operation) on both engines; `make test` runs 5
	GRID_DATABASE_URL=sqlite:///$(CURDIR)/.pytest-data/test.sqlite3 FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-50} $(BIN)/pytest -q tests/test_fuzz_api.py
	GRID_DATABASE_URL=$(PG_TEST_URL) FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-50} $(BIN)/pytest -q tests/test_fuzz_api.py

lint: $(STAMP) ## ruff check (complexity rules included) and format check, the layer contract, mypy
	$(BIN)/ruff check grid_backend tests benchmarks
	$(BIN)/ruff format --check grid_backend tests benchmarks
	$(BIN)/lint-imports
	$(BIN)/mypy grid_backend

typecheck: $(STAMP) ## mypy over grid_backend alone (part of lint)
	$(BIN)/mypy grid_backend

layers: $(STAMP) ## the layer contract alone (import-linter, pyproject.toml; part of lint)
	$(BIN)/lint-imports

format: $(STAMP) ## format the code
	$(BIN)/ruff format grid_backend tests benchmarks
	$(BIN)/ruff check --fix grid_backend tests benchmarks

bench: bench-locate bench-intake bench-patrols bench-reads bench-notify bench-callout bench-decode bench-metrics bench-riskmap bench-evacuation bench-storm bench-own-data bench-webhooks bench-open311 ## every benchmark (JSON on stdout)

bench-locate: $(STAMP) ## locate on the city seed (PostgreSQL)
	$(BIN)/python benchmarks/locate.py

bench-intake: $(STAMP) ## photo reports over HTTP (SQLite; --database-url for PostgreSQL)
	$(BIN)/python benchmarks/intake.py

bench-patrols: $(STAMP) ## patrol tasks for 62,000 plans
	$(BIN)/python benchmarks/patrols.py

bench-reads: $(STAMP) ## me/tasks against a bare endpoint, SQLite against PostgreSQL, 2 workers against 1 (needs Redis)
	$(BIN)/python benchmarks/reads.py $${REDIS_URL:+--redis-url $$REDIS_URL}

bench-open311: $(STAMP) ## Open311: GET of 1,000 cases, text-only POSTs (PostgreSQL)
	$(BIN)/python benchmarks/open311.py

bench-notify: $(STAMP) ## 20,000 notifications to a local webhook sink
	$(BIN)/python benchmarks/notify.py

bench-webhooks: $(STAMP) ## 5,000 case events to a local webhook subscriber, against as many pushes
	$(BIN)/python benchmarks/webhooks.py

bench-callout: $(STAMP) ## a red warning over a district: 100,000 called out, delivery, acks/s
	$(BIN)/python benchmarks/callout.py

bench-decode: $(STAMP) ## peak and retained RSS of 8 concurrent 7,700 x 7,700 px PNG uploads
	$(BIN)/python benchmarks/decode_memory.py

bench-store: $(STAMP) ## photo stores: keep and read on local disk and on moto's S3 server
	$(BIN)/python benchmarks/photo_store.py

bench-metrics: $(STAMP) ## the /metrics meter's CPU per request (after bench-patrols)
	$(BIN)/python benchmarks/metrics_overhead.py

bench-riskmap: $(STAMP) ## the densest demo community's risk-map PDF on A4/A3, portrait/landscape (PostgreSQL; target <= 3 s)
	$(BIN)/python benchmarks/riskmap.py $(RISKMAP_ARGS)

bench-evacuation: $(STAMP) ## start an evacuation of 50,000 households over 3,846 grids, the boards, phones' status updates (PostgreSQL, Redis; targets 10 s, 1 s / 300 ms, 500/s)
	$(BIN)/python benchmarks/evacuation.py

bench-storm: $(STAMP) ## storm day: red warning over 5 districts, 5 min of mixed traffic, reconciled (PostgreSQL, Redis)
	@$(BIN)/python benchmarks/storm.py $(STORM_ARGS)

bench-own-data: $(STAMP) ## a resident's data export: 50 reports with photos (SQLite; --database-url for PostgreSQL)
	$(BIN)/python benchmarks/own_data.py

clean: ## remove the venv and local data
	rm -rf $(VENV) data .pytest-data .pytest_cache

.PHONY: help install run test test-sqlite test-pg lint typecheck layers format bench bench-locate bench-intake bench-patrols bench-notify bench-callout bench-decode bench-metrics bench-riskmap bench-evacuation bench-webhooks bench-open311 clean
