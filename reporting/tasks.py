"""Celery tasks of the reporting app: the weekly executive report run.

The schedule is a django-celery-beat periodic task created by migration
``0002_weekly_report_schedule`` (Mondays 07:00 UTC), editable in the admin
under *Periodic tasks*.
"""

from __future__ import annotations

from datetime import date

from celery import shared_task
from django.utils import timezone

from milestones.models import Portfolio

from . import services


@shared_task(name="reporting.tasks.distribute_weekly_reports", acks_late=True)
def distribute_weekly_reports(day: str | None = None) -> list[int]:
    """Queue one report task per portfolio for the week ending ``day``
    (ISO date; default today). Returns the portfolio ids queued."""
    day = day or timezone.localdate().isoformat()
    ids = list(Portfolio.objects.order_by("pk").values_list("pk", flat=True))
    for portfolio_id in ids:
        distribute_portfolio_report.delay(portfolio_id, day)
    return ids


@shared_task(
    bind=True,
    name="reporting.tasks.distribute_portfolio_report",
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=5,
    soft_time_limit=300,
    time_limit=360,
)
def distribute_portfolio_report(self, portfolio_id: int, day: str) -> int | None:
    """Archive and e-mail one portfolio's weekly report (idempotent); retried
    with back-off when rendering or sending fails. Returns the archive id."""
    try:
        result = services.weekly_report_distribute(
            portfolio=portfolio_id, day=date.fromisoformat(day)
        )
    except Portfolio.DoesNotExist:
        return None  # deleted since it was queued
    except OSError as exc:  # SMTP or storage trouble: worth retrying
        raise self.retry(exc=exc, countdown=60 * 2**self.request.retries) from exc
    return result.archive.pk
