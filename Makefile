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

.PHONY: help install run sandbox test test-fast lint typecheck pytest bench chaos clean browser-deps lock

help:
	@echo "make sandbox   the whole bot in a browser, no tokens (http://127.0.0.1:8080)"
	@echo "make run       the bot (needs TELEGRAM_BOT_TOKEN and KIE_API_KEY; embedded PostgreSQL if DATABASE_URL is unset)"
	@echo "make test      lint, layer contracts, type-check and the full test suite"
	@echo "make test-fast the tests not marked slow (under two minutes)"
	@echo "make bench     benchmarks, printed as a markdown table"
	@echo "make chaos     the long fault-injection run"
	@echo "make lock      re-pin the image's dependencies (deploy/*.lock) after editing pyproject.toml"

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
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy --strict kiebot

# One pytest-xdist worker per core, at most 4: each starts its own embedded PostgreSQL and runs
# whole apps, so more workers than cores only add contention. PYTEST_WORKERS= runs serially.
PYTEST_WORKERS ?= -n auto --maxprocesses=4

pytest: $(STAMP)
	$(BIN)/pytest $(PYTEST_WORKERS) $(PYTEST_ARGS)

test: lint typecheck browser-deps pytest

# The tests not marked slow: the quick loop while working (the full suite is `make test`).
test-fast: $(STAMP)
	$(BIN)/pytest $(PYTEST_WORKERS) -m "not slow and not browser" $(PYTEST_ARGS)

# The sandbox's browser test drives Debian's Chromium through Playwright (executable_path, never
# `playwright install`, which downloads a browser build). Installed here when missing and we are
# root; if that cannot be done the build goes on and the browser test skips, saying why.
browser-deps:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing Debian's chromium for the browser test"; \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			chromium fonts-liberation fonts-noto-color-emoji >/dev/null; } \
		|| echo "could not install chromium: the browser test will be skipped"; \
	else echo "no chromium (apt-get install chromium as root): the browser test will be skipped"; fi

bench: $(STAMP)
	$(PY) -m pip install -q -e '.[bench]'
	$(PY) -m benchmarks

chaos: $(STAMP)
	$(BIN)/pytest -m chaos tests/chaos $(PYTEST_ARGS) -s

# The image's dependencies, pinned with hashes for the image's Python (Dockerfile's PYTHON_VERSION)
# on Linux x86_64 (manylinux_2_28; the image is Debian, glibc 2.36). deploy/install.sh installs
# them with --require-hashes; tests/deploy/test_lock.py fails `make test` when pyproject.toml asks
# for something the lock no longer satisfies.
IMAGE_PYTHON := $(shell sed -n 's/^ARG PYTHON_VERSION=//p' Dockerfile)
LOCK_FLAGS := --python-version $(IMAGE_PYTHON) --python-platform x86_64-unknown-linux-gnu --generate-hashes --no-header --quiet
LOCK_HEADER = '\# Locked for Python $(IMAGE_PYTHON) on Linux x86_64 (manylinux_2_28) by make lock; do not edit.'

lock: $(STAMP)
	$(PY) -m pip install -q 'uv>=0.5'
	{ echo $(LOCK_HEADER); echo '# From pyproject.toml [project].dependencies.'; \
	  $(BIN)/uv pip compile pyproject.toml $(LOCK_FLAGS); } > deploy/requirements.lock.new
	{ echo $(LOCK_HEADER); echo '# From pyproject.toml [build-system].requires.'; \
	  $(PY) -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"]))' \
	  | $(BIN)/uv pip compile - $(LOCK_FLAGS); } > deploy/build-requirements.lock.new
	mv deploy/requirements.lock.new deploy/requirements.lock
	mv deploy/build-requirements.lock.new deploy/build-requirements.lock

clean:
	rm -rf $(VENV) .kiebot .pytest_cache .mypy_cache .ruff_cache
