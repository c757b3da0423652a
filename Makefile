# Two commands set everything up on a fresh machine with Python 3.11 and make:
#   make run   -> virtualenv, install, migrate SQLite, embedded MQTT broker, demo data, serve :8000
#   make test  -> the same set-up, then the whole test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: run test lint bench bench-ingest bench-access bench-authz bench-ota bench-all bench-smoke clean

# installs exactly requirements.lock (every artefact hash-checked, incl. the build backend),
# then the project itself, editable, without resolving anything again
$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

# re-resolve requirements.lock from pyproject.toml (dependencies + the dev extra), upgrading
# every pin; `make lock LOCK_UPGRADE=` keeps the current pins and only adds what is missing.
# pip-tools is installed on demand: it is not a dependency of Fleetgate.
LOCK_UPGRADE ?= --upgrade
.PHONY: lock
lock:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip-tools
	CUSTOM_COMPILE_COMMAND='make lock' $(BIN)/pip-compile --quiet $(LOCK_UPGRADE) \
	  --generate-hashes --extra dev --build-deps-for editable --allow-unsafe --strip-extras \
	  --no-emit-index-url --no-emit-find-links -o requirements.lock pyproject.toml

run: $(STAMP)
	FLEETGATE_DEMO=$${FLEETGATE_DEMO:-1} $(BIN)/fleetgate serve

test: $(STAMP)
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

# requests/s and server CPU of API endpoints (incl. /v1/user/nodes vs /v1/user2) vs a ceiling
bench: $(STAMP)
	$(BIN)/python -m bench.api

# device ingest vs. counting subscribers, driven by mosquitto_pub per device (or publisher
# processes), with the generator's own rate; MQTT_URL=... or ARGS=--private-mosquitto
bench-ingest: $(STAMP)
	$(BIN)/python -m bench.ingest $(ARGS)

# access through 50 shared groups (2k vs 20k nodes) vs direct; node list pages at 50 vs 50k
# nodes; DATABASE_URL=...
bench-access: $(STAMP)
	$(BIN)/python -m bench.access

# one authorization decision at 10 / 1k / 10k org rules vs plain pycasbin; its share of GraphQL nodes
bench-authz: $(STAMP)
	$(BIN)/python -m bench.authz

# planning and dispatching an OTA job of 10k nodes; dispatch vs a bare aiomqtt publish loop
bench-ota: $(STAMP)
	$(BIN)/python -m bench.ota

# every benchmark above (and ingest through a private Mosquitto) into one JSON summary:
# bench/results.json, or BENCH_OUT=path; docs/performance.md says what each number means
bench-all: $(STAMP)
	$(BIN)/python -m bench.all

# the same with tiny counts and no targets (seconds): checks that every benchmark still runs
bench-smoke: $(STAMP)
	$(BIN)/python -m bench.all --smoke

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .mypy_cache .ruff_cache
