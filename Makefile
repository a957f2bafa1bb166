# The two set-up commands of replyd: `make run` and `make test`. Both create .venv and
# install what they need on first use (llama-cpp-python compiles from source the first
# time: about 5 minutes on 2 cores; pip caches the wheel for later installs).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test bench clean

run: $(VENV)/.installed-run
	$(BIN)/replyd init
	$(BIN)/replyd serve

test: $(VENV)/.installed-test
	$(BIN)/pytest

$(VENV)/.installed-run: pyproject.toml
	@echo "Installing replyd into $(VENV) (the first install compiles llama.cpp: about 5 minutes) ..."
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --progress-bar off -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml
	@echo "Installing replyd and its test tools into $(VENV) (the first install compiles llama.cpp: about 5 minutes) ..."
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --progress-bar off -e '.[test]'
	touch $@ $(VENV)/.installed-run

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
