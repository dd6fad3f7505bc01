# The two commands of the README: `make run` (main job) and `make test` (whole test suite).
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
STAMP = $(VENV)/.installed

.PHONY: run test lint install clean bench bench-site bench-serve bench-sirene metadata readme

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/marches demo -o sortie

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) sortie .pytest_cache .ruff_cache

# The benchmark (about 20 minutes up to 300 000 contracts): results in benchmarks/results.md and the README.
SIZES ?= 10000 100000 300000
bench: $(STAMP)
	$(BIN)/python benchmarks/bench.py --sizes $(SIZES) --readme README.md

# The platform at national scale (build ~15 min): results in benchmarks/site-results.md and the README.
bench-site: $(STAMP)
	$(BIN)/python benchmarks/site.py --readme README.md

# The platform under load (20 clients, 60 s) on the database bench-site built: results in
# benchmarks/load-results.md and the README.
bench-serve: $(STAMP)
	$(BIN)/python benchmarks/load.py --readme README.md

# SIRENE at national scale (40 M establishments, ~25 min): results in benchmarks/sirene-results.md and the README.
bench-sirene: $(STAMP)
	$(BIN)/python benchmarks/sirene.py --readme README.md

# metadata.yml is generated from marches/site.py (a test checks they agree)
metadata: $(STAMP)
	$(BIN)/marches metadata > metadata.yml

# README sections stated by the code (rule tables, regulatory facts, thresholds, example and demo outputs)
readme: $(STAMP)
	$(BIN)/python -m marches.readme --demo
