# The two set-up commands: `make run` runs the platform, `make test` runs the test suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-requirements
export PORT ?= 8000

.PHONY: run test lint format services venv

$(STAMP): requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --no-deps -r requirements.txt
	cp requirements.txt $(STAMP)

venv: $(STAMP)

services:
	@scripts/ensure_services.sh

run: venv services
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	VENV=$(VENV) scripts/run_platform.sh

test: venv services
	$(BIN)/python -m pytest

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: venv
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .
