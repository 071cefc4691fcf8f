PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-quick bench lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/nwsrec demo

# Everything (CI runs it): the quick set first, then the slow one (real clusters and
# processes killed by signals), then the doctests.
test: $(STAMP)
	TF_CPP_MIN_LOG_LEVEL=2 $(BIN)/python -m pytest -q -m "not cluster and not slow"
	TF_CPP_MIN_LOG_LEVEL=2 $(BIN)/python -m pytest -q -m "cluster or slow"
	TF_CPP_MIN_LOG_LEVEL=2 $(BIN)/python -m pytest -q -p no:cacheprovider --doctest-modules src/nwsrec

# The quick set and the doctests: what to run while working.
test-quick: $(STAMP)
	TF_CPP_MIN_LOG_LEVEL=2 $(BIN)/python -m pytest -q -m "not cluster and not slow"
	TF_CPP_MIN_LOG_LEVEL=2 $(BIN)/python -m pytest -q -p no:cacheprovider --doctest-modules src/nwsrec

bench: $(STAMP)
	@set -e; for f in bench/*.py; do \
	  case $$f in bench/peers.py) echo "== $$f: skipped (needs the [peers] venv, see its docstring)"; continue;; esac; \
	  echo "== $$f"; TF_CPP_MIN_LOG_LEVEL=2 $(BIN)/python $$f; done

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache
