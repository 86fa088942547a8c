# Two entry points: `make demo` (autofocus on the simulated microscope) and `make test`.
# Each creates .venv with the Python on PATH and installs what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: demo test lint typecheck bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,zaber,micromanager,pymicroscope,genicam,batch,gui]"
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/autofocus demo

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/metrics.py
	$(BIN)/python benchmarks/search.py
	$(BIN)/python benchmarks/real_data.py
	$(BIN)/python benchmarks/sim_render.py

clean:
	rm -rf $(VENV) out
