# Two commands for a fresh machine: `make run` and `make test` (see README.md).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PORT ?= 5000
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
# What is installed is pinned, with hashes, in these locks; pyproject.toml's ranges say what is
# allowed. They were made for CPython 3.11 on Linux x86_64 (`make lock` refreshes both).
APP_LOCK := requirements/app.lock
TEST_LOCK := requirements/test.lock
LOCK_PYTHON := 3.11

export FLASK_APP := wsgi.py
# `make run` is a developer machine: a dev secret key and the mail kept in instance/mail/.
run: export CAMPAIGN_ENV ?= development
run: export PUBLIC_URL ?= http://127.0.0.1:$(PORT)

.PHONY: run test lint lock install install-test chromium deploy-tools bench bench-smoke clean vendor gazetteer

$(STAMP): pyproject.toml $(APP_LOCK)
	@$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || bash scripts/ensure-apt.sh python3-venv
	@# WeasyPrint (the printable kit) draws text with Pango.
	@ldconfig -p | grep -q libpangoft2-1.0 || bash scripts/ensure-apt.sh libpango-1.0-0 libpangoft2-1.0-0
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --require-hashes -r $(APP_LOCK)
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

$(TEST_STAMP): $(STAMP) pyproject.toml $(TEST_LOCK)
	$(BIN)/pip install --quiet --require-hashes -r $(TEST_LOCK)
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

install: $(STAMP)
install-test: $(TEST_STAMP)

## Serve the site on http://127.0.0.1:$(PORT) with its mail worker (SQLite, no other service).
run: $(STAMP)
	$(BIN)/flask db upgrade
	$(BIN)/flask seed-demo --if-empty
	@echo "Site: $$PUBLIC_URL   Emails sent: $$PUBLIC_URL/_dev/mail/"
	$(BIN)/flask worker & worker=$$!; \
	trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	$(BIN)/flask run --host 127.0.0.1 --port $(PORT)

## Run the whole suite on SQLite, then on PostgreSQL too when DATABASE_URL points at one
## (all but the browser journeys and the deployment's topology there: they test the browser and
## the processes around the app, which bring their own PostgreSQL, and run once).
test: $(TEST_STAMP) chromium deploy-tools
	$(BIN)/pytest
	@case "$$DATABASE_URL" in \
	  postgres*) echo "== again on PostgreSQL, without the browser journeys: $$DATABASE_URL"; \
	             TEST_DATABASE_URL="$$DATABASE_URL" $(BIN)/pytest -m "not browser and not topology" ;; \
	  *) echo "(DATABASE_URL is not PostgreSQL: the PostgreSQL run is skipped)" ;; \
	esac

lint: $(TEST_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/bandit -c pyproject.toml -r campaign wsgi.py -q

## Refresh both locks to the newest releases pyproject.toml allows, from PyPI alone (not the
## machine's pip settings), with pip-tools in a venv of its own; then `make test` and commit.
LOCK_TOOLS := $(VENV)/lock-tools
PIP_COMPILE := env -u PIP_FIND_LINKS -u PIP_EXTRA_INDEX_URL PIP_CONFIG_FILE=/dev/null \
	CUSTOM_COMPILE_COMMAND='make lock' \
	$(LOCK_TOOLS)/bin/pip-compile --quiet --upgrade --generate-hashes --allow-unsafe \
	--strip-extras --no-emit-index-url --no-emit-find-links
lock:
	@$(PYTHON) -c 'import sys; sys.exit("%d.%d" % sys.version_info[:2] != "$(LOCK_PYTHON)")' \
	  || { echo "make lock: the locks are made with CPython $(LOCK_PYTHON): PYTHON=python$(LOCK_PYTHON) make lock"; exit 1; }
	test -x $(LOCK_TOOLS)/bin/pip-compile || $(PYTHON) -m venv $(LOCK_TOOLS)
	$(LOCK_TOOLS)/bin/pip install --quiet --upgrade pip pip-tools
	@mkdir -p requirements
	$(PIP_COMPILE) -o $(APP_LOCK) pyproject.toml
	$(PIP_COMPILE) --extra test -c $(APP_LOCK) -o $(TEST_LOCK) pyproject.toml

## `make bench`: the app against bare Flask, by hand, ~15 min (bench/README.md). `make bench-smoke`:
## every scenario with tiny counts and no targets, only the validity checks (CI, ~1.5 min).
## SCENARIOS="sign page" for some, BENCH_ARGS="--seconds 3" for options. PostgreSQL: BENCH_POSTGRES
## (default postgresql://postgres@127.0.0.1:5432/); wrk and redis-server are installed if missing.
bench bench-smoke: $(TEST_STAMP)
	@command -v wrk >/dev/null && command -v redis-server >/dev/null \
	  || bash scripts/ensure-apt.sh wrk redis-server
	$(BIN)/python bench/harness.py $(if $(filter bench-smoke,$@),--smoke) \
	  $(if $(SCENARIOS),--scenarios "$(SCENARIOS)") $(BENCH_ARGS)

# The browser tests drive Debian's Chromium (Playwright cannot download a browser here).
chromium:
	@test -x "$${CHROMIUM_PATH:-/usr/bin/chromium}" || bash scripts/ensure-apt.sh chromium fonts-dejavu-core

## What the deployment's tests run (tests/deploy: `nginx -t` of deploy/nginx, systemd-analyze,
## the topology under faults with a PostgreSQL cluster and a Redis of its own): only the
## binaries are used, the Debian services are never started by these tests.
deploy-tools:
	@test -x /usr/sbin/nginx && command -v openssl redis-server systemd-analyze >/dev/null \
	  && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 \
	  || bash scripts/ensure-apt.sh nginx-light openssl postgresql redis-server systemd

## Refresh static/vendor/ and the communes table from the npm packages pinned in package.json.
## Their output is committed: neither `make run` nor production needs Node.js.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

vendor: node_modules/.installed
	mkdir -p static/vendor/leaflet
	cp -r node_modules/leaflet/dist/leaflet.js node_modules/leaflet/dist/leaflet.css \
	      node_modules/leaflet/dist/images node_modules/leaflet/LICENSE static/vendor/leaflet/
	for w in Regular It Semibold Bold Black; do \
	  cp node_modules/source-sans/TTF/SourceSans3-$$w.ttf kits/fonts/; done
	cp node_modules/source-sans/LICENSE.md kits/fonts/LICENSE.md

gazetteer: node_modules/.installed $(STAMP)
	$(BIN)/python scripts/build_gazetteer.py

clean:
	rm -rf $(VENV) instance .pytest_cache .ruff_cache
