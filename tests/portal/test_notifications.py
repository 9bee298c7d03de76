"""The notification outbox: dedupe, delivery on each channel, retries with
back-off, failures that block nothing, and the in-portal list."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from accounts.roles import Role
from portal import tasks
from portal.models import Notification
from portal.notifications import Message
from portal.notifications import services as outbox
from risks import engine, services
from risks.models import Escalation

from ..factories import UserFactory, make_member
from ..risks.webhooks import WebhookServer

pytestmark = pytest.mark.django_db


@pytest.fixture
def webhook_server(settings):
    # Plain HTTP to the local receiver on 127.0.0.1: for these tests only.
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    server = WebhookServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def rules_ready(db):
    services.escalation_rules_ensure_defaults()


@pytest.fixture
def user(db):
    return UserFactory(username="reader", email="reader@example.com")


def _email(user, key="k1", subject="Hello"):
    return Message("email", key, subject, "Body", user.pk, user.email, "/x/")


# Outbox -------------------------------------------------------------------------


def test_a_dedupe_key_is_enqueued_once(user):
    assert outbox.notifications_enqueue([_email(user), _email(user)]) == 1
    assert outbox.notifications_enqueue([_email(user)]) == 0
    assert Notification.objects.count() == 1


def test_the_database_refuses_a_duplicate_key(user):
    from django.db import IntegrityError, transaction

    outbox.notifications_enqueue([_email(user)])
    with pytest.raises(IntegrityError), transaction.atomic():
        Notification.objects.create(
            recipient=user, channel="email", subject="s", body="b", dedupe_key="k1"
        )


def test_email_is_delivered_after_commit(user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        outbox.notifications_enqueue([_email(user)])
    row = Notification.objects.get()
    assert (row.status, row.attempts) == ("sent", 1)
    assert row.sent_at is not None
    assert [m.to for m in mail.outbox] == [[user.email]]
    assert mail.outbox[0].body.endswith("/x/")


def test_a_second_delivery_of_a_sent_row_sends_nothing(
    user, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        outbox.notifications_enqueue([_email(user)])
    row = Notification.objects.get()
    # A redelivered task (worker lost after sending): the row is already sent.
    assert tasks.deliver_notification.delay(row.pk).get() == "skipped"
    assert len(mail.outbox) == 1


def test_in_portal_notifications_are_delivered_by_being_written(user):
    outbox.notifications_enqueue(
        [Message("portal", "p1", "Subject", "Body", user.pk, "", "/x/")]
    )
    row = Notification.objects.get()
    assert row.status == "sent" and row.read_at is None


# Webhooks ------------------------------------------------------------------------


def _escalate(portfolio, late_milestone):
    late_milestone()
    engine.escalations_sweep()
    return Escalation.objects.get()


@pytest.fixture
def late_milestone(milestone_in, org):
    def build():
        planned = timezone.localdate() + timedelta(days=30)
        return milestone_in(
            org.fr,
            name="Model rollout",
            planned_completion=planned,
            forecast_completion=planned + timedelta(days=20),
        )

    return build


def test_slack_and_teams_receive_the_escalation(
    rules_ready,
    portfolio,
    executive,
    late_milestone,
    webhook_server,
    django_capture_on_commit_callbacks,
):
    services.portfolio_channels_set(
        actor=None,
        portfolio=portfolio,
        slack_webhook_url=webhook_server.url("/slack/T1/B1/x"),
        teams_webhook_url=webhook_server.url("/teams/webhookb2/y"),
    )
    with django_capture_on_commit_callbacks(execute=True):
        escalation = _escalate(portfolio, late_milestone)

    [slack] = webhook_server.to("/slack/T1/B1/x")
    assert "Model rollout" in slack["text"]
    assert slack["text"].startswith("*Escalation (Milestone delay)")
    [teams] = webhook_server.to("/teams/webhookb2/y")
    assert teams["@type"] == "MessageCard"
    assert "Model rollout" in teams["title"]
    link = teams["potentialAction"][0]["targets"][0]["uri"]
    assert link.endswith(f"/admin/risks/escalation/{escalation.pk}/change/")
    assert set(
        Notification.objects.filter(channel__in=["slack", "teams"]).values_list(
            "status", flat=True
        )
    ) == {"sent"}


def test_a_failing_webhook_is_retried_then_failed_without_blocking_others(
    rules_ready,
    portfolio,
    executive,
    late_milestone,
    webhook_server,
    django_capture_on_commit_callbacks,
):
    services.portfolio_channels_set(
        actor=None,
        portfolio=portfolio,
        slack_webhook_url=webhook_server.url("/slack/ok"),
        teams_webhook_url=webhook_server.url("/fail/teams"),
    )
    with django_capture_on_commit_callbacks(execute=True):
        _escalate(portfolio, late_milestone)

    teams = Notification.objects.get(channel="teams")
    attempts = outbox.max_attempts()
    assert (teams.status, teams.attempts) == ("failed", attempts)
    assert teams.last_error == "Webhook answered HTTP 500"
    assert len(webhook_server.to("/fail/teams")) == attempts
    slack = Notification.objects.get(channel="slack")
    assert (slack.status, slack.attempts) == ("sent", 1)
    assert len(webhook_server.to("/slack/ok")) == 1
    email = Notification.objects.get(channel="email")
    assert email.status == "sent"
    assert [m.to for m in mail.outbox] == [[executive.email]]


def test_a_permanent_refusal_is_not_retried(
    user, webhook_server, django_capture_on_commit_callbacks
):
    url = webhook_server.url("/gone/hook")
    with django_capture_on_commit_callbacks(execute=True):
        outbox.notifications_enqueue([Message("slack", "s1", "S", "B", None, url)])
    row = Notification.objects.get()
    assert (row.status, row.attempts) == ("failed", 1)
    assert len(webhook_server.to("/gone/hook")) == 1


def test_a_retry_is_scheduled_with_exponential_back_off(user, webhook_server):
    url = webhook_server.url("/fail/once")
    outbox.notifications_enqueue([Message("teams", "t1", "S", "B", None, url)])
    row = Notification.objects.get()
    first = outbox.notification_deliver(row.pk)
    second = outbox.notification_deliver(row.pk)
    assert (first.status, first.retry_in) == ("pending", 30)
    assert (second.status, second.retry_in) == ("pending", 60)
    row.refresh_from_db()
    assert row.attempts == 2
    assert row.next_attempt_at > timezone.now() + timedelta(seconds=50)


def test_an_unreachable_webhook_is_a_retryable_failure(user, settings):
    settings.CAIRN_WEBHOOK_TIMEOUT = 2
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True  # a closed local port
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    outbox.notifications_enqueue(
        [Message("slack", "u1", "S", "B", None, "http://127.0.0.1:9/nothing")]
    )
    outcome = outbox.notification_deliver(Notification.objects.get().pk)
    assert outcome.status == "pending" and "unreachable" in outcome.error


def test_back_off_stays_below_the_broker_visibility_timeout():
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    waits = [outbox.backoff_seconds(n) for n in range(1, 20)]
    assert waits[:4] == [30, 60, 120, 240]
    assert max(waits) < visibility
    assert visibility > settings.CELERY_TASK_TIME_LIMIT
    assert tasks.deliver_notification.time_limit < visibility
    assert tasks.deliver_notification.acks_late
    assert tasks.deliver_notification.reject_on_worker_lost


def test_stuck_pending_rows_are_dispatched_again(
    user, django_capture_on_commit_callbacks
):
    outbox.notifications_enqueue([_email(user)])  # its task is never queued
    row = Notification.objects.get()
    assert row.status == "pending"
    later = timezone.now() + timedelta(hours=1)
    with django_capture_on_commit_callbacks(execute=True):
        assert outbox.notifications_dispatch_stuck(now=later) == 1
    row.refresh_from_db()
    assert row.status == "sent"
    assert outbox.notifications_dispatch_stuck(now=later) == 0


# The in-portal list --------------------------------------------------------------


def _portal(user, n, prefix="n"):
    outbox.notifications_enqueue(
        [
            Message("portal", f"{prefix}{i}", f"Subject {i}", "Body", user.pk, "", "/")
            for i in range(n)
        ]
    )


def test_anonymous_is_sent_to_login(client):
    response = client.get(reverse("notifications"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_users_see_only_their_own_notifications(client, user):
    other = UserFactory(username="other")
    _portal(user, 1, "mine")
    _portal(other, 1, "theirs")
    outbox.notifications_enqueue([_email(user, key="mail-only")])
    client.force_login(user)
    response = client.get(reverse("notifications"))
    rows = list(response.context["page"].object_list)
    assert [n.dedupe_key for n in rows] == ["mine0"]
    assert response.context["unread"] == 1


@pytest.mark.parametrize("n", [2, 20])
def test_the_list_uses_constant_queries(client, user, n, django_assert_max_num_queries):
    _portal(user, n)
    client.force_login(user)
    with django_assert_max_num_queries(7):
        response = client.get(reverse("notifications"))
    assert response.status_code == 200
    assert f"Subject {n - 1}" in response.content.decode()


def test_marking_read(client, user):
    other = UserFactory(username="other")
    _portal(user, 3)
    _portal(other, 1, "theirs")
    client.force_login(user)
    first = Notification.objects.filter(recipient=user).order_by("pk").first()
    theirs = Notification.objects.get(recipient=other)
    response = client.post(reverse("notifications"), {"id": [first.pk, theirs.pk]})
    assert response.status_code == 302
    first.refresh_from_db()
    theirs.refresh_from_db()
    assert first.read_at is not None and theirs.read_at is None
    client.post(reverse("notifications"), {"all": "1"})
    assert not Notification.objects.filter(recipient=user, read_at__isnull=True)
    assert Notification.objects.get(recipient=other).read_at is None
    client.post(reverse("notifications"), {"id": ["x"]})  # ignored, never a 500


def test_a_superuser_reads_only_their_own_list(client, superuser, user):
    _portal(user, 2)
    client.force_login(superuser)
    response = client.get(reverse("notifications"))
    assert list(response.context["page"].object_list) == []


def test_escalation_reaches_the_in_portal_list(
    client, rules_ready, portfolio, org, late_milestone
):
    executive = make_member(Role.EXECUTIVE, org.world, username="boss")
    _escalate(portfolio, late_milestone)
    client.force_login(executive)
    body = client.get(reverse("notifications")).content.decode()
    assert "Model rollout" in body


def test_stuck_rows_are_re_dispatched_every_five_minutes_by_beat(db):
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.get(task="portal.tasks.dispatch_stuck_notifications")
    assert task.enabled
    assert (task.interval.every, task.interval.period) == (300, "seconds")
    # The visibility timeout matches the longest task: above its time limit
    # and the longest retry countdown, and well under the old hour.
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    assert settings.CELERY_TASK_TIME_LIMIT < visibility <= 900
    assert outbox.backoff_seconds(50) < visibility


def test_a_notification_about_a_settled_request_is_marked_resolved(client, user):
    def portal_message(key: str, link: str) -> Message:
        return Message(
            "portal", key, f"Decide {key}", "Please decide.", user.pk, "", link
        )

    outbox.notifications_enqueue(
        [portal_message("a", "/approvals/3/"), portal_message("b", "/approvals/4/")]
    )
    client.force_login(user)
    assert 'data-unread="2"' in client.get("/notifications/").content.decode()

    assert (
        outbox.notifications_resolve(
            link="/approvals/3/", resolution="Approved by Erin Exec"
        )
        == 1
    )

    settled = Notification.objects.get(dedupe_key="a")
    assert settled.resolved_at is not None
    assert settled.resolution == "Approved by Erin Exec"
    assert Notification.objects.get(dedupe_key="b").resolved_at is None
    html = client.get("/notifications/").content.decode()
    assert 'data-unread="1"' in html  # the settled one no longer counts
    assert "Resolved</span> Decide a" in html and "Approved by Erin Exec" in html
    # Resolving again changes nothing.
    assert outbox.notifications_resolve(link="/approvals/3/", resolution="x") == 0
