# Two entry points (README): `make demo` and `make test`. Both work on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip

.PHONY: demo test test-fast lint install install-dev graphviz chromium bench grammar clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# graphviz's `dot` renders counterexample traces and trajectory graphs.
graphviz:
	@command -v dot >/dev/null 2>&1 || { \
	  echo "installing the system package graphviz"; \
	  (apt-get update -qq && apt-get install -y -qq graphviz) >/dev/null 2>&1 || \
	  (sudo apt-get update -qq && sudo apt-get install -y -qq graphviz) >/dev/null 2>&1 || \
	  echo "warning: could not install graphviz; DOT files are still written, SVGs are not"; }

# Debian's chromium renders the HTML report in the tests (tests/test_report_browser.py).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing the system package chromium (for the browser test of the HTML report)"; \
	  (apt-get update -qq && apt-get install -y -qq chromium) >/dev/null 2>&1 || \
	  (sudo apt-get update -qq && sudo apt-get install -y -qq chromium) >/dev/null 2>&1 || \
	  echo "warning: could not install chromium; the browser test of the report will be skipped"; }

install: $(BIN)/python graphviz
	$(PIP) install --quiet -e .

install-dev: $(BIN)/python graphviz
	$(PIP) install --quiet -e '.[dev]'

# The main job on the bundled example: validate every example, prove the qualitative checks
# of examples/prefill.libet (counterexamples and proof summaries), then run every check and
# experiment of it, with results, plots, graphs and the HTML report demo-out/report.html.
# The example's shallow policy is meant to fail some checks, so exit code 1 (some check
# violated) is the expected outcome of prove and run; 2 (bad spec) or 3 (unknown) fail the demo.
demo: install
	$(BIN)/libet check examples/*.libet
	$(BIN)/libet prove examples/prefill.libet || [ $$? -eq 1 ]
	$(BIN)/libet run examples/prefill.libet --out demo-out --force || [ $$? -eq 1 ]
	@echo "open demo-out/report.html in a browser: every check and experiment on one page"

test: install-dev chromium lint
	$(BIN)/python -m pytest -q -n 2 tests

# pyflakes and import order over the whole tree (pyproject.toml [tool.ruff.lint]).
lint: install-dev
	$(BIN)/ruff check .

# Everything but the tests marked slow.
test-fast: install-dev
	$(BIN)/python -m pytest -q -n 2 -m "not slow" tests

bench: install-dev
	$(BIN)/python benchmarks/run_all.py

# After editing spec/grammar.lark: recompute the parser tables shipped beside it
# (spec/grammar.tables.json; tests/test_lalr_tables.py fails while they are stale).
grammar: install
	$(BIN)/python -m libet.spec.lalr_tables

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
