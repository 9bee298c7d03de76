"""The admin login and the token endpoint share the lock-out (the rest of it is
tested in tests/portal/test_auth.py); odd input on both sign-in paths."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import SESSION_KEY
from django.test import Client
from rest_framework.test import APIClient

from ..factories import PASSWORD, UserFactory

LOGIN = "/accounts/login/"
ADMIN_LOGIN = "/admin/login/"
TOKEN = "/api/v1/auth/token/"
BAD_LOGIN = "Please enter a correct username and password."
NAT = "198.51.100.7"

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _limit(settings):
    settings.AXES_FAILURE_LIMIT = 5


@pytest.fixture
def admin_user():
    return UserFactory(username="admin", is_staff=True, is_superuser=True)


@pytest.fixture
def mallory():
    return UserFactory(username="mallory")


def web(client, username, password, url=LOGIN):
    return client.post(url, {"username": username, "password": password})


def api(username, password, addr=NAT, **extra):
    return APIClient(REMOTE_ADDR=addr).post(
        TOKEN, {"username": username, "password": password, **extra}, format="json"
    )


def signed_in(client) -> bool:
    return SESSION_KEY in client.session


def test_the_admin_login_shares_the_lock(admin_user):
    client = Client(REMOTE_ADDR=NAT)
    for guess in range(3):
        web(client, "admin", f"guess-{guess}", url=ADMIN_LOGIN)
    for guess in range(2):
        api("admin", f"api-guess-{guess}")
    response = web(client, "admin", PASSWORD, url=ADMIN_LOGIN)
    assert response.status_code == 429
    assert "Account locked" in response.content.decode()
    assert api("admin", PASSWORD).status_code == 429


def test_a_token_success_clears_only_the_names_own_failures(admin_user, mallory):
    for guess in range(4):
        api("admin", f"guess-{guess}")
        api("mallory", f"guess-{guess}")
    assert api("admin", PASSWORD).status_code == 200
    assert not AccessAttempt.objects.filter(username="admin").exists()
    assert AccessAttempt.objects.get(username="mallory").failures_since_start == 4
    # admin may mistype again without being locked by the old failures.
    for guess in range(4):
        assert api("admin", f"again-{guess}").status_code == 400
    assert api("admin", PASSWORD).status_code == 200


# Odd input on both sign-in paths --------------------------------------------------

LONG = "Ensure this value has at most 150 characters"
NUL = "Null characters are not allowed."
ODD = [
    pytest.param("a" * 300, PASSWORD, LONG, id="username-300-chars"),
    pytest.param("a" * 256, "x", LONG, id="username-256-chars"),
    pytest.param("ad\x00min", PASSWORD, NUL, id="nul-in-username"),
    pytest.param("admin", "pass\x00word", NUL, id="nul-in-password"),
]


@pytest.mark.parametrize("url", [LOGIN, ADMIN_LOGIN])
@pytest.mark.parametrize(("username", "password", "message"), ODD)
def test_login_forms_refuse_odd_input_with_a_form_error(
    admin_user, username, password, message, url
):
    client = Client()
    response = web(client, username, password, url=url)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not signed_in(client)
    assert not AccessAttempt.objects.exists()


@pytest.mark.parametrize(("username", "password", "message"), ODD)
def test_token_endpoint_refuses_odd_input_with_400_json(
    admin_user, username, password, message
):
    response = api(username, password)
    assert response.status_code == 400
    field = "password" if "\x00" in password else "username"
    body = response.json()
    assert list(body) == [field]
    expected = "Ensure this field has no more than 150 characters."
    assert body[field] == [NUL if message == NUL else expected]
    assert not admin_user.api_tokens.exists()
    assert not AccessAttempt.objects.exists()


def test_token_endpoint_refuses_an_overlong_token_name(admin_user):
    response = api("admin", PASSWORD, name="n" * 101)
    assert response.status_code == 400
    assert "name" in response.json()
    assert not admin_user.api_tokens.exists()


def test_an_overlong_name_counted_by_axes_is_clipped():
    from accounts.signin import client_username

    assert client_username(None, {"username": "x" * 400}) == "x" * 150
    assert client_username(None, {"username": "a\x00b"}) == "ab"
