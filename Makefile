# One venv with everything (.[dev]) for the tests, lints and benchmarks; the
# demo has its own with only the extras it runs, as a site would install them.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_VENV ?= .venv-demo
DEMO_STAMP := $(DEMO_VENV)/.installed

.PHONY: test lint typecheck docs pytest bench bench-backend bench-analysis bench-redis bench-startup demo clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

$(DEMO_STAMP): pyproject.toml
	$(PYTHON) -m venv $(DEMO_VENV)
	$(DEMO_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(DEMO_VENV)/bin/python -m pip install --quiet -e '.[server,dashboard]'
	touch $(DEMO_STAMP)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench demo examples docs/conf.py docs/_ext
	$(BIN)/ruff format --check src tests bench demo examples docs/conf.py docs/_ext
	$(BIN)/lint-imports --no-cache

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest --cov --cov-report=term-missing

# The documentation site: warnings are errors, cross-references nitpicked.
docs: $(STAMP)
	$(BIN)/sphinx-build -b html -E -W --keep-going -n -q docs docs/_build/html

test: lint typecheck docs pytest

bench: $(STAMP)
	$(BIN)/python bench/frontend.py

bench-backend: $(STAMP)
	$(BIN)/python bench/backend.py

bench-analysis: $(STAMP)
	$(BIN)/python bench/analysis.py

bench-redis: $(STAMP)
	$(BIN)/python bench/redisstream.py

bench-startup: $(STAMP)
	$(BIN)/python bench/startup.py

demo: $(DEMO_STAMP)
	$(DEMO_VENV)/bin/python -m demo.run $(DEMO_ARGS)

clean:
	rm -rf $(VENV) $(DEMO_VENV) docs/_build .coverage .mypy_cache .pytest_cache .ruff_cache
