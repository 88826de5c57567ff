# The two commands a new machine needs: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
BIN := .venv/bin
export UV_PYTHON_DOWNLOADS := never

.PHONY: run test install services migrate lint bench clean

## run: install, start local Postgres/Redis if needed, migrate, run API + worker (Ctrl-C stops both;
## either is started again if it dies; exits 1 if the API cannot start, e.g. its port is taken)
run: install services migrate
	@exec $(BIN)/dnc run

# The Redis-facing tests again, with the mirror on a private 3-master Redis Cluster
CLUSTER_TESTS := tests/integration/test_lookup.py tests/integration/test_mirror_concurrency.py \
	tests/integration/test_cli_end_to_end.py tests/api/test_fast_check.py tests/api/test_add.py \
	tests/api/test_enable_disable.py tests/api/test_list_management.py \
	tests/integration/test_reconcile.py tests/integration/test_import_write_path.py \
	tests/integration/test_import_concurrency.py tests/integration/test_model_based.py \
	tests/api/test_lists_and_prefixes.py tests/integration/test_list_mirrors.py \
	tests/integration/test_shared_lists.py tests/api/test_shared_lists_api.py

## test: install, start local Postgres/Redis if needed, install Chromium for the console's browser
## tests if needed, lint, type-check, run every test
## (then the Redis-facing ones on a Redis Cluster)
test: install lint
	@bash .ci/services --for-tests
	@bash .ci/chromium
	$(BIN)/pytest
	DNC_TEST_REDIS_CLUSTER=1 $(BIN)/pytest -q -m "not single_redis" $(CLUSTER_TESTS)

install: $(UV)
	$(UV) sync --frozen --python $(PYTHON) --quiet

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet "uv==$(UV_VERSION)"

services:
	@bash .ci/services

migrate:
	$(BIN)/dnc db upgrade

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## bench: the speed benchmarks under tests/bench (not part of `make test`)
bench: install services
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && apt-get install -y -qq wrk >/dev/null; } || { echo "install wrk (apt-get install wrk)"; exit 1; }
	$(BIN)/pytest tests/bench -o addopts="" -p no:cacheprovider -s -q

clean:
	rm -rf .venv $(TOOLS) .mypy_cache .ruff_cache .pytest_cache
