# Two entry points on a fresh machine with only Python 3.10+:
#   make demo   set up .venv and run the quickstart (train, sample, metrics, picture)
#   make test   set up .venv and run the default test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_PIN := torch==2.13.0

.PHONY: setup demo test test-slow lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# torch first, pinned to the CPU build when no torch is present: an unpinned torch would pull a CUDA build.
$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q $(TORCH_PIN)
	$(BIN)/python -m pip install -q -e ".[test,data]"
	$(BIN)/python -m pip install -q --no-deps -r requirements-data.txt
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(BIN)/python scripts/quickstart.py --output outputs/quickstart

test: setup
	$(BIN)/python -m pytest -q

test-slow: setup
	$(BIN)/python -m pytest -q -m slow

lint: setup
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) runs outputs
