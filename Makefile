# Two commands set everything up on a fresh machine with Python 3.11 and make:
#   make run   -> virtualenv, install, migrate SQLite, embedded MQTT broker, demo data, serve :8000
#   make test  -> the same set-up, then the whole test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: run test lint bench bench-ingest bench-access bench-authz bench-ota clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	FLEETGATE_DEMO=$${FLEETGATE_DEMO:-1} $(BIN)/fleetgate serve

test: $(STAMP)
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m bench.api

# device ingest vs. a counting aiomqtt subscriber and mosquitto_sub; MQTT_URL=... for Mosquitto
bench-ingest: $(STAMP)
	$(BIN)/python -m bench.ingest

# resolving access through 50 shared groups (2k vs 20k nodes) vs direct memberships; DATABASE_URL=...
bench-access: $(STAMP)
	$(BIN)/python -m bench.access

# one authorization decision at 10 / 1k / 10k org rules vs plain pycasbin; its share of GraphQL nodes
bench-authz: $(STAMP)
	$(BIN)/python -m bench.authz

# planning and dispatching an OTA job of 10k nodes; dispatch vs a bare aiomqtt publish loop
bench-ota: $(STAMP)
	$(BIN)/python -m bench.ota

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .mypy_cache .ruff_cache
