"""An update made while the broker is down still saves at once and is still
escalated: its check is queued in the database in the update's transaction
and drained by the beat job when the broker is back (#15 item 4)."""

from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from milestones import services
from milestones.models import MilestoneCheck, Status
from portal.celery import app
from risks.models import Escalation
from risks.services import escalation_rules_ensure_defaults
from risks.tasks import evaluate_pending_checks

pytestmark = pytest.mark.django_db(transaction=True)

DOWN = "redis://127.0.0.1:1/0"  # a closed port: nothing listens


@pytest.fixture
def broker_down():
    """The real Celery app, pointed at a broker that refuses connections."""
    saved = (app.conf.task_always_eager, app.conf.broker_url)
    app.conf.task_always_eager = False
    app.conf.broker_url = DOWN
    app.pool.force_close_all()
    try:
        yield
    finally:
        app.conf.task_always_eager, app.conf.broker_url = saved
        app.pool.force_close_all()


def test_an_update_while_the_broker_is_down_saves_and_is_escalated_later(
    broker_down, org, portfolio, pmo
):
    from tests.factories import make_milestone

    escalation_rules_ensure_defaults()
    today = timezone.localdate()
    milestone = make_milestone(
        portfolio,
        org.fr,
        planned_start=today - timedelta(days=30),
        planned_completion=today + timedelta(days=10),
    )
    started = time.monotonic()

    update = services.milestone_submit_update(
        actor=pmo,
        milestone=milestone,
        expected_version=None,
        status=Status.DELAYED,
        percent_complete=Decimal("20"),
        actual_spend=Decimal("0"),
        forecast_completion=today + timedelta(days=60),
    )

    assert update.pk is not None
    assert time.monotonic() - started < 10  # no long hang on the dead broker
    # The task could not be published; the check waits in the database.
    assert MilestoneCheck.objects.filter(milestone=milestone).exists()
    assert not Escalation.objects.filter(milestone=milestone).exists()

    # The broker is back (eager here); the beat job drains the queue.
    app.conf.task_always_eager = True
    MilestoneCheck.objects.update(queued_at=timezone.now() - timedelta(minutes=2))
    result = evaluate_pending_checks.apply().get()

    assert result["opened"] >= 1
    assert Escalation.objects.filter(milestone=milestone).exists()
    assert not MilestoneCheck.objects.exists()
