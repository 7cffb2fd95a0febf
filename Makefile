# The two set-up commands: `make run` runs the platform, `make test` runs the test suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-requirements
export PORT ?= 8000

# The system packages each command needs (scripts/ensure_prerequisites.sh): `test` adds the browser.
PREREQUISITES ?= run

.PHONY: run test test-fast lint format prerequisites services venv

prerequisites:
	@scripts/ensure_prerequisites.sh $(PREREQUISITES)

# Order-only: the virtualenv needs python3-venv, but a present one is not rebuilt for every check.
$(STAMP): requirements.txt | prerequisites
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --no-deps -r requirements.txt
	cp requirements.txt $(STAMP)

venv: $(STAMP)

services: prerequisites
	@scripts/ensure_services.sh

run: venv services
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	VENV=$(VENV) scripts/run_platform.sh

test: PREREQUISITES = test
test: venv services
	$(BIN)/python -m pytest

# A development shortcut, not a set-up command: the tests that need only PostgreSQL and Redis (no server or
# worker processes, no browser, no benches, nothing slow), in under two minutes.
test-fast: venv services
	$(BIN)/python -m pytest -m "not e2e and not browser and not bench and not slow"

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: venv
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .
