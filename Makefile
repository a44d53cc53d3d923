# The project's commands (see README and ../shared/CONTRACT.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench bench-surge install

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $(STAMP)

# axe-core for the accessibility browser tests, from the committed lockfile (a fresh clone works).
AXE := tests/axe/node_modules/axe-core/axe.min.js

$(AXE): tests/axe/package-lock.json
	npm ci --prefix tests/axe --no-audit --no-fund
	touch $(AXE)

install: $(STAMP) $(AXE)

# Development mode, said explicitly: the settings are production ones (DEBUG=false, no dev
# SECRET_KEY, no dev Flower login) unless DEBUG=true.
run: $(STAMP)
	DEBUG=$${DEBUG:-true} $(BIN)/python manage.py migrate --noinput
	DEBUG=$${DEBUG:-true} $(BIN)/python manage.py seed_demo
	DEBUG=$${DEBUG:-true} $(BIN)/python -m rdv.devrun

test: $(STAMP) $(AXE)
	$(BIN)/python -m pytest --durations=15 $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	@if [ -x ../shared/ci/services-up ]; then ../shared/ci/services-up; fi
	$(BIN)/python -m bench

# The booking surge of issue 10, item 3 (2 minutes, real gunicorn, 20 loopback addresses).
bench-surge: $(STAMP)
	@if [ -x ../shared/ci/services-up ]; then ../shared/ci/services-up; fi
	$(BIN)/python -m bench.booking_surge
