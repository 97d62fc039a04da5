# PlantStream: two commands do everything on a fresh Debian 12 machine.
#   make demo   installs what it needs, starts Mosquitto + InfluxDB, runs the demo
#   make test   installs what it needs and runs the whole suite against real services
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   := .venv
# the other side of the Sparkplug B tests: pysparkplug pins paho-mqtt<2 (aiomqtt needs 2)
PEERS  := .venv-peers
BIN    := $(VENV)/bin
STATE  := .plantstream
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Debian packages: the broker, the database, a real /api/v2/write server for the v2
# sink, pdftoppm for the report tests, venv support for Debian's python3.
# shellcheck for the deploy scripts' test; mosquitto_sub for the compose broker's health
# check; a CJK TrueType font for Chinese reports and previews (see docs/i18n.md).
APT_PACKAGES := mosquitto mosquitto-clients influxdb victoria-metrics poppler-utils python3-venv \
	shellcheck fonts-droid-fallback
# The lock files: every direct and transitive version per install set, made by `make lock`
# with uv (`uv pip compile --universal`: fast, maintained, and its markers keep one lock
# valid on x86_64 servers and ARM gateways alike).
LOCKS  := requirements/edge.txt requirements/edge-full.txt requirements/server.txt requirements/dev.txt
# requirements/peers.txt locks a separate virtualenv (.venv-peers) for the third-party
# Sparkplug B peers the tests drive: they need paho-mqtt < 2, which aiomqtt cannot share.
UV_VERSION := 0.13.9
# the package folders, from the one list in pyproject.toml ([tool.plantstream.packages])
PKG_DIRS := $(shell $(PYTHON) -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["tool"]["plantstream"]["packages"])')

.PHONY: help setup lock demo test lint typecheck pytest bench clean distclean

help:
	@echo "make demo   - install, start a local stack and run the live demo"
	@echo "make test   - install and run lint, type check and the full test suite"
	@echo "make bench  - run the benchmarks (figures beside same-run baselines)"
	@echo "make lock   - re-resolve the lock files in requirements/ (deliberate refresh)"
	@echo "make clean  - remove local state ($(STATE)/, build/)"

setup: .make/system $(VENV)/.installed $(PEERS)/.installed
	@# strict editable installs link each file: re-link when files are added or removed
	@find $(PKG_DIRS) -type f \( -name '*.py' -o -name '*.toml' -o -name '*.json' -o -name '*.csv' -o -name 'py.typed' -o -name '*.po' \) \
	  -not -path '*/__pycache__/*' | sort > $(VENV)/.files.now
	@cmp -s $(VENV)/.files.now $(VENV)/.files || { \
	  $(BIN)/pip install -q --no-deps --no-build-isolation -e . --config-settings editable_mode=strict && \
	  mv $(VENV)/.files.now $(VENV)/.files; }

.make/system:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@mkdir -p .make && touch $@

# Everything comes from the dev lock; the project itself is linked without its
# dependencies and without build isolation (setuptools and wheel are in the lock too).
$(VENV)/.installed: requirements/dev.txt pyproject.toml setup.py | .make/system
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -r requirements/dev.txt
	$(BIN)/pip install -q --no-deps --no-build-isolation -e . --config-settings editable_mode=strict
	@rm -f $(VENV)/.files
	@touch $@

$(PEERS)/.installed: requirements/peers.txt | .make/system
	@test -x $(PEERS)/bin/python || $(PYTHON) -m venv $(PEERS)
	$(PEERS)/bin/pip install -q -r requirements/peers.txt
	@touch $@

lock: .make/system
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@test -x .make/uv/bin/uv || $(BIN)/pip install -q --target .make/uv uv==$(UV_VERSION)
	@for set in edge server dev; do \
	  PYTHONPATH=.make/uv .make/uv/bin/uv pip compile pyproject.toml --extra $$set --universal \
	    --python-version 3.11 --no-header --annotation-style line -q -o requirements/$$set.txt || exit 1; \
	done
	@PYTHONPATH=.make/uv .make/uv/bin/uv pip compile pyproject.toml --extra edge --extra s7 \
	  --extra sparkplug --universal --python-version 3.11 --no-header --annotation-style line \
	  -q -o requirements/edge-full.txt
	@PYTHONPATH=.make/uv .make/uv/bin/uv pip compile requirements/peers.in --python-version 3.11 \
	  --universal --no-header --annotation-style line -q -o requirements/peers.txt
	@echo "locks written: $(LOCKS) requirements/peers.txt; run 'make setup' to install them"

demo: setup
	$(BIN)/plantstream demo --state-dir $(STATE)

lint: setup
	$(BIN)/ruff check .

typecheck: setup
	$(BIN)/mypy -p plantstream

pytest: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test: setup lint typecheck pytest

bench: setup
	$(BIN)/plantstream bench analytics
	$(BIN)/plantstream bench ingest --seconds 20
	$(BIN)/plantstream bench reports
	$(BIN)/plantstream bench edge

clean:
	rm -rf $(STATE) build .make .pytest_cache .mypy_cache .ruff_cache

distclean: clean
	rm -rf $(VENV) $(PEERS) *.egg-info
