# One command for each job; each creates .venv and installs what it needs on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
# The demo needs the runtime dependencies only (no test, lint or browser tooling): its own stamp,
# so that `make demo` from a fresh clone installs about half as much as `make install`.
DEMO_STAMP := $(VENV)/.demo-stamp
DEMO_ARGS ?=  # e.g. make demo DEMO_ARGS="--subscribers 3000 --months 24 --port 8001"

.PHONY: install demo test lint bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

$(DEMO_STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --no-compile -e .
	@touch $(DEMO_STAMP)

demo: $(DEMO_STAMP)
	$(VENV)/bin/valuehealth demo $(DEMO_ARGS)

# Under CI the browser test must run: install Debian's Chromium when it is missing (needs root).
# Elsewhere the browser test skips with the reason when Chromium is absent.
test: $(STAMP)
	@if [ "$$CI" = "true" ] && [ ! -x /usr/bin/chromium ]; then \
		echo "installing Debian's chromium for the browser test"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	fi
	$(PY) -m ruff check .
	$(PY) -m mypy plugin webhooks workers admin_ui bench
	$(PY) -m tests.support.audit
	$(PY) -m pytest

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

bench: $(STAMP)
	$(PY) -m bench

clean:
	rm -rf $(VENV) valuehealth.db valuehealth.db-* test-artifacts
