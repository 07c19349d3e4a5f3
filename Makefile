# The README's commands. `make run` starts Pivotal on the embedded default (SQLite,
# SQLite-backed jobs, demo data); `make test` runs the whole suite.

PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
STAMP = $(VENV)/.installed-$(shell cat setup.cfg pyproject.toml examples/*/pyproject.toml plugins/*/pyproject.toml themes/*/package-lock.json 2>/dev/null | cksum | cut -d' ' -f1)
PLUGIN_DIRS = $(patsubst %/pyproject.toml,%,$(wildcard plugins/*/pyproject.toml))
CONFIG ?= development.ini
# Browser tests drive Debian's Chromium; root on Debian installs it, others are told to.
CHROMIUM = /usr/bin/chromium

.PHONY: setup run test lint bench clean

$(STAMP):
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,bench]' -e examples/hello_channel $(addprefix -e ,$(PLUGIN_DIRS))
	for theme in themes/*/; do if [ -f "$$theme/package-lock.json" ]; then npm ci --prefix "$$theme" --no-audit --no-fund --loglevel=error; fi; done
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

setup: $(STAMP)

$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		DEBIAN_FRONTEND=noninteractive apt-get update -qq && apt-get install -y -qq chromium; \
	else \
		echo "note: $(CHROMIUM) is missing; browser tests will be skipped (apt-get install chromium)"; \
	fi

run: setup
	$(BIN)/pivotal -c $(CONFIG) db upgrade
	$(BIN)/pivotal -c $(CONFIG) demo --if-empty
	$(BIN)/pivotal -c $(CONFIG) serve

test: setup $(CHROMIUM)
	bash scripts/run-tests.sh

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: setup
	$(BIN)/python -m bench.run_all

clean:
	rm -rf $(VENV) var build *.egg-info
