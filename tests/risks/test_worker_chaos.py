"""Chaos: the whole Celery worker is killed (SIGKILL, every process of it) again
and again while webhook notifications flow, then restarted (#15).

A local receiver stands in for Slack and honours the ``Idempotency-Key``: a
POST whose key it has already seen is a repeat, dropped. After the last restart
and a drain, every outbox row must be sent, none left pending, and the receiver
must have accepted each notification exactly once: 0 lost, 0 duplicates. Time
is compressed so the test takes about a minute: a killed worker's unacknowledged
tasks come back after 5 s (production: ``visibility_timeout`` 900 s) and a row
counts as stuck after 3 s (production: ``CAIRN_NOTIFICATION_STUCK_SECONDS``
600, swept every 5 minutes by beat).

Runs on PostgreSQL with Redis, as its own step of ``.ci/run`` (marker
``chaos``); skipped on SQLite.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter

import pytest
from django.utils import timezone

from portal.models import Notification

from .test_celery_worker import ROOT, _database_url, _wait_for, broker  # noqa: F401
from .webhooks import WebhookServer

pytestmark = [
    pytest.mark.celery_worker,
    pytest.mark.chaos,
    pytest.mark.django_db(transaction=True),
]

NOTIFICATIONS = 150
KILLS = 10
RECEIVER_DELAY = 0.25  # seconds: a kill often lands between the POST and its answer


class Worker:
    """A prefork worker (2 processes) on the test's queue, in a process group
    of its own, so a kill takes the whole worker down at once."""

    def __init__(self, broker_url: str, log_path) -> None:
        self.queue = f"cairn-chaos-{uuid.uuid4().hex[:12]}"
        self.node = f"{self.queue}@localhost"
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.risks.worker_settings",
            "DATABASE_URL": _database_url(),
            "CELERY_BROKER_URL": broker_url,
            "CAIRN_TEST_CELERY_QUEUE": self.queue,
            "CAIRN_TEST_VISIBILITY_TIMEOUT": "5",
            "CAIRN_NOTIFICATION_STUCK_SECONDS": "3",
            "EMAIL_URL": "memorymail://",
            "DEBUG": "False",
        }
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    def start(self, app) -> None:
        log = self.log_path.open("a")
        self.process = subprocess.Popen(  # noqa: S603 - a fixed command line
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "portal",
                "worker",
                "--pool=prefork",
                "--concurrency=2",
                "--loglevel=INFO",
                "--without-gossip",
                "--without-mingle",
                "-Q",
                self.queue,
                "-n",
                self.node,
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        _wait_for(
            lambda: (
                self.process.poll() is not None
                or app.control.ping(destination=[self.node], timeout=1.0)
            ),
            60,
            "the worker to answer a ping",
        )
        if self.process.poll() is not None:
            pytest.fail("The worker exited:\n" + self.log_path.read_text()[-4000:])

    def kill(self) -> None:
        """SIGKILL to every process of the worker: no shutdown, no ack."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def receiver(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    server = WebhookServer(delay=RECEIVER_DELAY)
    server.start()
    yield server
    server.stop()


def _outbox(url: str) -> list[int]:
    """The outbox rows as ``notifications_enqueue`` writes them (pending, due
    now). Their tasks go to this test's worker queue rather than being run in
    this process, so they are queued below through the test's Celery client."""
    now = timezone.now()
    Notification.objects.bulk_create(
        Notification(
            channel=Notification.Channel.SLACK,
            address=url,
            subject=f"Escalation {n}",
            body=f"Milestone {n} is late.",
            dedupe_key=f"chaos:{n}",
            status=Notification.Status.PENDING,
            next_attempt_at=now,
        )
        for n in range(NOTIFICATIONS)
    )
    return list(Notification.objects.order_by("pk").values_list("pk", flat=True))


def test_killing_the_worker_loses_and_repeats_no_notification(
    broker,  # noqa: F811 - the fixture imported above
    receiver,
    transactional_db,
    tmp_path,
):
    from celery import Celery

    worker = Worker(broker, tmp_path / "worker.log")
    app = Celery("cairn-chaos-client", broker=broker, backend=broker)
    app.conf.task_default_queue = worker.queue
    url = receiver.url("/slack/chaos")
    ids = _outbox(url)
    for pk in ids:
        app.send_task("portal.tasks.deliver_notification", args=[pk])
    pending = Notification.objects.filter(status=Notification.Status.PENDING)

    rng = random.Random(15)  # noqa: S311 - chaos timing, not security
    kills = 0
    try:
        for _ in range(KILLS * 3):
            worker.start(app)
            time.sleep(rng.uniform(0.3, 1.0))
            flowing = pending.exists()
            worker.kill()
            kills += flowing
            if kills >= KILLS:
                break
        assert kills >= KILLS, f"Only {kills} kills landed while work was pending"

        # The last restart; beat's stuck re-dispatch (here: sent by hand) and
        # the broker's redelivery bring back what the kills interrupted.
        worker.start(app)
        sent_before_drain = Notification.objects.filter(status="sent").count()
        time.sleep(4)
        app.send_task("portal.tasks.dispatch_stuck_notifications")
        _wait_for(lambda: not pending.exists(), 180, "the outbox to drain")
    finally:
        worker.stop()
        app.close()

    rows = Counter(Notification.objects.values_list("status", flat=True))
    assert rows == {"sent": NOTIFICATIONS}, rows

    received = [r for r in receiver.received if r.path == "/slack/chaos"]
    assert all(r.key for r in received), "every POST carries an Idempotency-Key"
    first: dict[str, dict] = {}
    repeats = 0
    for r in received:
        if r.key in first:
            repeats += 1
            # A repeat is recognisable: the same key and the very same message.
            assert r.payload == first[r.key]
        else:
            first[r.key] = r.payload
    expected = {f"cairn-notification-{pk}" for pk in ids}
    lost = expected - set(first)
    unknown = set(first) - expected
    assert not lost and not unknown, (lost, unknown)
    # Accepted by the receiver: exactly one per notification.
    assert len(first) == NOTIFICATIONS
    print(  # the figures the README quotes (pytest -s)
        f"chaos: {kills} kills, {NOTIFICATIONS} notifications, "
        f"{sent_before_drain} sent before the last restart, {len(received)} POSTs, "
        f"{repeats} repeats dropped by key, 0 lost, 0 pending"
    )
    assert kills >= KILLS and sent_before_drain < NOTIFICATIONS
