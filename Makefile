# The two set-up commands of replyd: `make run` and `make test`. Both create .venv and
# install what they need on first use (llama-cpp-python compiles from source the first
# time: about 5 minutes on 2 cores; pip caches the wheel for later installs).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

# The second pass of `make test` runs the suite again on PostgreSQL and Redis (scale-out). On a
# machine without them those tests are skipped, saying why; in CI (CI=true) they must run.
POSTGRES_URL ?= postgresql://postgres@127.0.0.1:5432/test
REDIS_URL ?= redis://127.0.0.1:6379/0

.PHONY: run test lint clean

run: $(VENV)/.installed-run
	$(BIN)/replyd init
	$(BIN)/replyd serve

test: $(VENV)/.installed-test
	@echo "== replyd test suite, pass 1 of 2: SQLite, in-process limits and locks"
	$(BIN)/pytest
	@echo "== replyd test suite, pass 2 of 2: PostgreSQL and Redis (the command line's own tests ran in pass 1)"
	REPLYD_TEST_POSTGRES_URL=$(POSTGRES_URL) REPLYD_TEST_APP_REDIS_URL=$(REDIS_URL) $(BIN)/pytest --ignore=tests/cli

lint: $(VENV)/.installed-test
	$(BIN)/ruff check replyd tests bench
	$(BIN)/ruff format --check replyd tests bench
	$(BIN)/mypy

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
