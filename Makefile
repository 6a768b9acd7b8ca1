# The two commands of the README: `make demo` and `make test`. Each creates the
# virtual environment .venv and installs skradnod into it on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
EXTRAS ?= all
PYTEST_ARGS ?= -n 2

.PHONY: install demo test lint docs clean

$(VENV)/.installed-$(EXTRAS): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e ".[$(EXTRAS)]"
	touch $@

install: $(VENV)/.installed-$(EXTRAS)

demo: install
	$(BIN)/skradnod demo --overwrite

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS) tests skradnod --doctest-modules

lint: install
	$(BIN)/ruff check skradnod tests benchmarks
	$(BIN)/lint-imports

docs: install
	$(BIN)/sphinx-build -W --keep-going -b html docs docs/_build/html

clean:
	rm -rf $(VENV) docs/_build docs/generated .pytest_cache
