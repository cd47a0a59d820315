# Two entry points for a fresh clone: `make demo` and `make test`.
# Each creates .venv when missing and (re)installs the project only when pyproject.toml changed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test test-slow lint bench gpu-check install clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/ktn demo

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

test-slow: $(STAMP)
	$(BIN)/python -m pytest -m slow

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/python benchmarks/kg_build.py
	$(BIN)/python benchmarks/eval_speed.py
	$(BIN)/python benchmarks/model_speed.py
	$(BIN)/python benchmarks/train_speed.py

gpu-check: $(STAMP)
	$(BIN)/python benchmarks/gpu_check.py --doc docs/performance.md

clean:
	rm -rf $(VENV) output
