"""Sign-in lock-out shared by the login page, the admin login and the API token
endpoint; odd input on both sign-in paths."""

from __future__ import annotations

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import SESSION_KEY
from django.test import Client
from rest_framework.test import APIClient

from portal.models import AuditEvent

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


def test_own_successes_in_between_do_not_reset_another_names_failures(
    admin_user, mallory
):
    """The bypass: four wrong guesses at admin, a good sign-in as oneself,
    repeated. The other account's success must not clear admin's count."""
    attacker = Client(REMOTE_ADDR=NAT)
    for round_ in range(3):
        for guess in range(4):
            response = web(attacker, "admin", f"guess-{round_}-{guess}")
            if response.status_code == 429:
                break
            assert BAD_LOGIN in response.content.decode()
        assert web(Client(REMOTE_ADDR=NAT), "mallory", PASSWORD).status_code == 302
    # 12 guesses were tried or refused; the fifth locked the name.
    response = web(attacker, "admin", PASSWORD)
    assert response.status_code == 429
    assert not signed_in(attacker)
    assert api("admin", PASSWORD).status_code == 429
    admin_user.refresh_from_db()
    assert admin_user.last_login is None


def test_a_success_clears_only_that_names_failures(admin_user, mallory):
    attacker = Client(REMOTE_ADDR=NAT)
    for guess in range(4):
        web(attacker, "admin", f"guess-{guess}")
    web(attacker, "mallory", "typo")
    assert web(Client(REMOTE_ADDR=NAT), "mallory", PASSWORD).status_code == 302
    assert not AccessAttempt.objects.filter(username="mallory").exists()
    assert (
        AccessAttempt.objects.get(username="admin", ip_address=NAT).failures_since_start
        == 4
    )


def test_another_user_behind_the_same_address_can_still_sign_in(admin_user, mallory):
    attacker = Client(REMOTE_ADDR=NAT)
    for guess in range(10):
        web(attacker, "admin", f"guess-{guess}")
    assert web(attacker, "admin", PASSWORD).status_code == 429
    colleague = Client(REMOTE_ADDR=NAT)
    assert web(colleague, "mallory", PASSWORD).status_code == 302
    assert signed_in(colleague)
    assert api("mallory", PASSWORD).status_code == 200
    # And many failed names behind one address lock none of the others.
    for name in ("ann", "ben", "cat", "dan", "eve", "fay"):
        web(attacker, name, "wrong")
    assert web(Client(REMOTE_ADDR=NAT), "mallory", PASSWORD).status_code == 302


def test_the_lock_follows_the_name_to_other_addresses(admin_user):
    for guess in range(5):
        web(Client(REMOTE_ADDR=f"203.0.113.{guess + 1}"), "admin", f"g{guess}")
    assert web(Client(REMOTE_ADDR="192.0.2.50"), "admin", PASSWORD).status_code == 429


def test_the_admin_login_shares_the_lock(admin_user):
    client = Client(REMOTE_ADDR=NAT)
    for guess in range(3):
        web(client, "admin", f"guess-{guess}", url=ADMIN_LOGIN)
    for guess in range(2):
        api("admin", f"api-guess-{guess}")
    response = web(client, "admin", PASSWORD, url=ADMIN_LOGIN)
    assert response.status_code == 429
    assert "Account locked" in response.content.decode()
    assert int(response["Retry-After"]) > 3000


def test_token_endpoint_counts_failures_and_answers_429_json(admin_user):
    for guess in range(4):
        response = api("admin", f"guess-{guess}")
        assert response.status_code == 400
        assert "token" not in response.json()
    response = api("admin", "guess-last")  # the fifth failure locks
    assert response.status_code == 429
    response = api("admin", PASSWORD)
    assert response.status_code == 429
    assert response["Content-Type"] == "application/json"
    assert "Too many failed sign-in attempts" in response.json()["detail"]
    assert 3500 < int(response["Retry-After"]) <= 3600
    assert "token" not in response.json()
    # The web sign-in is locked by the API's failures too.
    assert web(Client(), "admin", PASSWORD).status_code == 429
    assert not admin_user.api_tokens.exists()
    kinds = list(
        AuditEvent.objects.filter(username="admin").values_list("kind", flat=True)
    )
    # Five counted failures, and the two refused attempts during the lock.
    assert kinds.count("login_failed") == 7
    assert AccessAttempt.objects.get(username="admin").failures_since_start == 5
    assert "locked_out" in kinds
    assert "login" not in kinds


def test_a_token_success_clears_the_names_failures(admin_user):
    for guess in range(4):
        api("admin", f"guess-{guess}")
    assert api("admin", PASSWORD).status_code == 200
    assert not AccessAttempt.objects.filter(username="admin").exists()


def test_the_lock_expires_after_the_cool_off(settings, admin_user):
    settings.AXES_COOLOFF_TIME = 1.0  # hours
    client = Client(REMOTE_ADDR=NAT)
    for guess in range(5):
        web(client, "admin", f"guess-{guess}")
    assert web(client, "admin", PASSWORD).status_code == 429
    # Attempts during the lock-out do not restart it.
    assert AccessAttempt.objects.get(username="admin").failures_since_start == 5

    # Travel: the failures happened 59 minutes ago, then 61.
    attempt = AccessAttempt.objects.get(username="admin")
    at = attempt.attempt_time
    AccessAttempt.objects.filter(pk=attempt.pk).update(
        attempt_time=at - timedelta(minutes=59)
    )
    response = api("admin", PASSWORD)
    assert response.status_code == 429
    assert int(response["Retry-After"]) <= 61
    AccessAttempt.objects.filter(pk=attempt.pk).update(
        attempt_time=at - timedelta(minutes=61)
    )
    assert web(client, "admin", PASSWORD).status_code == 302
    assert signed_in(client)


# Odd input on both sign-in paths --------------------------------------------------

ODD = [
    pytest.param("a" * 300, PASSWORD, id="username-300-chars"),
    pytest.param("a" * 256, "x", id="username-256-chars"),
    pytest.param("ad\x00min", PASSWORD, id="nul-in-username"),
    pytest.param("admin", "pass\x00word", id="nul-in-password"),
]


@pytest.mark.parametrize(("username", "password"), ODD)
def test_login_form_refuses_odd_input_with_a_form_error(admin_user, username, password):
    client = Client()
    response = web(client, username, password)
    assert response.status_code == 200
    html = response.content.decode()
    assert "errornote" in html or "errorlist" in html
    assert not signed_in(client)
    assert not AccessAttempt.objects.exclude(username__regex=r"^[a-z]{0,150}$").exists()


@pytest.mark.parametrize(("username", "password"), ODD)
def test_token_endpoint_refuses_odd_input_with_400_json(admin_user, username, password):
    response = api(username, password)
    assert response.status_code == 400
    body = response.json()
    assert set(body) & {"username", "password"}
    assert "token" not in body
    assert not admin_user.api_tokens.exists()


def test_token_endpoint_refuses_an_overlong_token_name(admin_user):
    response = api("admin", PASSWORD, name="n" * 101)
    assert response.status_code == 400
    assert "name" in response.json()
    assert not admin_user.api_tokens.exists()


def test_an_overlong_name_counted_by_axes_is_clipped():
    from accounts.signin import client_username

    assert client_username(None, {"username": "x" * 400}) == "x" * 150
    assert client_username(None, {"username": "a\x00b"}) == "ab"
