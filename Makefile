# Two entry points: `make demo` (autofocus on the simulated microscope) and `make test`.
# Each creates .venv with the Python on PATH (or PYTHON=...) and installs what it needs.
# `make test-all` runs `make test` on every supported Python it finds, one venv each (.venv-3.10, ...).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The stamp names the Python too: a .venv made by another Python is rebuilt, not reused.
PYVER := $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
STAMP := $(VENV)/.installed-$(PYVER)-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
SUPPORTED := 3.10 3.11 3.12 3.13
TEST_ARGS ?=

.PHONY: demo test test-all lint typecheck bench clean

$(STAMP): pyproject.toml
	@test -n "$(PYVER)" || { echo "make: $(PYTHON) does not run; set PYTHON=/path/to/python3.X" >&2; exit 2; }
	$(PYTHON) -m venv --clear $(VENV)
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
	$(BIN)/python -m pytest $(TEST_ARGS)

# Every supported Python found (on PATH as python3.X, or under pyenv), each in its own venv.
test-all:
	@found=0; for v in $(SUPPORTED); do \
	  py=$$(sh .ci/find-python $$v) || { echo "== Python $$v: not found, skipped"; continue; }; \
	  found=1; echo "== Python $$v: $$py"; \
	  $(MAKE) --no-print-directory test PYTHON=$$py VENV=.venv-$$v || exit $$?; \
	done; test $$found = 1 || { echo "no supported Python found" >&2; exit 2; }

bench: $(STAMP)
	$(BIN)/python benchmarks/metrics.py
	$(BIN)/python benchmarks/search.py
	$(BIN)/python benchmarks/real_data.py
	$(BIN)/python benchmarks/sim_render.py

clean:
	rm -rf $(VENV) .venv-3.* out
