# Quick start (Debian/Ubuntu):
#   make demo   # system packages + virtualenv, then render the demo report
#   make test   # system packages (incl. PostgreSQL, poppler) + virtualenv, then pytest
#
# System packages are installed by .ci/system-packages.sh (apt-get as root, or
# via passwordless sudo; otherwise it prints the command to run).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
SYSTEM_PACKAGES := bash .ci/system-packages.sh

.PHONY: all venv system system-test demo test lint clean

all: test

venv: $(STAMP)

# The interpreter is an order-only prerequisite: its mtime must not trigger a
# reinstall. Only a change to pyproject.toml (or a missing stamp) does.
$(BIN)/python:
	@PYTHON='$(PYTHON)' $(SYSTEM_PACKAGES) venv
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e '.[test]'
	@touch $@

system:
	@$(SYSTEM_PACKAGES) runtime

system-test:
	@$(SYSTEM_PACKAGES) test postgres

demo: system venv
	$(BIN)/reporter demo

test: system-test venv
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) build dist .pytest_cache .ruff_cache *.egg-info
	find . -name __pycache__ -type d -prune -not -path './.git/*' -exec rm -rf {} +
