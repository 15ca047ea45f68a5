# kiebot — the two commands a newcomer needs: `make sandbox` (or `make run`) and `make test`.
# Everything installs itself into .venv on first use.

SHELL := /bin/bash
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
# The first interpreter in 3.11–3.13 (trio-asyncio does not import on 3.14).
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(not ((3,11) <= sys.version_info[:2] < (3,14)))' 2>/dev/null && { echo $$p; break; }; done)
STAMP := $(VENV)/.installed

.PHONY: help install run sandbox test lint typecheck pytest bench chaos clean browser-deps

help:
	@echo "make sandbox   the whole bot in a browser, no tokens (http://127.0.0.1:8080)"
	@echo "make run       the bot (needs TELEGRAM_BOT_TOKEN and KIE_API_KEY; embedded PostgreSQL if DATABASE_URL is unset)"
	@echo "make test      lint, type-check and the full test suite"
	@echo "make bench     benchmarks, printed as a markdown table"
	@echo "make chaos     the long fault-injection run"

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "need Python 3.11, 3.12 or 3.13"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip >/dev/null
	$(PY) -m pip install -e '.[dev]'
	touch $@

install: $(STAMP)

run: $(STAMP)
	$(PY) -m kiebot run

sandbox: $(STAMP)
	$(PY) -m kiebot sandbox $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check kiebot tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy --strict kiebot

pytest: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

test: lint typecheck pytest

bench: $(STAMP)
	$(PY) -m pip install -q -e '.[bench]'
	$(PY) -m benchmarks

chaos: $(STAMP)
	$(BIN)/pytest -m chaos tests/chaos $(PYTEST_ARGS) -s

clean:
	rm -rf $(VENV) .kiebot .pytest_cache .mypy_cache .ruff_cache
