# Everything runs from .venv, built by uv from the committed uv.lock: `make run` installs what serving
# needs, every other target the development tools too (uv's `dev` dependency group).
# Needs only CPython 3.11 or newer, pip and make: uv itself is installed into .tools/ on first use.

# The interpreter .venv is built with: PYTHON when named (`make run PYTHON=python3.13`), else the first
# of PYTHONS that is CPython 3.11 or newer, looked for once. A named one is checked at every run, and uv
# builds .venv again when it was built with another.
PYTHONS := python3 python3.13 python3.12 python3.11
SUPPORTED := import sys; sys.exit(sys.implementation.name != "cpython" or sys.version_info < (3, 11))
ifeq ($(origin PYTHON),undefined)
PYTHON = $(eval PYTHON := $(shell for python in $(PYTHONS); do \
	$$python -c '$(SUPPORTED)' 2>/dev/null && { echo $$python; break; }; done))$(PYTHON)
NO_PYTHON = none of $(PYTHONS) is one
else
SYNC_AGAIN := FORCE
NO_PYTHON = PYTHON=$(PYTHON) is not one
endif
NEXT_STEP := install one (apt install python3.12, dnf install python3.13, brew install python@3.13 or \
	pyenv install 3.13), or name the one you have: make run PYTHON=/path/to/python3.13
CHECK_PYTHON = @[ -n "$(PYTHON)" ] && $(PYTHON) -c '$(SUPPORTED)' 2>/dev/null || \
	{ echo "make: Inkwell needs CPython 3.11 or newer, and $(NO_PYTHON): $(NEXT_STEP)" >&2; exit 1; }

UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV ?= .venv
BIN := $(VENV)/bin
SERVING := $(VENV)/.serving
INSTALLED := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: install run test coverage fuzz lint format check-migrations bench bench-quick docs docs-tables clean FORCE

install: $(INSTALLED)

# pip --target needs no venv module (Debian's python3 may ship without ensurepip), and is allowed where
# the system's Python is managed by the distribution; uv builds .venv itself.
$(UV):
	$(CHECK_PYTHON)
	@$(PYTHON) -m pip --version >/dev/null 2>&1 || \
		{ echo "make: $(PYTHON) has no pip: install it (Debian, Ubuntu: apt install python3-pip)" >&2; exit 1; }
	$(PYTHON) -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
		--target $(TOOLS) "uv==$(UV_VERSION)"

# Bytecode compiled once here: where PYTHONDONTWRITEBYTECODE is set, every `inkwell` process would
# otherwise compile the whole dependency tree again as it starts (8 s instead of 3 on a slow machine).
# What serving needs (--no-dev), leaving the development tools of an earlier `make install` in place.
$(SERVING): $(UV) pyproject.toml uv.lock $(SYNC_AGAIN)
	$(CHECK_PYTHON)
	$(UV) sync --frozen --compile-bytecode --no-dev --inexact --python $(PYTHON)
	@touch $@

# Everything: what serving needs, and the tools that test, lint, document and measure it.
$(INSTALLED): $(UV) pyproject.toml uv.lock $(SYNC_AGAIN)
	$(CHECK_PYTHON)
	$(UV) sync --frozen --compile-bytecode --python $(PYTHON)
	@touch $@ $(SERVING)

run: $(SERVING)
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

FORCE:

clean:
	rm -rf $(VENV) $(TOOLS) .pytest_cache .mypy_cache .ruff_cache .coverage site
