# Atelier — developer commands. `make test` and `make run` work on a fresh machine
# with Python 3.11+ and make: the first run creates .venv and installs everything.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# CPU build for development and CI; GPU operators install the torch that fits their
# CUDA driver and then `pip install .[worker]`, whose torch range stays open.
TORCH_SPEC ?= torch==2.13.0

export ATELIER_MODEL_DIR ?= $(CURDIR)/models
# rembg imports numba (through pymatting); a persistent cache saves its JIT on every start.
export NUMBA_CACHE_DIR ?= $(CURDIR)/var/numba-cache

.PHONY: install run test lint format models bench bench-smoke bench-pipelines bench-latency schema clean clients

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

# GraphiQL's assets, served by the web node itself (project/ide.py): the locked npm
# packages, and the files the page loads copied into dist/ (npm comes with the venv).
GRAPHIQL := project/graphiql
$(GRAPHIQL)/dist/.built: $(GRAPHIQL)/package.json $(GRAPHIQL)/package-lock.json $(GRAPHIQL)/vendor.mjs | $(VENV)/.installed
	cd $(GRAPHIQL) && PATH="$(CURDIR)/$(BIN):$$PATH" sh -c "npm ci --prefer-offline --no-audit --no-fund && node vendor.mjs"
	touch $@

install: $(VENV)/.installed $(GRAPHIQL)/dist/.built

# Serves GraphQL (GraphiQL in a browser) on 127.0.0.1:8000 with one worker.
# The demo models are fetched first (once); without them background removal fails.
run: install
	-$(BIN)/python -m pipelines.fetch
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m project.run

test: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The demo set by default; name others: `make models MODELS="sd15 buffalo_l"`.
models: install
	$(BIN)/python -m pipelines.fetch $(MODELS)

# Re-export schema.graphql after changing the API (a test fails when it drifts).
schema: install
	$(BIN)/python -m graph.export schema.graphql

# Every benchmark, one table, bench/results/latest.json (several minutes; not part of
# `make test`).
bench: install
	$(BIN)/python -m bench

# The quick form of every benchmark, checked end to end (about a minute here; also run by
# `make test`).
bench-smoke: install
	$(BIN)/pytest -q bench/smoke_test.py

bench-pipelines: install
	$(BIN)/python -m bench.pipelines

bench-latency: install
	$(BIN)/python -m bench.latency

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .mypy_cache clients/typescript/node_modules \
		$(GRAPHIQL)/node_modules $(GRAPHIQL)/dist tests/clients/ecosystem/node_modules

# The TypeScript client (Node.js and npm come with the venv): install its locked packages, regenerate
# clients/typescript/src/generated/graphql.ts from schema.graphql and its operations
# and clients/typescript/persisted-documents.json (its trusted documents) from them (commit
# both; a test fails when either drifts), and type-check it.
clients: install
	cd clients/typescript && PATH="$(CURDIR)/$(BIN):$$PATH" sh -c "npm ci --prefer-offline --no-audit --no-fund && npm run codegen && npm run persist && npm run check"
