"""The sweep as a Celery task (eager here), a command and a schedule; the
owners' reminders, one per period."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from io import StringIO

import pytest
from django.core import mail
from django.core.management import CommandError, call_command
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from accounts.roles import Role
from portal.models import Notification
from risks import engine, tasks
from risks.models import Escalation

from ..factories import make_member

pytestmark = pytest.mark.django_db


def test_the_daily_sweep_is_scheduled_by_a_migration(db):
    task = PeriodicTask.objects.get(task="risks.tasks.run_escalation_sweep")
    assert task.enabled
    assert (task.crontab.minute, task.crontab.hour) == ("0", "6")


def test_the_task_runs_the_sweep_and_is_idempotent(rules, late, executive):
    late(20)
    first = tasks.run_escalation_sweep.delay().get()
    assert first["opened"] == 1
    second = tasks.run_escalation_sweep.delay().get()
    assert (second["opened"], second["resolved"], second["notifications"]) == (0, 0, 0)
    assert Escalation.objects.count() == 1


def test_the_command_runs_the_same_sweep(rules, late):
    late(20)
    out = StringIO()
    call_command("run_escalations", stdout=out)
    assert "1 escalation(s) opened" in out.getvalue()
    out = StringIO()
    call_command("run_escalations", stdout=out)
    assert "0 escalation(s) opened, 0 resolved, 1 unchanged" in out.getvalue()


def test_the_command_can_check_one_milestone(rules, late):
    first, second = late(20), late(20)
    call_command("run_escalations", "--milestone", str(first.pk), stdout=StringIO())
    assert list(Escalation.objects.values_list("milestone", flat=True)) == [first.pk]
    with pytest.raises(CommandError):
        call_command("run_escalations", "--milestone", "0", stdout=StringIO())
    assert second.pk


def test_the_milestone_task_evaluates_one_milestone(rules, late):
    milestone = late(20)
    result = tasks.evaluate_milestone_escalations.delay(milestone.pk).get()
    assert result["opened"] == 1


# Reminders ---------------------------------------------------------------------


def _monday(weeks_ahead: int = 3) -> datetime:
    """Noon on a Monday far enough ahead that new milestones are stale."""
    day = timezone.localdate() + timedelta(weeks=weeks_ahead)
    day -= timedelta(days=day.weekday())
    return timezone.make_aware(datetime.combine(day, time(12)))


@pytest.fixture
def owner(org):
    return make_member(Role.MILESTONE_OWNER, org.emea, username="olivia")


def _reminders(user):
    return Notification.objects.filter(
        recipient=user, dedupe_key__startswith="reminder:"
    )


def test_owners_get_one_weekly_digest(rules, owner, milestone_in, org):
    now = _monday()
    stale = milestone_in(org.fr, owner=owner, name="Stale one")
    due = milestone_in(
        org.fr,
        owner=owner,
        name="Due soon",
        planned_completion=timezone.localdate(now) + timedelta(days=5),
    )
    assert engine.reminders_send(now=now) == 2  # in the portal and by email
    digest = _reminders(owner).get(channel="portal")
    assert "need a progress update" in digest.subject
    assert stale.name in digest.body and due.name in digest.body
    assert "Due within 7 days" in digest.body
    assert _reminders(owner).get(channel="email").address == owner.email

    # Later the same week: nothing new. The next week: a new digest.
    assert engine.reminders_send(now=now + timedelta(days=3)) == 0
    assert _reminders(owner).count() == 2
    assert engine.reminders_send(now=now + timedelta(days=7)) == 2
    assert _reminders(owner).count() == 4


def test_the_period_is_configurable(rules, owner, milestone_in, org, settings):
    settings.CAIRN_REMINDER_PERIOD = "daily"
    now = _monday()
    milestone_in(org.fr, owner=owner)
    assert engine.reminders_send(now=now) == 2
    assert engine.reminders_send(now=now + timedelta(hours=3)) == 0
    assert engine.reminders_send(now=now + timedelta(days=1)) == 2


def test_an_unknown_period_is_a_configuration_error(settings):
    from django.core.exceptions import ImproperlyConfigured

    settings.CAIRN_REMINDER_PERIOD = "fortnightly"
    with pytest.raises(ImproperlyConfigured, match="daily, weekly, monthly"):
        engine.reminder_period(timezone.now())


def test_no_reminder_for_updated_or_closed_milestones(rules, owner, milestone_in, org):
    from .conftest import report

    fresh = milestone_in(org.fr, owner=owner)
    report(fresh)
    done = milestone_in(org.fr, owner=owner)
    report(done, status="completed")
    assert engine.reminders_send(now=timezone.now() + timedelta(days=3)) == 0


def test_the_daily_run_sends_reminders_by_email(
    rules, owner, milestone_in, org, django_capture_on_commit_callbacks
):
    milestone_in(org.fr, owner=owner, name="Forgotten")
    with django_capture_on_commit_callbacks(execute=True):
        result = engine.monitoring_run(now=_monday())
    assert result.reminders == 2
    assert [m.to for m in mail.outbox] == [[owner.email]]
    assert "Forgotten" in mail.outbox[0].body
