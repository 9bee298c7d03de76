"""``/metrics``: Prometheus figures for a scraper with the token."""

from __future__ import annotations

import re

import pytest

from portal import metrics

pytestmark = pytest.mark.django_db

TOKEN = "scrape-secret-0123456789"


def scrape(client, token=TOKEN):
    return client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}")


def value(text: str, name: str, **labels) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = (
        rf"^{name}" + (rf"\{{{re.escape(wanted)}\}}" if labels else "") + r" (\S+)$"
    )
    found = re.search(pattern, text, re.M)
    assert found, f"{name} {labels} not in:\n{text[:3000]}"
    return float(found.group(1))


def test_metrics_need_the_token_or_a_superuser(client, settings, superuser, pmo):
    settings.METRICS_TOKEN = TOKEN
    assert client.get("/metrics").status_code == 401
    assert scrape(client, "wrong").status_code == 401
    client.force_login(pmo)
    assert client.get("/metrics").status_code == 401
    client.force_login(superuser)
    assert client.get("/metrics").status_code == 200


def test_no_token_configured_means_no_bearer_access(client, settings):
    settings.METRICS_TOKEN = ""
    assert scrape(client, "").status_code == 401


def test_requests_are_counted_by_route_and_timed(client, settings):
    settings.METRICS_TOKEN = TOKEN
    before = scrape(client).content.decode()
    start = (
        value(
            before,
            "cairn_http_requests_total",
            method="GET",
            route="healthz",
            status="200",
        )
        if 'route="healthz"' in before
        else 0.0
    )
    for _ in range(3):
        client.get("/healthz")
    client.get("/no-such-page/")

    text = scrape(client).content.decode()

    assert (
        value(
            text,
            "cairn_http_requests_total",
            method="GET",
            route="healthz",
            status="200",
        )
        == start + 3
    )
    assert (
        value(
            text,
            "cairn_http_requests_total",
            method="GET",
            route="unmatched",
            status="404",
        )
        >= 1
    )
    assert (
        value(
            text,
            "cairn_http_request_duration_seconds_count",
            method="GET",
            route="healthz",
        )
        >= 3
    )


def test_outbox_and_sweep_figures(client, settings, pmo):
    from portal.models import Notification
    from portal.notifications.messages import Message
    from portal.notifications.services import notifications_enqueue

    settings.METRICS_TOKEN = TOKEN
    # Delivery is queued on commit, which this test's transaction never
    # reaches: the rows stay pending.
    queued = notifications_enqueue(
        [
            Message(
                recipient_id=pmo.pk,
                address=pmo.email,
                channel=Notification.Channel.EMAIL,
                subject=f"Subject {n}",
                body="Body",
                dedupe_key=f"metrics-test-{n}",
            )
            for n in range(3)
        ]
    )
    metrics.sweep_recorded(1.25)

    text = scrape(client).content.decode()

    assert queued == 3
    assert value(text, "cairn_outbox_pending") == 3
    assert value(text, "cairn_outbox_pending_oldest_seconds") >= 0
    assert value(text, "cairn_escalation_sweep_duration_seconds") == 1.25
    assert value(text, "cairn_escalation_sweep_finished_timestamp") > 0


def test_queue_depth_read_from_the_redis_broker(client, settings):
    import redis

    url = "redis://127.0.0.1:6379/14"
    settings.METRICS_TOKEN = TOKEN
    settings.CELERY_BROKER_URL = url
    broker = redis.Redis.from_url(url)
    broker.delete("celery")
    broker.rpush("celery", "message-1", "message-2")
    try:
        text = scrape(client).content.decode()
    finally:
        broker.delete("celery")

    assert value(text, "cairn_celery_queue_depth", queue="celery") == 2
