"""``/healthz``: real database and broker, nothing mocked."""

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


def test_healthy(client, settings):
    settings.CELERY_BROKER_URL = ""
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["database"] == "ok"
    assert body["status"] == "ok"
    assert body["broker"].startswith("not configured")
    assert "no-cache" in response["Cache-Control"]


def test_database_down_answers_503(client, settings):
    settings.CELERY_BROKER_URL = ""
    with unreachable_database():
        response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["database"].startswith("error")
    assert body["status"] == "unavailable"
    # The real connection is back.
    assert client.get("/healthz").status_code == 200


def test_broker_up(client, settings):
    settings.CELERY_BROKER_URL = REDIS
    response = client.get("/healthz")
    assert response.json()["broker"] == "ok", response.json()
    assert response.status_code == 200


def test_broker_down_answers_503(client, settings):
    settings.CELERY_BROKER_URL = NO_REDIS
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["broker"].startswith("error")
    assert body["database"] == "ok"


def test_health_check_only_answers_get(client):
    assert client.post("/healthz").status_code == 405
