# Everything runs from .venv, built by uv from the committed uv.lock.
# Needs only Python 3.11, pip and make: uv itself is installed into .tools/ on first use.

PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: install run test coverage fuzz lint format check-migrations bench bench-quick docs docs-tables clean

install: $(INSTALLED)

# pip --target needs no venv module (Debian's python3 may ship without ensurepip); uv builds .venv itself.
$(UV):
	$(PYTHON) -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
		--target $(TOOLS) "uv==$(UV_VERSION)"

# Bytecode compiled once here: where PYTHONDONTWRITEBYTECODE is set, every `inkwell` process would
# otherwise compile the whole dependency tree again as it starts (8 s instead of 3 on a slow machine).
$(INSTALLED): $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --compile-bytecode --python $(PYTHON)
	@touch $@

run: install
	$(BIN)/inkwell db upgrade
	$(BIN)/inkwell serve --host $(HOST) --port $(PORT)

# One pytest worker per core (pytest-xdist); TEST_WORKERS=0 runs everything in this process.
TEST_WORKERS ?= auto
PYTEST := $(BIN)/pytest -n $(TEST_WORKERS) --dist worksteal
test: install
	$(PYTEST) $(PYTEST_ARGS)

# The same suite measured by coverage.py, its servers and commands included: it takes about twice as
# long (every line traced, in every process), so it is a target of its own.
coverage: install
	$(PYTEST) --cov --cov-report=term --cov-fail-under=90 $(PYTEST_ARGS)

# Schemathesis for longer than `make test` does, with a fresh seed unless FUZZ_SEED names one.
FUZZ_EXAMPLES ?= 500
FUZZ_SEED ?= random
fuzz: install
	INKWELL_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) INKWELL_FUZZ_SEED=$(FUZZ_SEED) \
		$(BIN)/pytest -p no:cacheprovider tests/test_fuzz.py $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The documentation site (docs/, mkdocs.yml) into site/; a broken link or anchor, or a generated table
# that no longer matches the code, fails the build. It reads from the disk too: open site/index.html.
docs: install
	$(BIN)/mkdocs build --strict

# The tables that docs/hooks.py draws from the code (settings, schema revisions), written into the pages.
docs-tables: install
	$(BIN)/python docs/hooks.py

# The load benchmark (needs wrk and a PostgreSQL server; see docs/benchmark.md). BENCH_* variables tune it.
bench: install
	$(BIN)/python -m bench

bench-quick: install
	BENCH_QUICK=1 $(BIN)/python -m bench

clean:
	rm -rf $(VENV) $(TOOLS) .pytest_cache .mypy_cache .ruff_cache .coverage site
