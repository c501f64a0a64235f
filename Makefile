# Two entry points: `make report` and `make test`. Both create .venv when missing and
# reinstall only when pyproject.toml is newer than the last install.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: report test lint bench mutation clean-venv

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

report: $(STAMP)
	$(BIN)/blastic-meta report

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

# mutation testing of PATHS (files or folders under src/blastic_meta); not run in CI
PATHS ?= src/blastic_meta/review/prose.py
TESTS ?=
mutation: $(STAMP)
	$(BIN)/python tests/mutation.py $(PATHS) $(if $(TESTS),--tests $(TESTS)) $(if $(SURVIVORS),--survivors)

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_pooling.py --report .

clean-venv:
	rm -rf $(VENV)
