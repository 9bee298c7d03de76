"""Sign-in, lockout, sign-out and password change, through the real views."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.test import Client
from django.urls import reverse

from ..factories import PASSWORD, UserFactory

LOGIN = "/accounts/login/"
BAD_LOGIN = "Please enter a correct username and password."

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice():
    return UserFactory(username="alice")


def sign_in(client, username, password, **extra):
    return client.post(LOGIN, {"username": username, "password": password}, **extra)


def signed_in(client) -> bool:
    return SESSION_KEY in client.session


def test_login_page_has_the_admin_look(client):
    response = client.get(LOGIN)
    assert response.status_code == 200
    html = response.content.decode()
    assert "<title>Sign in | Cairn</title>" in html
    assert 'id="site-name"' in html and ">Cairn<" in html
    assert 'id="login-form"' in html
    assert 'name="csrfmiddlewaretoken"' in html
    assert "admin/css/login.css" in html


def test_good_login_redirects_to_next(client, alice):
    response = sign_in(client, "alice", PASSWORD)
    assert response.status_code == 302
    assert response.url == settings.LOGIN_REDIRECT_URL
    assert signed_in(client)
    alice.refresh_from_db()
    assert alice.last_login is not None

    other = Client()
    response = other.post(
        f"{LOGIN}?next=/accounts/password_change/",
        {"username": "alice", "password": PASSWORD},
    )
    assert response.url == "/accounts/password_change/"


def test_login_never_redirects_off_site(client, alice):
    response = client.post(
        f"{LOGIN}?next=https://evil.example/",
        {"username": "alice", "password": PASSWORD},
    )
    assert response.status_code == 302
    assert response.url == settings.LOGIN_REDIRECT_URL


def test_signed_in_user_skips_the_login_page(client, alice):
    client.force_login(alice)
    assert client.get(LOGIN).status_code == 302


@pytest.mark.parametrize(
    ("username", "password"),
    [("alice", "wrong-password"), ("nobody", PASSWORD), ("", "")],
    ids=["wrong-password", "unknown-user", "empty"],
)
def test_bad_login_shows_an_error_and_changes_nothing(
    client, alice, username, password
):
    before = alice.password, alice.last_login
    response = sign_in(client, username, password)
    assert response.status_code == 200
    html = response.content.decode()
    if username:
        assert BAD_LOGIN in html
    else:
        assert "This field is required." in html
    assert f'value="{username}"' in html or not username  # input kept
    assert not signed_in(client)
    alice.refresh_from_db()
    assert (alice.password, alice.last_login) == before
    from accounts.models import User

    assert not User.objects.filter(username="nobody").exists()


def test_login_without_csrf_token_is_refused(alice):
    client = Client(enforce_csrf_checks=True)
    response = sign_in(client, "alice", PASSWORD)
    assert response.status_code == 403
    assert not signed_in(client)
    alice.refresh_from_db()
    assert alice.last_login is None


def test_login_with_csrf_token_works_under_csrf_checks(alice):
    client = Client(enforce_csrf_checks=True)
    client.get(LOGIN)
    token = client.cookies[settings.CSRF_COOKIE_NAME].value
    response = client.post(
        LOGIN,
        {"username": "alice", "password": PASSWORD, "csrfmiddlewaretoken": token},
    )
    assert response.status_code == 302
    assert signed_in(client)


def test_five_failed_logins_lock_the_account(client, alice):
    limit = settings.AXES_FAILURE_LIMIT
    assert limit == 5
    for attempt in range(1, limit):
        response = sign_in(client, "alice", f"wrong-{attempt}")
        assert response.status_code == 200, attempt
        assert BAD_LOGIN in response.content.decode()
    response = sign_in(client, "alice", "wrong-last")
    assert response.status_code == 429  # the fifth failure locks

    # The sixth attempt is refused even with the right password.
    response = sign_in(client, "alice", PASSWORD)
    assert response.status_code == 429
    assert "Account locked" in response.content.decode()
    assert "registration/locked_out.html" in [t.name for t in response.templates]
    assert not signed_in(client)
    alice.refresh_from_db()
    assert alice.last_login is None
    assert AccessAttempt.objects.filter(username="alice").exists()


def test_a_success_resets_the_failure_count(client, alice):
    for attempt in range(settings.AXES_FAILURE_LIMIT - 1):
        sign_in(client, "alice", f"wrong-{attempt}")
    assert sign_in(client, "alice", PASSWORD).status_code == 302
    client.post(reverse("logout"))
    for attempt in range(settings.AXES_FAILURE_LIMIT - 1):
        assert sign_in(client, "alice", f"again-{attempt}").status_code == 200
    assert sign_in(client, "alice", PASSWORD).status_code == 302


def test_lockout_of_one_account_leaves_others_from_elsewhere_alone(client, alice):
    UserFactory(username="bob")
    for attempt in range(settings.AXES_FAILURE_LIMIT):
        sign_in(client, "alice", f"wrong-{attempt}")
    bob = Client(REMOTE_ADDR="10.0.0.2")
    assert sign_in(bob, "bob", PASSWORD).status_code == 302
    # Locked per username + address: alice elsewhere is not (yet) locked.
    assert sign_in(Client(REMOTE_ADDR="10.0.0.3"), "alice", PASSWORD).status_code == 302


def test_signing_in_as_oneself_does_not_reset_anothers_failures(alice):
    """The bypass: four guesses at ``admin``, then a good sign-in as one's own
    account from the same address, repeated. The count of ``admin`` is never
    reset by another user's success, so the fifth guess locks it."""
    UserFactory(username="admin", is_staff=True, is_superuser=True)
    attacker = Client(REMOTE_ADDR="10.9.9.9")
    guesses = 0
    for _round in range(3):
        for _ in range(settings.AXES_FAILURE_LIMIT - 1):
            response = sign_in(attacker, "admin", f"guess-{guesses}")
            guesses += 1
            if response.status_code == 429:
                break
        if response.status_code == 429:
            break
        assert sign_in(attacker, "alice", PASSWORD).status_code == 302
        attacker.post(reverse("logout"))

    assert response.status_code == 429
    assert guesses == settings.AXES_FAILURE_LIMIT
    # Locked even with the right password, from that address.
    assert sign_in(attacker, "admin", PASSWORD).status_code == 429
    # alice's own success cleared only alice's (none) failures.
    assert AccessAttempt.objects.filter(username="admin").exists()


def test_a_shared_address_does_not_lock_everyone_behind_it(alice):
    UserFactory(username="bob")
    office = "203.0.113.7"  # one NAT for the whole office
    for n in range(settings.AXES_FAILURE_LIMIT * 2):
        sign_in(Client(REMOTE_ADDR=office), "alice", f"typo-{n}")
    assert sign_in(Client(REMOTE_ADDR=office), "bob", PASSWORD).status_code == 302


def test_guesses_spread_over_addresses_lock_the_username_everywhere(alice, settings):
    settings.LOCKOUT_USERNAME_LIMIT = 8
    for n in range(8):
        # Never five from one address: the per-address limit is not reached.
        sign_in(Client(REMOTE_ADDR=f"198.51.100.{n}"), "alice", f"spray-{n}")
    fresh = Client(REMOTE_ADDR="192.0.2.200")
    assert sign_in(fresh, "alice", PASSWORD).status_code == 429


def test_a_lock_ends_after_the_cool_off(client, alice):
    from datetime import timedelta

    from django.utils import timezone

    for attempt in range(settings.AXES_FAILURE_LIMIT):
        sign_in(client, "alice", f"wrong-{attempt}")
    assert sign_in(client, "alice", PASSWORD).status_code == 429
    hours = settings.AXES_COOLOFF_TIME
    AccessAttempt.objects.update(
        attempt_time=timezone.now() - timedelta(hours=hours, minutes=1)
    )
    assert sign_in(client, "alice", PASSWORD).status_code == 302


def test_token_endpoint_shares_the_lock_and_answers_429_json(alice):
    from rest_framework.test import APIClient

    api = APIClient(REMOTE_ADDR="10.7.7.7")
    for n in range(settings.AXES_FAILURE_LIMIT - 1):
        response = api.post(
            "/api/v1/auth/token/", {"username": "alice", "password": f"x{n}"}
        )
        assert response.status_code == 400
    # The last failure on the web page (same address) completes the count.
    assert sign_in(Client(REMOTE_ADDR="10.7.7.7"), "alice", "web-x").status_code == 429

    response = api.post(
        "/api/v1/auth/token/", {"username": "alice", "password": PASSWORD}
    )

    assert response.status_code == 429
    assert response["Content-Type"] == "application/json"
    assert "locked" in response.json()["detail"].lower()
    assert int(response["Retry-After"]) > 0
    assert "token" not in response.json()


def test_logout_needs_a_post_and_ends_the_session(client, alice):
    client.force_login(alice)
    assert client.get(reverse("logout")).status_code == 405
    assert signed_in(client)
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert response.url == reverse("login")
    assert not signed_in(client)


def test_password_change(client, alice):
    client.force_login(alice)
    page = client.get(reverse("password_change"))
    assert page.status_code == 200
    assert "Change password" in page.content.decode()
    new = "a-much-better-passphrase-42"
    response = client.post(
        reverse("password_change"),
        {"old_password": PASSWORD, "new_password1": new, "new_password2": new},
    )
    assert response.status_code == 302
    assert response.url == reverse("password_change_done")
    assert signed_in(client)  # the session survives its own password change
    assert "Password changed" in client.get(response.url).content.decode()
    alice.refresh_from_db()
    assert alice.check_password(new)


def test_password_change_refuses_a_wrong_old_password(client, alice):
    client.force_login(alice)
    new = "a-much-better-passphrase-42"
    response = client.post(
        reverse("password_change"),
        {"old_password": "wrong", "new_password1": new, "new_password2": new},
    )
    assert response.status_code == 200
    assert "Your old password was entered incorrectly" in response.content.decode()
    alice.refresh_from_db()
    assert alice.check_password(PASSWORD)


def test_password_change_needs_a_login(client):
    response = client.get(reverse("password_change"))
    assert response.status_code == 302
    assert response.url.startswith(f"{LOGIN}?next=")


def test_signing_in_adds_no_changed_user_row_to_the_history(client, alice):
    from portal.models import AuditEvent

    rows = alice.history.count()
    events = AuditEvent.objects.count()

    sign_in(client, "alice", PASSWORD)

    alice.refresh_from_db()
    assert alice.last_login is not None
    assert alice.history.count() == rows  # no empty "Changed User" row
    assert AuditEvent.objects.count() == events + 1  # the sign-in itself
