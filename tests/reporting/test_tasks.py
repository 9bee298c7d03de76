"""The weekly distribution: the Celery task archives each portfolio's report
and e-mails it to the portfolio's executives, once."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from accounts.roles import Role
from reporting import services
from reporting.models import ReportArchive
from reporting.tasks import distribute_weekly_reports

from ..factories import make_portfolio
from .helpers import pdf_text

pytestmark = pytest.mark.django_db

LOCMEM = "django.core.mail.backends.locmem.EmailBackend"


@pytest.fixture(autouse=True)
def locmem_email(settings):
    settings.EMAIL_BACKEND = LOCMEM


def test_weekly_task_archives_and_emails_each_portfolio(
    programme, executive, pmo, member, org
):
    emea_exec = member(Role.EXECUTIVE, org.emea, username="emea-exec")
    sponsor = member(Role.EXECUTIVE, programme.portfolio, username="sponsor")
    other = make_portfolio(org.jp, slug="japan-only", name="Japan Only")
    today = timezone.localdate()

    queued = distribute_weekly_reports.delay().get()

    assert sorted(queued) == sorted([programme.portfolio.pk, other.pk])
    archive = ReportArchive.objects.get(portfolio=programme.portfolio)
    assert (archive.period_start, archive.period_end) == (
        today - timedelta(days=6),
        today,
    )
    assert archive.generated_by is None and archive.emailed_at is not None
    content = archive.file.read()
    assert hashlib.sha256(content).hexdigest() == archive.sha256
    assert archive.size == len(content)
    assert "AI Transformation" in pdf_text(content)
    # The steering committee: executives on the portfolio or above its unit;
    # not the EMEA executive (below the portfolio's global unit), not the PMO.
    to_programme = sorted(
        m.to[0] for m in mail.outbox if "AI Transformation" in m.subject
    )
    assert to_programme == sorted([executive.email, sponsor.email])
    assert emea_exec.email not in to_programme and pmo.email not in to_programme
    message = next(m for m in mail.outbox if m.to == [executive.email])
    ((filename, attached, mimetype),) = [
        a for a in message.attachments if a[0].endswith(".pdf")
    ]
    assert mimetype == "application/pdf" and attached == content
    assert archive.sha256 in message.body
    assert archive.recipients.splitlines() == sorted([executive.email, sponsor.email])
    # Japan's executives are the global one only (no Japanese executive).
    japan = ReportArchive.objects.get(portfolio=other)
    assert japan.recipients.splitlines() == [executive.email]


def test_a_second_run_creates_and_sends_nothing(programme, executive):
    distribute_weekly_reports.delay().get()
    archives, sent = ReportArchive.objects.count(), len(mail.outbox)

    distribute_weekly_reports.delay().get()

    assert ReportArchive.objects.count() == archives == 1
    assert len(mail.outbox) == sent == 1


def test_an_archive_not_yet_emailed_is_emailed_by_the_retry(programme, executive):
    archive = services.report_archive_create(
        actor=None, portfolio=programme.portfolio, reader=services.SYSTEM
    )
    assert archive.emailed_at is None

    result = services.weekly_report_distribute(portfolio=programme.portfolio)

    assert result.archive.pk == archive.pk and not result.created
    assert result.recipients == [executive.email]
    assert len(mail.outbox) == 1


def test_archiving_the_same_period_twice_is_refused(programme):
    from portal.errors import Invalid

    services.report_archive_create(
        actor=None, portfolio=programme.portfolio, reader=services.SYSTEM
    )
    with pytest.raises(Invalid, match="already archived"):
        services.report_archive_create(
            actor=None, portfolio=programme.portfolio, reader=services.SYSTEM
        )
    assert ReportArchive.objects.count() == 1


def test_a_portfolio_without_executives_is_archived_without_mail(org):
    portfolio = make_portfolio(org.jp, slug="quiet")

    distribute_weekly_reports.delay().get()

    archive = ReportArchive.objects.get(portfolio=portfolio)
    assert archive.emailed_at is not None and archive.recipients == ""
    assert mail.outbox == []


def test_the_weekly_schedule_is_in_the_database():
    task = PeriodicTask.objects.get(task="reporting.tasks.distribute_weekly_reports")
    assert task.enabled
    assert (task.crontab.day_of_week, task.crontab.hour, task.crontab.minute) == (
        "1",
        "7",
        "0",
    )


def test_each_archived_report_carries_the_audit_chain_head(programme, org):
    from io import StringIO

    from django.core.management import call_command
    from django.core.management.base import CommandError

    from portal import audit
    from portal.models import AuditChainEntry, AuditPending

    distribute_weekly_reports.delay().get()
    archive = ReportArchive.objects.get(portfolio=programme.portfolio)

    sequence, digest = archive.audit_anchor.split(":")
    entry = AuditChainEntry.objects.get(sequence=int(sequence))
    assert entry.hash == digest
    # Sealed up to the moment of generation (the report's own archive row
    # and e-mail come after it).
    assert not AuditPending.objects.filter(
        recorded_at__lt=archive.generated_at
    ).exists()
    text = " ".join(pdf_text(archive.file.read()).split())
    assert "Audit anchor" in text and digest[:20] in text.replace(" ", "")
    out = StringIO()
    call_command(
        "verify_audit_chain", "--expect-head", archive.audit_anchor, stdout=out
    )
    assert "intact" in out.getvalue()
    # An anchor the chain does not hold fails.
    with pytest.raises(CommandError, match="anchored head"):
        call_command(
            "verify_audit_chain",
            "--expect-head",
            f"{sequence}:{'0' * 64}",
            stdout=StringIO(),
        )
    assert audit.chain_head()[0] >= int(sequence)
