"""An unreachable database: the API answers 503 JSON with a reason and
Retry-After, pages a 503 page; never Django's HTML 500. The requests run
against a connection pointed at a place no database answers (a closed port
on PostgreSQL, a missing directory on SQLite); the real one is untouched."""

from __future__ import annotations

import contextlib
import socket

import pytest
from django.db import connections
from django.test import Client


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # free again once closed: nobody listens


@contextlib.contextmanager
def database_down():
    real = connections["default"]
    settings_dict = dict(real.settings_dict)
    if real.vendor == "postgresql":
        settings_dict.update(HOST="127.0.0.1", PORT=str(_closed_port()))
        settings_dict["OPTIONS"] = {
            **settings_dict.get("OPTIONS", {}),
            "connect_timeout": 2,
        }
        settings_dict["OPTIONS"].pop("pool", None)
    else:
        settings_dict["NAME"] = "/nonexistent-cairn-dir/cairn.sqlite3"
    dead = real.__class__(settings_dict, alias="default")
    connections["default"] = dead
    try:
        yield
    finally:
        dead.close()
        connections["default"] = real


@pytest.fixture
def down(django_db_blocker):
    with django_db_blocker.unblock(), database_down():
        yield


@pytest.mark.usefixtures("down")
def test_api_answers_503_json_when_the_database_is_unreachable():
    client = Client(raise_request_exception=False)

    response = client.get(
        "/api/v1/milestones/", HTTP_AUTHORIZATION="Token 0123456789abcdef"
    )

    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    assert response["Retry-After"] == "30"
    assert response.json() == {
        "detail": "Database unavailable",
        "code": "database_unavailable",
    }


@pytest.mark.usefixtures("down")
def test_api_token_endpoint_answers_503_json_too():
    client = Client(raise_request_exception=False)

    response = client.post(
        "/api/v1/auth/token/",
        {"username": "pmo", "password": "x"},
        content_type="application/json",
    )

    assert response.status_code == 503
    assert response.json()["code"] == "database_unavailable"


@pytest.mark.usefixtures("down")
def test_pages_answer_a_503_page_when_the_database_is_unreachable():
    client = Client(raise_request_exception=False)
    client.cookies["sessionid"] = "no-such-session"

    response = client.get("/milestones/mine/")

    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert b"temporarily unavailable" in response.content


def test_a_refused_query_is_not_reported_as_an_outage(db):
    from django.db import DatabaseError, transaction

    from portal.api import database_unavailable

    with (
        pytest.raises(DatabaseError) as caught,
        transaction.atomic(),
        connections["default"].cursor() as cursor,
    ):
        cursor.execute("SELECT * FROM no_such_table_at_all")

    assert not database_unavailable(caught.value)
