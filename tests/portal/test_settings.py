"""Settings come from the environment: checked in fresh processes."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Everything the settings read, so the test environment (pytest-env, CI's
# DATABASE_URL) does not leak into the process under test.
CONFIG_VARIABLES = {
    "SECRET_KEY",
    "DEBUG",
    "ALLOWED_HOSTS",
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "EMAIL_URL",
    "SECURE_SSL_REDIRECT",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SECURE_HSTS_SECONDS",
    "USE_X_FORWARDED_PROTO",
    "CSRF_TRUSTED_ORIGINS",
    "CACHE_URL",
    "DATABASE_JIT",
}

SHOW_SETTINGS = """
import json, django
django.setup()
from django.conf import settings
from portal.celery import app
print(json.dumps({
    "engine": settings.DATABASES["default"]["ENGINE"],
    "name": str(settings.DATABASES["default"]["NAME"]),
    "eager": settings.CELERY_TASK_ALWAYS_EAGER,
    "celery_eager": app.conf.task_always_eager,
    "broker": settings.CELERY_BROKER_URL,
    "db_options": settings.DATABASES["default"].get("OPTIONS", {}),
    "cache": settings.CACHES["default"]["BACKEND"],
    "cache_location": str(settings.CACHES["default"].get("LOCATION", "")),
}))
"""


def start(args, **env) -> subprocess.Popen:
    clean = {k: v for k, v in os.environ.items() if k not in CONFIG_VARIABLES}
    clean["DJANGO_SETTINGS_MODULE"] = "portal.settings"
    clean.update(env)
    return subprocess.Popen(
        [sys.executable, *args],
        cwd=ROOT,
        env=clean,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


# Each case is a fresh Python process; they start together, once per module,
# since each spends seconds importing Django.
CASES = {
    "deploy": lambda: start(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        DEBUG="False",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="cairn.example.com",
    ),
    "no-secret": lambda: start(
        ["manage.py", "check"], DEBUG="False", ALLOWED_HOSTS="cairn.example.com"
    ),
    "defaults": lambda: start(["-c", SHOW_SETTINGS], DEBUG="True"),
    "makemigrations": lambda: start(
        ["manage.py", "makemigrations", "--check", "--dry-run"], DEBUG="False"
    ),
    "configured": lambda: start(
        ["-c", SHOW_SETTINGS],
        DEBUG="True",
        DATABASE_URL="postgres://cairn@db.example:5432/cairn",
        CELERY_BROKER_URL="redis://broker.example:6379/0",
        CACHE_URL="redis://cache.example:6379/1",
    ),
    "jit": lambda: start(
        ["-c", SHOW_SETTINGS],
        DEBUG="True",
        DATABASE_URL="postgres://cairn@db.example:5432/cairn",
        DATABASE_JIT="True",
    ),
}


@pytest.fixture(scope="module")
def results():
    processes = {name: case() for name, case in CASES.items()}
    finished = {}
    for name, process in processes.items():
        stdout, stderr = process.communicate(timeout=180)
        finished[name] = subprocess.CompletedProcess(
            process.args, process.returncode, stdout, stderr
        )
    return finished


def shown_settings(result) -> dict:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_production_settings_pass_the_deploy_check(results):
    result = results["deploy"]
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "WARNINGS" not in output and "?: (" not in output, output
    assert "System check identified no issues" in output


def test_production_refuses_to_start_without_a_secret_key(results):
    result = results["no-secret"]
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "Set SECRET_KEY (or DEBUG=True for development)." in result.stderr


def test_the_migration_check_needs_no_secret(results):
    result = results["makemigrations"]
    assert result.returncode == 0, result.stderr
    assert "No changes detected" in result.stdout


def test_defaults_are_sqlite_and_eager_tasks(results):
    shown = shown_settings(results["defaults"])
    assert shown["engine"] == "django.db.backends.sqlite3"
    assert shown["name"].endswith("cairn.sqlite3")
    assert shown["broker"] == ""
    assert shown["eager"] is True and shown["celery_eager"] is True
    assert shown["cache"] == "django.core.cache.backends.locmem.LocMemCache"


def test_database_and_broker_come_from_the_environment(results):
    shown = shown_settings(results["configured"])
    assert shown["engine"] == "django.db.backends.postgresql"
    assert shown["name"] == "cairn"
    assert shown["broker"] == "redis://broker.example:6379/0"
    assert shown["eager"] is False and shown["celery_eager"] is False
    # PostgreSQL's JIT is off unless asked for; the cache is shared.
    assert shown["db_options"]["options"] == "-c jit=off"
    assert shown["cache"] == "django.core.cache.backends.redis.RedisCache"
    assert shown["cache_location"] == "redis://cache.example:6379/1"


def test_postgresql_jit_can_be_turned_back_on(results):
    shown = shown_settings(results["jit"])
    assert "jit" not in shown["db_options"].get("options", "")


@pytest.mark.django_db
def test_the_live_postgresql_connection_runs_without_jit():
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only (CI runs the suite on PostgreSQL too)")
    with connection.cursor() as cursor:
        cursor.execute("SHOW jit")
        assert cursor.fetchone()[0] == "off"
