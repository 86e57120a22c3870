# The two set-up commands of the README: `make demo` and `make test`.
# Both create/refresh the local virtual environment .venv first; a second
# run reuses it (the stamp file is redone only when a dependency file
# changes). Any failing step stops make with a non-zero exit.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.clinclip-installed
DEPS := pyproject.toml constraints/ci.txt constraints/data.txt

.PHONY: install demo test test-fast lint clean-venv

install: $(STAMP)

$(STAMP): $(DEPS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check \
		-c constraints/ci.txt -e ".[dev]"
	$(BIN)/python -m pip install --disable-pip-version-check --no-deps \
		-r constraints/data.txt
	$(BIN)/python -c "import keras_clinclip, keras, jax, torch, tensorflow_text"
	touch $(STAMP)

# The demo runs on JAX unless KERAS_BACKEND says otherwise: on a CPU its
# fit step is the fastest of the three (docs/performance.md).
demo: install
	KERAS_BACKEND=$${KERAS_BACKEND:-jax} $(BIN)/clinclip demo $(DEMO_ARGS)

test: install
	$(BIN)/python scripts/run_tests.py $(PYTEST_ARGS)

# Day-to-day: the backend-independent tests and the JAX pass, without the
# `slow` and `distributed` marks (CI runs `make test`).
test-fast: install
	$(BIN)/python scripts/run_tests.py --fast $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean-venv:
	rm -rf $(VENV)
