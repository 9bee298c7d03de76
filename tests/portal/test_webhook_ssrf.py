"""Chat webhooks cannot be turned against the server (SSRF), carry an
idempotency key, and their secret URLs are masked for readers."""

from __future__ import annotations

import pytest

from portal.errors import Invalid
from portal.models import Notification
from portal.notifications import safe_http
from portal.notifications import services as outbox
from portal.notifications.messages import Message
from risks import services
from risks.models import PortfolioChannels

from ..risks.webhooks import WebhookServer

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://hooks.slack.com/services/T/B/x", "https://"),
        ("https://127.0.0.1/hook", "not a chat provider"),
        ("https://localhost/hook", "not a chat provider"),
        ("https://169.254.169.254/latest/meta-data/", "not a chat provider"),
        ("https://[::1]/hook", "not a chat provider"),
        ("https://[::ffff:127.0.0.1]/hook", "not a chat provider"),
        ("https://evil.example/services/T/B/x", "not a chat provider"),
        ("https://hooks.slack.com.evil.example/x", "not a chat provider"),
        ("https://user:pw@hooks.slack.com/services/x", "user name or password"),
        ("https://hooks.slack.com:8443/services/x", "standard HTTPS port"),
        ("file:///etc/passwd", "https://"),
        ("https://webhook.office.com/x", "not a chat provider"),
    ],
)
def test_unsafe_webhook_urls_are_refused(url, reason):
    with pytest.raises(safe_http.WebhookRefused, match=reason):
        safe_http.check_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.slack.com/services/T000/B000/XXXX",
        "https://contoso.webhook.office.com/webhookb2/abc/IncomingWebhook/def",
        "https://prod-12.westeurope.logic.azure.com/workflows/abc/triggers/x",
    ],
)
def test_provider_webhook_urls_are_accepted(url):
    assert safe_http.check_url(url).scheme == "https"


def test_a_setting_may_allow_more_hosts(settings):
    settings.WEBHOOK_ALLOWED_HOSTS = ["*.chat.example.org"]
    assert safe_http.check_url("https://eu.chat.example.org/hook").host == (
        "eu.chat.example.org"
    )
    with pytest.raises(safe_http.WebhookRefused):
        safe_http.check_url("https://chat.example.org.evil.test/hook")


def test_the_service_refuses_an_unsafe_url_and_saves_nothing(portfolio, pmo):
    with pytest.raises(Invalid) as caught:
        services.portfolio_channels_set(
            actor=pmo,
            portfolio=portfolio,
            slack_webhook_url="https://hooks.slack.com/services/T/B/ok",
            teams_webhook_url="https://127.0.0.1:8080/admin",
        )
    assert set(caught.value.errors) == {"teams_webhook_url"}
    assert not PortfolioChannels.objects.exists()


def test_an_allowed_name_that_resolves_to_loopback_is_refused_at_send(settings):
    settings.WEBHOOK_ALLOWED_HOSTS = ["localhost"]
    target = safe_http.check_url("https://localhost/hook")  # allowed by name
    with pytest.raises(safe_http.WebhookRefused, match="127.0.0.1|::1"):
        safe_http.resolve(target)
    with pytest.raises(safe_http.WebhookRefused, match="private, loopback"):
        safe_http.post("https://localhost/hook", b"{}", {}, 2)


def test_a_notification_to_a_refused_address_fails_and_sends_nothing(settings, db):
    settings.WEBHOOK_ALLOWED_HOSTS = ["localhost"]
    outbox.notifications_enqueue(
        [Message("slack", "ssrf-1", "S", "B", None, "https://localhost/hook")]
    )
    outcome = outbox.notification_deliver(Notification.objects.get().pk)
    assert outcome.status == "failed"
    assert "refused" in outcome.error


def test_a_redirect_is_never_followed(settings, db):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True  # the local receiver
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    server = WebhookServer()
    server.start()
    try:
        outbox.notifications_enqueue(
            [Message("slack", "redir-1", "S", "B", None, server.url("/redirect/x"))]
        )
        outcome = outbox.notification_deliver(Notification.objects.get().pk)
    finally:
        server.stop()
    assert outcome.status == "failed" and "redirect" in outcome.error
    assert [r.path for r in server.received] == ["/redirect/x"]  # not followed


def test_webhook_posts_carry_the_outbox_rows_idempotency_key(settings, db):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    server = WebhookServer()
    server.start()
    try:
        outbox.notifications_enqueue(
            [
                Message("slack", "k-1", "Late", "Body", None, server.url("/s")),
                Message("teams", "k-2", "Late", "Body", None, server.url("/t")),
            ]
        )
        rows = list(Notification.objects.order_by("pk"))
        for row in rows:
            assert outbox.notification_deliver(row.pk).status == "sent"
    finally:
        server.stop()
    keys = {r.path: r.key for r in server.received}
    assert keys == {
        "/s": f"cairn-notification-{rows[0].pk}",
        "/t": f"cairn-notification-{rows[1].pk}",
    }
    slack = server.to("/s")[0]
    teams = server.to("/t")[0]
    assert f"#{rows[0].pk}" in slack["text"]
    assert teams["sections"][0]["facts"][0]["value"] == f"#{rows[1].pk}"


# The secret URLs are masked for readers ---------------------------------------

SECRET = "https://hooks.slack.com/services/T0SECRET/B0SECRET/abcdefSECRETtoken"


@pytest.fixture
def channels(portfolio, pmo):
    return services.portfolio_channels_set(
        actor=pmo, portfolio=portfolio, slack_webhook_url=SECRET
    )


def test_the_audit_trail_history_api_and_export_mask_the_secret(
    client, channels, auditor
):
    from tests.milestones.conftest_api import client_for

    client.force_login(auditor)
    page = client.get("/audit/", {"model": "risks.portfoliochannels"})
    export = client.get("/audit/export.csv", {"model": "risks.portfoliochannels"})
    api = client_for(auditor).get(
        "/api/v1/history/", {"model": "risks.portfoliochannels"}
    )

    assert page.status_code == export.status_code == api.status_code == 200
    body = page.content.decode()
    csv_text = b"".join(export.streaming_content).decode("utf-8-sig")
    api_text = api.content.decode()
    for text in (body, csv_text, api_text):
        assert "SECRET" not in text
        assert "https://hooks.slack.com/services/T0…(masked)" in text


def test_the_admin_shows_the_secret_only_to_who_may_change_it(
    client, channels, pmo, executive
):
    url = f"/admin/risks/portfoliochannels/{channels.pk}/change/"
    listing = "/admin/risks/portfoliochannels/"
    for user in (pmo, executive):
        user.is_staff = True
        user.save(update_fields=["is_staff"])

    client.force_login(pmo)
    assert SECRET in client.get(url).content.decode()  # the editable form
    assert "SECRET" not in client.get(listing).content.decode()

    client.force_login(executive)  # may view, may not change
    view = client.get(url)
    assert view.status_code == 200
    assert "SECRET" not in view.content.decode()
    assert "…(masked)" in view.content.decode()
    assert "SECRET" not in client.get(listing).content.decode()
