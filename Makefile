# The README's commands. Everything installs into ./.venv from the project's own files.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.stamp-run
TEST_STAMP := $(VENV)/.stamp-test
# Test processes (pytest-xdist): many tests wait on sockets and timers, so more than the cores.
TEST_WORKERS ?= 4

.PHONY: run test lint bench drills clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@ $(RUN_STAMP)

# The independent SMSC of the interoperability tests (npm `smpp`); skipped without npm.
INTEROP_STAMP := tests/interop/node_modules/.stamp
$(INTEROP_STAMP): tests/interop/package-lock.json
	@if command -v npm >/dev/null; then \
		npm ci --prefix tests/interop --no-audit --no-fund --loglevel=error && touch $@; \
	else echo "npm not found: the SMPP interop tests will be skipped"; fi

run: $(RUN_STAMP)  ## install and start todoke on the embedded defaults
	$(BIN)/todoke serve

test: $(TEST_STAMP) $(INTEROP_STAMP)  ## install the test extras and run the whole suite
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pytest -n $(TEST_WORKERS)

bench: $(TEST_STAMP)  ## benchmarks: one table of figures (see docs/performance.md)
	$(BIN)/python -m bench

drills: $(TEST_STAMP)  ## reliability drills: crash, SMSC and PostgreSQL outages, one verdict each
	$(BIN)/python -m bench.drills

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
