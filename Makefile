# Two commands matter: `make run` (install, migrate, demo data, serve) and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
export HOST PORT

.PHONY: install run serve test test-slow lint lint-schema fuzz format bench mutation

$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c requirements.lock -e '.[dev]'
	touch $@

install: $(VENV)/.installed

# A random SECRET_KEY is generated once into .env (git-ignored) and reused by later runs.
.env:
	@echo "SECRET_KEY=$$($(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(50))')" > .env

# Debug pages show settings and environment to anyone who reaches the server: off unless asked
# for with `make run DEBUG=1` (a DEBUG line in .env from older runs is ignored). A missing
# PostgreSQL database (DATABASE_URL) is created first. A job worker (`run_worker`, on the
# database backend unless TASKS_BACKEND/REDIS_URL say RQ) and the periodic schedule
# (`enqueue_periodic --every`) run beside the server; Ctrl-C stops all three. Webhooks may go to
# private and loopback addresses (a receiver on this machine) unless WEBHOOK_ALLOW_PRIVATE=0.
DEBUG ?= 0
run: install .env
	@set -a; . ./.env; set +a; export DEBUG="$(DEBUG)"; \
	export WEBHOOK_ALLOW_PRIVATE="$${WEBHOOK_ALLOW_PRIVATE:-1}"; \
	$(PY) manage.py ensure_database && \
	$(PY) manage.py migrate --noinput && \
	$(PY) manage.py seed_demo --customers 300 --if-empty && \
	$(PY) manage.py demo_admin || exit 1; \
	$(PY) manage.py run_worker & worker=$$!; \
	$(PY) manage.py enqueue_periodic --every & schedule=$$!; \
	trap 'kill $$worker $$schedule 2>/dev/null; wait $$worker $$schedule 2>/dev/null' EXIT INT TERM; \
	echo "" && echo "Tagdesk is at http://$(HOST):$(PORT)/admin/ (API: http://$(HOST):$(PORT)/api/docs/)"; \
	echo "Jobs: a worker (pid $$worker) and the periodic schedule (pid $$schedule) run beside it."; \
	$(PY) manage.py runserver $(HOST):$(PORT)

# Production-style: gunicorn, DEBUG off, static files by whitenoise, JSON logs. Over plain http on
# loopback the HTTPS redirect and secure cookies are off; behind a TLS proxy leave them on.
serve: install .env
	@set -a; . ./.env; set +a; \
	export DJANGO_ENV=production DEBUG=0 ALLOWED_HOSTS="$${ALLOWED_HOSTS:-127.0.0.1,localhost}" \
	  SECURE_SSL_REDIRECT="$${SECURE_SSL_REDIRECT:-0}" SECURE_COOKIES="$${SECURE_COOKIES:-0}"; \
	$(PY) manage.py migrate --noinput && \
	$(PY) manage.py collectstatic --noinput -v 0 && \
	exec $(VENV)/bin/gunicorn -c config/gunicorn.py config.wsgi

# Line and branch coverage of the application code is printed after the tests; below
# COVERAGE_MIN (the level reached less a point for noise, see the README's Testing section) the
# run fails. `coverage report` decides, as its exit status is what make sees.
COVERAGE_MIN ?= 93
test: install
	$(VENV)/bin/pytest --cov --cov-report=
	$(VENV)/bin/coverage report --fail-under=$(COVERAGE_MIN)

# The long fault drills: webhooks to three endpoints with 10,000 events while workers are killed
# and the receiver is down (CI runs the same test with 1,000 events in `make test`).
test-slow: install
	WEBHOOK_FAULT_EVENTS=10000 $(VENV)/bin/pytest -p no:cacheprovider tests/webhooks/test_fault.py

# Benchmarks print tables; they need PostgreSQL (BENCH_DATABASE_URL, default a tagdesk_bench
# database on 127.0.0.1:5432, dropped and recreated; load.py uses LOAD_DATABASE_URL, default
# tagdesk_load, and starts its own gunicorn on a free loopback port).
bench: install
	cd bench && ../$(PY) tagging.py
	cd bench && ../$(PY) api.py
	cd bench && ../$(PY) segments.py
	cd bench && ../$(PY) load.py
	cd bench && ../$(PY) retag.py
	cd bench && ../$(PY) webhooks.py
	cd bench && BENCH_DATABASE_URL=sqlite:///$${TMPDIR:-/tmp}/tagdesk-bench.sqlite3 ../$(PY) retag.py

# ruff, then the import contracts of docs/architecture.md (pyproject: [tool.importlinter]).
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache

# The schema through Redocly, Spectral (OAS + OWASP) and openapi-typescript + tsc (needs npm;
# the tools are pinned in tests/schema/package.json and installed on first use).
lint-schema: install
	bash tests/schema/lint.sh

# Schemathesis' CLI (--checks all, every phase, random seed) against a live server: runserver on
# SQLite as `make run`, then gunicorn with production settings on PostgreSQL as `make serve`;
# then the security probe (tests/security: every request that once got a 5xx, bursts).
fuzz: install
	$(PY) tests/schema/fuzz_live.py --database sqlite
	$(PY) tests/schema/fuzz_live.py --database postgres
	$(VENV)/bin/pytest -q -p no:cacheprovider tests/security

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Mutation testing of the modules that hold the rules ([tool.mutmut] in pyproject.toml), on
# SQLite, not part of CI: about 4,250 mutants in 27 minutes on two nearly idle cores (the
# README's Testing section has the scores measured, and the PostgreSQL pass for the
# PostgreSQL-only SQL). Prints the score per module; survivors are listed by
# `.venv/bin/mutmut results` and shown with `.venv/bin/mutmut show NAME`.
mutation: install
	rm -rf mutants
	$(VENV)/bin/mutmut run --max-children $${MUTATION_JOBS:-2} >/dev/null
	$(PY) tests/mutation_score.py
