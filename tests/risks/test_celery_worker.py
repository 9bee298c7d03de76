"""End to end through a real Celery worker on Redis: a sweep enqueued through
the broker opens escalations and delivers their notifications (a failing
webhook is retried through the broker, then marked failed).

The worker is a separate process, so it must open the test database: this
runs on PostgreSQL (CI's second pass, ``DATABASE_URL=postgres://...``) and is
skipped on SQLite, whose test database lives in this process's memory. When
``CAIRN_REQUIRE_SERVICES=1`` (``.ci/run``), an unreachable Redis fails the
test instead of skipping it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from portal.models import Notification
from risks.models import Escalation
from risks.services import escalation_rules_ensure_defaults, portfolio_channels_set

from .webhooks import WebhookServer

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]

BROKER_URL = os.environ.get("CAIRN_TEST_BROKER_URL", "redis://127.0.0.1:6379/9")
REQUIRE_SERVICES = os.environ.get("CAIRN_REQUIRE_SERVICES") == "1"
ROOT = Path(settings.BASE_DIR)


def _unavailable(reason: str):
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (CAIRN_REQUIRE_SERVICES=1: not skipping)")
    pytest.skip(reason)


def _database_url() -> str:
    db = connection.settings_dict
    user = quote(db.get("USER") or "")
    password = f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else ""
    credentials = f"{user}{password}@" if user else ""
    host = db.get("HOST") or "127.0.0.1"
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{credentials}{host}{port}/{quote(db['NAME'])}"


def _wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.25)
    pytest.fail(f"Timed out after {timeout:.0f}s waiting for {what}")


@pytest.fixture
def broker():
    if connection.vendor != "postgresql":
        pytest.skip(
            "Needs PostgreSQL: the worker process must open the test database "
            "(SQLite's test database is in memory)."
        )
    import redis

    try:
        redis.Redis.from_url(BROKER_URL, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        _unavailable(f"Redis is unreachable at {BROKER_URL}: {exc}")
    return BROKER_URL


@pytest.fixture
def celery_worker_process(broker, transactional_db, tmp_path):
    """A worker on a queue of its own, against this test's database; the
    yielded Celery app sends to that queue and reads results."""
    from celery import Celery

    queue = f"cairn-test-{uuid.uuid4().hex[:12]}"
    node = f"{queue}@localhost"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.risks.worker_settings",
        "DATABASE_URL": _database_url(),
        "CELERY_BROKER_URL": broker,
        "CAIRN_TEST_CELERY_QUEUE": queue,
        "EMAIL_URL": "memorymail://",
        "DEBUG": "False",
    }
    log = (tmp_path / "worker.log").open("w")
    process = subprocess.Popen(  # noqa: S603 - a fixed command line
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "portal",
            "worker",
            "--pool=solo",
            "--loglevel=INFO",
            "--without-gossip",
            "--without-mingle",
            "-Q",
            queue,
            "-n",
            node,
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    app = Celery("cairn-test-client", broker=broker, backend=broker)
    app.conf.task_default_queue = queue
    try:
        _wait_for(
            lambda: (
                process.poll() is not None
                or app.control.ping(destination=[node], timeout=1.0)
            ),
            60,
            "the worker to answer a ping",
        )
        if process.poll() is not None:
            pytest.fail(
                "The worker exited:\n" + (tmp_path / "worker.log").read_text()[-4000:]
            )
        yield app
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()
        app.close()


@pytest.fixture
def webhook_server(settings):
    # Plain HTTP to this local receiver (the worker's settings allow it too).
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    server = WebhookServer()
    server.start()
    yield server
    server.stop()


def test_a_sweep_through_the_broker_escalates_and_notifies(
    celery_worker_process, webhook_server, portfolio, executive, milestone_in, org
):
    escalation_rules_ensure_defaults()
    planned = timezone.localdate() + timedelta(days=30)
    milestone = milestone_in(
        org.fr,
        name="Fraud model in production",
        planned_completion=planned,
        forecast_completion=planned + timedelta(days=16),
    )
    portfolio_channels_set(
        actor=None,
        portfolio=portfolio,
        slack_webhook_url=webhook_server.url("/slack/hook"),
        teams_webhook_url=webhook_server.url("/fail/teams"),
    )
    app = celery_worker_process

    result = app.send_task("risks.tasks.run_escalation_sweep").get(timeout=90)
    assert result["opened"] == 1

    escalation = Escalation.objects.get()
    assert escalation.milestone == milestone
    assert escalation.status == Escalation.Status.OPEN
    record = escalation.history.get()
    assert record.history_user is None
    assert record.history_change_reason.startswith("Opened by the escalation sweep")

    _wait_for(
        lambda: not Notification.objects.filter(status="pending").exists(),
        90,
        "every notification to be delivered or failed",
    )
    rows = {n.channel: n for n in Notification.objects.all()}
    assert set(rows) == {"portal", "email", "slack", "teams"}
    assert rows["email"].recipient == executive
    assert rows["email"].status == rows["slack"].status == "sent"
    assert rows["portal"].recipient == executive
    assert (rows["teams"].status, rows["teams"].attempts) == ("failed", 3)
    assert rows["teams"].last_error == "Webhook answered HTTP 500"
    [slack] = webhook_server.to("/slack/hook")
    assert "Fraud model in production" in slack["text"]
    assert len(webhook_server.to("/fail/teams")) == 3

    # A second sweep through the broker changes nothing.
    again = app.send_task("risks.tasks.run_escalation_sweep").get(timeout=90)
    assert (again["opened"], again["resolved"], again["notifications"]) == (0, 0, 0)
    assert Escalation.objects.count() == 1
    assert Notification.objects.count() == 4
    assert len(webhook_server.to("/slack/hook")) == 1
