PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-quick bench peers lint clean

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
	  case $$f in bench/peers.py) echo "== $$f: skipped (make peers runs it in its own venv)"; continue;; esac; \
	  echo "== $$f"; TF_CPP_MIN_LOG_LEVEL=2 $(BIN)/python $$f; done

# bench/peers.py in a venv of its own (TorchRec/FBGEMM's CPU kernel, keras-rs), never in
# `make test`: torch's CPU wheel where pip's find-links hold it (else the index's), and
# FBGEMM's CPU build in place of the CUDA one torchrec pulls in.
PEERS := .venv-peers
PEERS_ARGS ?=
peers: $(PEERS)/.installed
	TF_CPP_MIN_LOG_LEVEL=2 nice -n 10 $(PEERS)/bin/python bench/peers.py $(PEERS_ARGS)

$(PEERS)/.installed: pyproject.toml
	test -x $(PEERS)/bin/python || $(PYTHON) -m venv $(PEERS)
	$(PEERS)/bin/python -m pip install --quiet 'torch==2.13.0+cpu' \
	  || $(PEERS)/bin/python -m pip install --quiet 'torch==2.13.0'
	$(PEERS)/bin/python -m pip install --quiet -e '.[peers]'
	$(PEERS)/bin/python -m pip uninstall --quiet -y fbgemm-gpu
	$(PEERS)/bin/python -m pip install --quiet --no-deps --force-reinstall 'fbgemm-gpu-cpu==1.8.0'
	touch $@

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) $(PEERS) build *.egg-info src/*.egg-info .pytest_cache
