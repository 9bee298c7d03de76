"""``/healthz`` (liveness) and ``/readyz`` (readiness): real database, broker
and cache, nothing mocked."""

from __future__ import annotations

import copy
from contextlib import contextmanager

import pytest
from django.db import connections

pytestmark = pytest.mark.django_db

REDIS = "redis://127.0.0.1:6379/15"
NO_REDIS = "redis://127.0.0.1:1/0"


@contextmanager
def unreachable_database():
    """Swap the default connection for one to a database that cannot open."""
    original = connections["default"]
    settings_dict = copy.deepcopy(original.settings_dict)
    if original.vendor == "sqlite":
        # Read-only URI in a directory that does not exist: never created.
        settings_dict["NAME"] = "file:/nonexistent-cairn-dir/db.sqlite3?mode=ro"
        settings_dict["OPTIONS"] = {"uri": True}
    else:
        settings_dict.update(HOST="127.0.0.1", PORT=1)
        settings_dict["OPTIONS"] = {"connect_timeout": 2}
    settings_dict["TEST"] = {**settings_dict.get("TEST", {}), "NAME": None}
    broken = connections.create_connection("default")
    broken.settings_dict = settings_dict
    connections["default"] = broken
    try:
        yield
    finally:
        connections["default"] = original
        broken.close()


def test_ready(client, settings):
    settings.CELERY_BROKER_URL = ""
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["database"] == "ok"
    assert body["cache"] == "ok"
    assert body["migrations"] == "ok"
    assert body["status"] == "ok"
    assert body["broker"].startswith("not configured")
    assert "no-cache" in response["Cache-Control"]


def test_liveness_reads_nothing_and_stays_up_when_the_database_is_down(
    client, settings, django_assert_num_queries
):
    settings.CELERY_BROKER_URL = NO_REDIS
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})
    with unreachable_database():
        assert client.get("/healthz").status_code == 200


def test_unapplied_migration_is_not_ready(client, settings):
    from django.db import connection
    from django.db.migrations.recorder import MigrationRecorder

    settings.CELERY_BROKER_URL = ""
    recorder = MigrationRecorder(connection)
    last = recorder.migration_qs.filter(app="portal").order_by("-id").first()
    last.delete()  # as if the newest portal migration had not run

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["migrations"] == "error: 1 migrations not applied"


def test_cache_down_is_not_ready(client, settings):
    settings.CELERY_BROKER_URL = ""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": NO_REDIS,
        }
    }
    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["cache"].startswith("error")


def test_database_down_answers_503(client, settings):
    settings.CELERY_BROKER_URL = ""
    with unreachable_database():
        response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["database"].startswith("error")
    assert body["status"] == "unavailable"
    # The real connection is back.
    assert client.get("/readyz").status_code == 200


def test_broker_up(client, settings):
    settings.CELERY_BROKER_URL = REDIS
    response = client.get("/readyz")
    assert response.json()["broker"] == "ok", response.json()
    assert response.status_code == 200


def test_broker_down_answers_503(client, settings):
    settings.CELERY_BROKER_URL = NO_REDIS
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["broker"].startswith("error")
    assert body["database"] == "ok"


def test_health_checks_only_answer_get(client):
    assert client.post("/healthz").status_code == 405
    assert client.post("/readyz").status_code == 405
