# The two commands a new user needs: `make run` (serve on 127.0.0.1:8080) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test lint typecheck check-tests venv deps dev-deps vocabulary bench clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; v = sys.version_info[:2]; sys.exit(0 if (3, 11) <= v < (3, 13) else "Python 3.11 or 3.12 is required (durable-rules does not build on %d.%d); set PYTHON=python3.11" % v)'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.deps: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev-deps: requirements.txt requirements-dev.txt pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	$(BIN)/pip install --quiet --no-deps -e .  # the package itself, for the ldn-batch console script
	touch $@

deps: $(VENV)/.deps
dev-deps: $(VENV)/.dev-deps

run: deps
	$(BIN)/gunicorn -c gunicorn.conf.py service.wsgi:app

# The test command (CI runs it): lint, types, then the suite; any failure fails it.
test: lint typecheck check-tests

lint: dev-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: dev-deps
	$(BIN)/mypy

check-tests: dev-deps
	$(BIN)/python -m pytest

# Rebuild rules/knowledge/data/vocabulary.json from the sources committed in scripts/vocabulary/sources/
# (reference CSVs, FDA UNII names; see its README.md), scripts/vocabulary/curated.yaml and what earlier RxNorm
# releases taught (kept in the committed file); RXNORM=DIR adds an unpacked RxNorm monthly release (the folder holding
# rrf/), REPORT=FILE moves the change report (default build/vocabulary-report.md), and RXNORM_VERSION=V
# RXNORM_DATE=YYYY-MM-DD state the release when neither its RXNSAB.RRF nor its folder name does. Needs only PyYAML
# (in requirements-dev.txt) and no network; the result is byte-identical to the committed file unless an input changed.
vocabulary: dev-deps
	$(BIN)/python scripts/build_vocabulary.py $(if $(RXNORM),--rxnorm $(RXNORM)) $(if $(REPORT),--report $(REPORT)) \
	  $(if $(RXNORM_VERSION),--release-version $(RXNORM_VERSION)) $(if $(RXNORM_DATE),--release-date $(RXNORM_DATE))

# Benchmark (issue 6): the app vs a bare-Flask ceiling under gunicorn.conf.py, driven by wrk; writes bench/results/.
# Options: make bench BENCH_ARGS="--rounds 2 --seconds 5 --soak 0"
bench: dev-deps
	@command -v wrk >/dev/null 2>&1 || { $$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get install -y wrk || \
	  { $$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get update && $$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get install -y wrk; }; }
	$(BIN)/python bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
