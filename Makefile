# Two commands do all set-up on a fresh machine:
#   make demo   creates .venv, installs stbench, runs every model on the demo cohort, writes the leaderboard
#   make test   same environment, runs the test suite (slow tests included)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_RESULTS := leaderboard/results

.PHONY: demo test install bench clean-demo

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/stbench run --model all --cohort demo --results $(DEMO_RESULTS)
	$(BIN)/stbench report --results $(DEMO_RESULTS) --out leaderboard/demo.md

test: $(STAMP)
	$(BIN)/python -m pytest -m "not benchmark_large"

bench: $(STAMP)
	$(BIN)/python -m pytest tests/benchmarks -m "benchmark_large" -s --benchmark-enable

clean-demo:
	rm -rf $(DEMO_RESULTS) leaderboard/demo.md
