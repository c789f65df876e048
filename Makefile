# One venv for every target; each target installs what it needs itself.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test lint typecheck pytest bench bench-backend bench-analysis bench-redis demo clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench demo examples
	$(BIN)/ruff format --check src tests bench demo examples

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest --cov --cov-report=term-missing

test: lint typecheck pytest

bench: $(STAMP)
	$(BIN)/python bench/frontend.py

bench-backend: $(STAMP)
	$(BIN)/python bench/backend.py

bench-analysis: $(STAMP)
	$(BIN)/python bench/analysis.py

bench-redis: $(STAMP)
	$(BIN)/python bench/redisstream.py

demo: $(STAMP)
	$(BIN)/python -m demo.run $(DEMO_ARGS)

clean:
	rm -rf $(VENV) .coverage .mypy_cache .pytest_cache .ruff_cache
