"""Celery tasks of the shared infrastructure: notification delivery and the
audit chain's sealer."""

from __future__ import annotations

from celery import shared_task

from .notifications import services


@shared_task(
    bind=True,
    name="portal.tasks.deliver_notification",
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=None,  # the row's attempt counter bounds the retries
    soft_time_limit=60,
    time_limit=90,
)
def deliver_notification(self, notification_id: int) -> str:
    """Deliver one outbox row; on a failure worth retrying, retry with
    exponential back-off until the row's attempts run out.

    Acknowledged only once done (``acks_late``) and requeued if the worker
    dies mid-delivery; the row lock and its status make a second run harmless.
    """
    outcome = services.notification_deliver(notification_id)
    # Run eagerly (no broker: development and tests) the attempts follow each
    # other at once; the attempt counter still ends them.
    while outcome.retry_in is not None and self.request.is_eager:
        outcome = services.notification_deliver(notification_id)
    if outcome.retry_in is not None:
        raise self.retry(countdown=outcome.retry_in)
    return outcome.status


@shared_task(name="portal.tasks.dispatch_stuck_notifications", acks_late=True)
def dispatch_stuck_notifications() -> int:
    """Re-queue pending notifications whose delivery task was lost."""
    return services.notifications_dispatch_stuck()


@shared_task(
    name="portal.tasks.seal_audit_chain",
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=240,
    time_limit=300,
)
def seal_audit_chain() -> int:
    """Chain the history rows and access events written since the last run
    (beat: every minute). Safe to run twice at once: sealers queue on the
    chain's own lock, and each seals only what is still queued."""
    from . import audit

    return audit.seal()
