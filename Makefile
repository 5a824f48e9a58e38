# Two commands do all set-up on a fresh machine:
#   make demo   creates .venv, installs stbench, trains and scores every model on the demo cohort in a fresh
#               demo-results/ (git-ignored) and renders its leaderboard there (markdown, figures, CSVs, web page)
#   make test   same environment, runs the test suite (slow tests included)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR := demo-results
DEMO_RESULTS := $(DEMO_DIR)/results
LEADERBOARD := leaderboard

.PHONY: demo test install bench clean-demo leaderboard chromium

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/stbench run --model all --cohort demo --results $(DEMO_RESULTS)
	$(BIN)/stbench report --results $(DEMO_RESULTS) --out $(DEMO_DIR)/demo.md --html $(DEMO_DIR)
	@echo "Leaderboard: $(DEMO_DIR)/demo.md and $(DEMO_DIR)/index.html (the committed reference is $(LEADERBOARD)/)"

# Replace the committed reference leaderboard by a fresh demo run (maintainers; checkpoints stay out of git).
leaderboard: clean-demo demo
	rm -rf $(LEADERBOARD)/results $(LEADERBOARD)/figures $(LEADERBOARD)/exports
	cp -r $(DEMO_RESULTS) $(LEADERBOARD)/results
	find $(LEADERBOARD)/results -name '*.safetensors' -delete
	find $(LEADERBOARD)/results -path '*/fold[1-9]/predictions' -prune -exec rm -rf {} +  # ~1 MB a cell: keep fold 0's
	$(BIN)/stbench report --results $(LEADERBOARD)/results --out $(LEADERBOARD)/demo.md --html $(LEADERBOARD)

chromium:
	-bash scripts/ensure-chromium.sh  # the browser test skips (fails under CI=true) without it

test: $(STAMP) chromium
	$(BIN)/python -m pytest -m "not benchmark_large"

bench: $(STAMP)
	$(BIN)/python -m pytest tests/benchmarks -m "benchmark_large" -s --benchmark-enable

clean-demo:
	rm -rf $(DEMO_DIR)
