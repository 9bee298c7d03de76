# Cairn: every target installs what it needs on a fresh machine.
PYTHON_BIN ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DEV_ENV := DEBUG=True
PYTEST_ARGS ?=

.PHONY: install browser run serve test test-fast lint format migrations check-deploy bench clean api-fuzz lock audit

install: $(VENV)/.installed

# Exactly the locked versions (hash-checked), then Cairn itself without
# resolving anything again: a fresh machine gets what CI tested.
$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON_BIN) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --require-hashes -r requirements.lock
	$(VENV)/bin/pip install --quiet --no-deps -e .
	touch $@

# Re-resolve requirements.lock from pyproject.toml (run after changing a
# dependency; pins already in the lock are kept unless they must move;
# `make lock LOCK_ARGS=--upgrade` moves everything to the newest releases).
lock:
	@test -x $(VENV)/bin/uv || { $(PYTHON_BIN) -m venv $(VENV) && $(VENV)/bin/pip install --quiet uv; }
	$(VENV)/bin/uv pip compile pyproject.toml --extra dev --generate-hashes \
		--python-version 3.11 --universal --quiet -o requirements.lock $(LOCK_ARGS)

# Known vulnerabilities in the locked dependencies (pip-audit; bin/audit-deps).
audit: install
	bin/audit-deps

# Debian's Chromium for the browser tests (Playwright's own download does not
# work here).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		echo "Installing Debian's chromium for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
	@command -v chromium >/dev/null 2>&1 || { echo "chromium is missing" >&2; exit 1; }

run: install
	$(DEV_ENV) $(PY) manage.py migrate --noinput
	$(DEV_ENV) $(PY) manage.py seed_demo
	$(DEV_ENV) $(PY) manage.py runserver 127.0.0.1:8000

# The production shape on one machine: gunicorn, a Celery worker and beat
# (Procfile, run by honcho) on PostgreSQL and Redis; see bin/serve.
serve: install
	bin/serve

test: install browser
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: install
	$(PY) -m pytest -m "not e2e" $(PYTEST_ARGS)

# mypy loads the settings (django-stubs' plugin) but touches no database; a
# throw-away key stands in for the production one, DEBUG stays off.
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	SECRET_KEY=mypy-reads-the-settings-only $(VENV)/bin/mypy
	bin/audit-deps

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

migrations: install
	$(DEV_ENV) $(PY) manage.py makemigrations --check --dry-run

check-deploy: install
	DEBUG=False SECRET_KEY="$$(head -c 48 /dev/urandom | base64)" \
		ALLOWED_HOSTS=cairn.example.com $(PY) manage.py check --deploy --fail-level WARNING

# Schemathesis against the live API on PostgreSQL, as a portfolio manager and
# a contributor (bin/api-fuzz); DATABASE_URL names a throw-away database.
api-fuzz: install
	bin/api-fuzz

bench: install
	$(PY) bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) cairn.sqlite3 media staticfiles
