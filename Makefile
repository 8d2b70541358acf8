# Two commands on a fresh machine: `make demo` and `make test`. Each creates .venv when needed, installs the
# system libraries (libfluidsynth) and the project with everything it needs, then runs.
VENV    ?= .venv
PYTHON  ?= python3
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.symdiff-installed
PYTEST_ARGS ?=

.PHONY: setup demo test test-slow bench docs bundled-model lint format clean

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

# how the bundled model (symdiff/assets/default) is made: about 10 min of preparation and an hour of training on 2 cores
bundled-model: setup
	$(BIN)/symdiff prepare corpus bach,palestrina,monteverdi,essenFolksong data/corpus4 --layout voices --steps-per-beat 4 --workers 2
	$(BIN)/symdiff train --data data/corpus4 --config configs/bundled.toml --out runs/bundled
	$(BIN)/python scripts/bundle_model.py runs/bundled symdiff/assets/default

# the documentation site (MkDocs, Material, mkdocstrings) into build/site; any warning is an error
docs: setup
	$(BIN)/mkdocs build --strict --site-dir build/site

lint: setup
	$(BIN)/ruff check symdiff tests bench examples
	$(BIN)/ruff format --check symdiff tests bench examples

format: setup
	$(BIN)/ruff format symdiff tests bench examples
	$(BIN)/ruff check --fix symdiff tests bench examples

clean:
	rm -rf $(VENV) demo build *.egg-info .pytest_cache
