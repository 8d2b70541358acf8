# Two commands on a fresh machine: `make demo` and `make test`. Each creates .venv when needed, installs the
# system libraries (libfluidsynth) and the project with everything it needs, then runs.
VENV    ?= .venv
PYTHON  ?= python3
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.symdiff-installed
PYTEST_ARGS ?=

.PHONY: setup demo test test-slow bench lint format clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt scripts/system-deps.sh
	@bash scripts/system-deps.sh
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[all]'
	@touch $(STAMP)

demo: setup
	$(BIN)/symdiff demo --out demo

test: setup
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

test-slow: setup
	$(BIN)/python -m pytest -q -m slow $(PYTEST_ARGS)

bench: setup
	$(BIN)/python bench/bench_convert.py

lint: setup
	$(BIN)/ruff check symdiff tests bench examples
	$(BIN)/ruff format --check symdiff tests bench examples

format: setup
	$(BIN)/ruff format symdiff tests bench examples
	$(BIN)/ruff check --fix symdiff tests bench examples

clean:
	rm -rf $(VENV) demo build *.egg-info .pytest_cache
