# The two commands the README starts with. Each bootstraps .venv from scratch when it is missing.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint bench site clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

## demo: the full update on the bundled sample (codesets/sample), offline
demo: $(STAMP)
	$(BIN)/codegov update --mirror codesets/sample --offline

## test: lint and the whole test suite (real-data tests need ../shared/data/cms)
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/pytest

## bench: every stage on the real files in ../shared/data/cms; writes build/bench.json
bench: $(STAMP)
	$(BIN)/python -m bench

## site: build the MkDocs site into site/
site: $(STAMP)
	$(BIN)/codegov site

clean:
	rm -rf $(VENV) build site cache codesets/releases codesets/releases-sample site_src/generated .pytest_cache .ruff_cache
