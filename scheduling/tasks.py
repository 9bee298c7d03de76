"""Celery tasks of the scheduling app: they take ids and call selectors."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from milestones.models import Milestone

from . import selectors


@shared_task(
    # The name it had in the milestones app: tasks already queued still run.
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
        selectors.outlooks_refresh([portfolio_id])
    return portfolio_id


@shared_task(
    name="scheduling.tasks.refresh_outlooks",
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError,),
    retry_backoff=10,
    max_retries=3,
)
def refresh_outlooks(portfolio_ids: list[int]) -> list[int]:
    """Compute the current outlook of portfolios a dashboard showed from their
    last one (``portfolio_outlooks(allow_stale=True)``). Returns the ids."""
    selectors.outlooks_refresh(portfolio_ids)
    return list(portfolio_ids)
