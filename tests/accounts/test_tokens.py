"""API tokens: several named, hashed, expiring tokens per user; listed and
revoked by their owner; revoked by a password change or a deactivation."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.contrib.auth import SESSION_KEY
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import services
from accounts.models import ApiToken
from portal.models import AuditEvent

from ..factories import PASSWORD, UserFactory

API = "/api/v1"
NEW_PASSWORD = "a-much-better-passphrase-42"

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice():
    return UserFactory(username="alice")


def obtain(username="alice", password=PASSWORD, **extra) -> dict:
    response = APIClient().post(
        f"{API}/auth/token/",
        {"username": username, "password": password, **extra},
        format="json",
    )
    assert response.status_code == 200, response.content
    return response.json()


def bearer(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    return client


def opens_the_api(secret: str) -> bool:
    response = bearer(secret).get(f"{API}/milestones/")
    if response.status_code == 401:
        assert response["Content-Type"] == "application/json"
        assert "detail" in response.json()
        return False
    assert response.status_code == 200
    return True


def test_a_user_holds_several_named_tokens(alice, settings):
    settings.API_TOKEN_TTL_DAYS = 30
    laptop = obtain(name="laptop")
    ci = obtain(name="ci")
    assert laptop["token"] != ci["token"]
    assert laptop["name"] == "laptop"
    expires = timezone.datetime.fromisoformat(laptop["expires"])
    created = timezone.datetime.fromisoformat(laptop["created"])
    assert expires - created == timedelta(days=30)
    assert laptop["last_used"] is None
    assert opens_the_api(laptop["token"]) and opens_the_api(ci["token"])
    assert ApiToken.objects.get(pk=laptop["id"]).last_used is not None


def test_only_a_digest_of_the_secret_is_stored(alice):
    secret = obtain(name="laptop")["token"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM accounts_apitoken")
        stored = " ".join(str(value) for row in cursor.fetchall() for value in row)
    assert secret not in stored
    assert hashlib.sha256(secret.encode()).hexdigest() in stored


def test_a_token_expires(alice, settings):
    settings.API_TOKEN_TTL_DAYS = 7
    secret = obtain()["token"]
    token = ApiToken.objects.get()
    assert opens_the_api(secret)
    ApiToken.objects.filter(pk=token.pk).update(
        expires=timezone.now() - timedelta(seconds=1)
    )
    response = bearer(secret).get(f"{API}/milestones/")
    assert response.status_code == 401
    assert response.json() == {"detail": "Token has expired."}


def test_the_owner_lists_their_tokens_without_secrets(alice):
    mine = [obtain(name="laptop"), obtain(name="ci")]
    services.api_token_create(user=UserFactory(username="bob"), name="bob's")
    response = bearer(mine[0]["token"]).get(f"{API}/auth/tokens/")
    assert response.status_code == 200
    rows = response.json()
    assert sorted(r["name"] for r in rows) == ["ci", "laptop"]
    assert set(rows[0]) == {"id", "name", "created", "expires", "last_used"}
    assert not any(m["token"] in response.content.decode() for m in mine)
    # Over a session too.
    client = APIClient()
    client.force_login(alice)
    assert len(client.get(f"{API}/auth/tokens/").json()) == 2


def test_anonymous_cannot_list_tokens(db):
    response = APIClient().get(f"{API}/auth/tokens/")
    assert response.status_code == 401


def test_the_owner_revokes_one_token(alice):
    laptop, ci = obtain(name="laptop"), obtain(name="ci")
    response = bearer(ci["token"]).delete(f"{API}/auth/tokens/{laptop['id']}/")
    assert response.status_code == 204
    assert not opens_the_api(laptop["token"])
    assert opens_the_api(ci["token"])
    event = AuditEvent.objects.get(kind="token_revoked")
    assert (event.user, event.details["name"]) == (alice, "laptop")
    assert AuditEvent.objects.filter(kind="token_created").count() == 2


def test_another_users_token_answers_404_and_stays(alice):
    bob = UserFactory(username="bob")
    bobs, _ = services.api_token_create(user=bob, name="bob's")
    mine = obtain()["token"]
    response = bearer(mine).delete(f"{API}/auth/tokens/{bobs.pk}/")
    assert response.status_code == 404
    assert ApiToken.objects.filter(pk=bobs.pk).exists()
    assert bearer(mine).delete(f"{API}/auth/tokens/999999/").status_code == 404


def test_revoked_or_unknown_token_is_401_json(alice):
    secret = obtain()["token"]
    ApiToken.objects.all().delete()
    response = bearer(secret).get(f"{API}/milestones/")
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid or revoked token."}


def test_password_change_page_revokes_tokens(alice):
    secret = obtain()["token"]
    client = Client()
    client.force_login(alice)
    response = client.post(
        reverse("password_change"),
        {
            "old_password": PASSWORD,
            "new_password1": NEW_PASSWORD,
            "new_password2": NEW_PASSWORD,
        },
    )
    assert response.status_code == 302
    assert SESSION_KEY in client.session
    assert not alice.api_tokens.exists()
    assert not opens_the_api(secret)
    event = AuditEvent.objects.get(kind="token_revoked")
    assert event.details["reason"] == "password change"
    alice.refresh_from_db()
    assert alice.check_password(NEW_PASSWORD)


def test_admin_password_change_revokes_tokens(alice):
    secret = obtain()["token"]
    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(root)
    response = client.post(
        reverse("admin:auth_user_password_change", args=[alice.pk]),
        {
            "usable_password": "true",
            "password1": NEW_PASSWORD,
            "password2": NEW_PASSWORD,
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert not opens_the_api(secret)
    assert not alice.api_tokens.exists()
    event = AuditEvent.objects.get(kind="token_revoked")
    assert event.user == root
    alice.refresh_from_db()
    assert alice.check_password(NEW_PASSWORD)


def test_a_password_set_outside_the_services_still_kills_old_tokens(alice):
    """``manage.py changepassword`` and the like save the user directly: the
    token's password fingerprint no longer matches."""
    secret = obtain()["token"]
    alice.set_password(NEW_PASSWORD)
    alice.save()
    response = bearer(secret).get(f"{API}/milestones/")
    assert response.status_code == 401
    assert "password change" in response.json()["detail"]


def test_the_service_revokes_on_password_set(alice):
    secret = obtain()["token"]
    services.user_password_set(actor=None, user=alice, password=NEW_PASSWORD)
    assert not alice.api_tokens.exists()
    assert not opens_the_api(secret)
    # A new token works under the new password.
    assert opens_the_api(obtain(password=NEW_PASSWORD)["token"])


def test_deactivation_in_the_admin_revokes_tokens(alice):
    secret = obtain()["token"]
    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(root)
    page = client.get(f"/admin/accounts/user/{alice.pk}/change/")
    form = page.context["adminform"].form
    data = {
        name: value
        for name, value in form.initial.items()
        if value is not None and name not in {"password", "groups"}
    }
    data.update(
        {
            "is_active": "",
            "date_joined_0": alice.date_joined.strftime("%Y-%m-%d"),
            "date_joined_1": alice.date_joined.strftime("%H:%M:%S"),
            "last_login_0": "",
            "last_login_1": "",
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
        }
    )
    data.pop("is_active")
    data.pop("date_joined", None)
    data.pop("last_login", None)
    data.pop("user_permissions", None)
    response = client.post(f"/admin/accounts/user/{alice.pk}/change/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    alice.refresh_from_db()
    assert not alice.is_active
    assert not alice.api_tokens.exists()
    assert not opens_the_api(secret)
    event = AuditEvent.objects.get(kind="token_revoked")
    assert (event.user, event.details["reason"]) == (root, "deactivation")

    # Reactivated, the old token stays dead.
    alice.is_active = True
    alice.save()
    assert not opens_the_api(secret)


def test_the_service_revokes_on_deactivation(alice):
    secret = obtain()["token"]
    services.user_deactivate(actor=None, user=alice)
    alice.refresh_from_db()
    assert not alice.is_active
    assert not alice.api_tokens.exists()
    assert not opens_the_api(secret)


def test_plain_tokens_of_before_are_migrated_hashed(alice, settings):
    """The migration's step, run on a stand-in of DRF's old table."""
    import importlib

    from django.apps import apps

    migration = importlib.import_module("accounts.migrations.0003_api_tokens_hashed")
    plain = "0123456789abcdef0123456789abcdef01234567"
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE authtoken_token "
            '("key" varchar(40) PRIMARY KEY, user_id bigint, created timestamp)'
        )
        cursor.execute(
            "INSERT INTO authtoken_token VALUES (%s, %s, %s)",
            [plain, alice.pk, timezone.now().replace(tzinfo=None)],
        )
    migration.move_plain_tokens(apps, SimpleNamespace(connection=connection))
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM authtoken_token")
        assert cursor.fetchone()[0] == 0
        cursor.execute("DROP TABLE authtoken_token")
    token = ApiToken.objects.get(user=alice)
    assert token.key_hash == hashlib.sha256(plain.encode()).hexdigest()
    assert opens_the_api(plain)


# The API's description needs a signed-in user (DEBUG off) ----------------------


def test_schema_and_docs_need_a_signed_in_user(alice, settings):
    settings.DEBUG = False
    anonymous = APIClient()
    response = anonymous.get("/api/schema/")
    assert response.status_code == 401
    assert "detail" in response.json()
    response = anonymous.get("/api/docs/")
    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/?next=/api/docs/")

    client = APIClient()
    client.force_login(alice)
    assert client.get("/api/schema/").status_code == 200
    assert client.get("/api/docs/").status_code == 200
    token_client = bearer(obtain()["token"])
    assert token_client.get("/api/schema/", {"format": "json"}).status_code == 200


def test_schema_and_docs_are_open_in_development(db, settings):
    settings.DEBUG = True
    assert APIClient().get("/api/schema/").status_code == 200


@pytest.mark.parametrize("n", [2, 20])
def test_token_list_query_count_is_constant(alice, n, django_assert_max_num_queries):
    for k in range(n):
        services.api_token_create(user=alice, name=f"t{k}")
    client = APIClient()
    client.force_authenticate(alice)
    # The tokens, in one query.
    with django_assert_max_num_queries(1):
        response = client.get(f"{API}/auth/tokens/")
    assert len(response.json()) == n
