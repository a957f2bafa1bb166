# The two set-up commands of replyd: `make run` and `make test`. Both create .venv and
# install what they need on first use (llama-cpp-python compiles from source the first
# time, into wheels/: about 5 minutes on 2 cores; later installs take the wheel from there).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

# The second pass of `make test` runs the suite again on PostgreSQL and Redis (scale-out). On a
# machine without them those tests are skipped, saying why; in CI (CI=true) they must run.
POSTGRES_URL ?= postgresql://postgres@127.0.0.1:5432/test
REDIS_URL ?= redis://127.0.0.1:6379/0

# llama.cpp compiled for any CPU of this architecture with AVX2, not for this one alone: its
# default (-march=native) uses AMX where the CPU lists it, and that build crashed (SIGSEGV in
# decode) on a virtual Xeon that lists AMX; valgrind cannot run its AVX-512 either. The AVX
# flags mean nothing on other architectures.
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON
LLAMA_VERSION := $(shell sed -n 's/.*"llama-cpp-python==\([^"]*\)".*/\1/p' pyproject.toml)
LLAMA_WHEEL := wheels/llama_cpp_python-$(LLAMA_VERSION)-py3-none-linux_$(shell uname -m).whl

.PHONY: run test lint llama-wheel clean

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

$(VENV)/.installed-run: pyproject.toml $(LLAMA_WHEEL)
	@echo "Installing replyd into $(VENV) ..."
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --progress-bar off --find-links wheels -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(LLAMA_WHEEL)
	@echo "Installing replyd and its test tools into $(VENV) ..."
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --progress-bar off --find-links wheels -e '.[test]'
	touch $@ $(VENV)/.installed-run

llama-wheel: $(LLAMA_WHEEL)

$(LLAMA_WHEEL):
	@echo "Compiling llama.cpp $(LLAMA_VERSION) into wheels/ (about 5 minutes on 2 cores; once) ..."
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PYTHON) -m pip wheel --quiet --no-cache-dir --no-deps \
		--wheel-dir wheels llama-cpp-python==$(LLAMA_VERSION)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
