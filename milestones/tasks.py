"""Celery tasks of the milestones app: they take ids and call selectors."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from . import schedule_selectors
from .models import Milestone


@shared_task(
    name="milestones.tasks.refresh_portfolio_outlook",
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError,),
    retry_backoff=10,
    max_retries=3,
)
def refresh_portfolio_outlook(milestone_id: int) -> int | None:
    """Reschedule the portfolio of a milestone that changed, so the next
    dashboard finds its outlook memoised. Returns the portfolio id (None when
    the milestone is gone). Harmless to repeat: an unchanged portfolio is
    found in the cache."""
    portfolio_id = (
        Milestone.objects.filter(pk=milestone_id)
        .values_list("portfolio_id", flat=True)
        .first()
    )
    if portfolio_id is not None:
        schedule_selectors.outlooks_refresh([portfolio_id])
    return portfolio_id
