"""Writes of the outbox: enqueue, deliver one row, re-dispatch stuck rows,
mark in-portal notifications read."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, TypeVar

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.roles import UPDATE
from portal.models import Notification

from . import channels
from .messages import Message

if TYPE_CHECKING:
    from accounts.models import User

logger = logging.getLogger(__name__)
_T = TypeVar("_T")

_CHUNK = 500


def max_attempts() -> int:
    attempts: int = getattr(settings, "CAIRN_NOTIFICATION_MAX_ATTEMPTS", 5)
    return int(attempts)


def backoff_seconds(attempt: int) -> int:
    """Wait before the next attempt after ``attempt`` failed: exponential,
    capped below the broker's visibility timeout."""
    base = int(getattr(settings, "CAIRN_NOTIFICATION_BACKOFF_SECONDS", 30))
    cap = int(getattr(settings, "CAIRN_NOTIFICATION_BACKOFF_CAP_SECONDS", 600))
    factor: int = 2 ** max(attempt - 1, 0)
    return min(base * factor, cap)


def _chunks(items: Sequence[_T], size: int = _CHUNK) -> Iterator[Sequence[_T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def notifications_enqueue(messages: Iterable[Message]) -> int:
    """Put messages in the outbox, once per ``dedupe_key``; returns how many
    rows this call added.

    Keys already in the outbox are skipped (the unique constraint settles a
    race between two callers). In-portal rows are delivered by being written.
    Delivery tasks are queued when the caller's transaction commits.
    """
    wanted: dict[str, Message] = {}
    for message in messages:
        wanted.setdefault(message.dedupe_key, message)
    if not wanted:
        return 0
    keys = list(wanted)
    existing: set[str] = set()
    for chunk in _chunks(keys):
        existing.update(
            Notification.objects.filter(dedupe_key__in=chunk).values_list(
                "dedupe_key", flat=True
            )
        )
    now = timezone.now()
    rows = []
    for key, m in wanted.items():
        if key in existing:
            continue
        in_portal = m.channel == Notification.Channel.PORTAL
        rows.append(
            Notification(
                recipient_id=m.recipient_id,
                channel=m.channel,
                address=m.address,
                subject=m.subject[:250],
                body=m.body,
                link=m.link[:500],
                dedupe_key=key,
                status=Notification.Status.SENT
                if in_portal
                else Notification.Status.PENDING,
                sent_at=now if in_portal else None,
                next_attempt_at=None if in_portal else now,
            )
        )
    if not rows:
        return 0
    Notification.objects.bulk_create(rows, batch_size=_CHUNK, ignore_conflicts=True)
    to_send = [r.dedupe_key for r in rows if r.status == Notification.Status.PENDING]
    ids: list[int] = []
    for chunk in _chunks(to_send):
        ids.extend(
            Notification.objects.filter(
                dedupe_key__in=chunk, status=Notification.Status.PENDING, attempts=0
            ).values_list("pk", flat=True)
        )
    if ids:
        transaction.on_commit(lambda: dispatch(ids))
    return len(rows)


def dispatch(notification_ids: Iterable[int]) -> None:
    """Queue one delivery task per row. A broker failure is logged, not
    raised: the rows stay pending and the next sweep re-dispatches them. (Run
    eagerly, a row's unexpected error is logged and the others still go.)"""
    from kombu.exceptions import OperationalError as BrokerUnavailable

    from portal.tasks import deliver_notification

    for notification_id in notification_ids:
        try:
            deliver_notification.delay(notification_id)
        except BrokerUnavailable:
            logger.exception("Broker unavailable: notifications stay pending")
            return
        except Exception:  # noqa: BLE001 - one row must not block the others
            logger.exception("Could not deliver notification %s", notification_id)


@dataclass(frozen=True)
class DeliveryOutcome:
    """What one delivery attempt did; ``retry_in`` seconds when to try again."""

    status: str
    retry_in: int | None = None
    error: str = ""


def notification_deliver(notification_id: int) -> DeliveryOutcome:
    """Attempt to deliver one outbox row.

    The row is locked for the attempt, so two workers holding the same task
    (a redelivery) deliver it once: the second finds it sent. A row already
    sent or failed is left alone. A failed attempt is recorded (attempts, last
    error, next attempt time); after the last attempt, or on a permanent error,
    the row is marked failed.
    """
    with transaction.atomic():
        row = (
            Notification.objects.select_for_update(no_key=True)
            .filter(pk=notification_id)
            .first()
        )
        if row is None or row.status != Notification.Status.PENDING:
            return DeliveryOutcome("skipped")
        row.attempts += 1
        now = timezone.now()
        try:
            channels.send(row)
        except channels.DeliveryError as exc:
            row.last_error = str(exc)[:500]
            if exc.permanent or row.attempts >= max_attempts():
                row.status = Notification.Status.FAILED
                row.next_attempt_at = None
                retry_in = None
                logger.warning(
                    "Notification %s failed after %s attempt(s): %s",
                    row.pk,
                    row.attempts,
                    exc,
                )
            else:
                retry_in = backoff_seconds(row.attempts)
                row.next_attempt_at = now + timedelta(seconds=retry_in)
            row.save(
                update_fields=["attempts", "last_error", "status", "next_attempt_at"]
            )
            return DeliveryOutcome(row.status, retry_in, row.last_error)
        row.status = Notification.Status.SENT
        row.sent_at = now
        row.next_attempt_at = None
        row.last_error = ""
        row.save(
            update_fields=[
                "attempts",
                "status",
                "sent_at",
                "next_attempt_at",
                "last_error",
            ]
        )
        return DeliveryOutcome(row.status)


def notifications_dispatch_stuck(*, now: datetime | None = None) -> int:
    """Re-queue pending rows whose attempt is long overdue (their task was
    lost: broker down at enqueue time, a purged queue). Returns how many."""
    now = now or timezone.now()
    grace = timedelta(
        seconds=int(getattr(settings, "CAIRN_NOTIFICATION_STUCK_SECONDS", 600))
    )
    stuck = Notification.objects.pending().filter(next_attempt_at__lt=now - grace)
    ids = list(stuck.values_list("pk", flat=True)[:5000])
    if not ids:
        return 0
    # Outbox rows carry no history: a plain update is the bookkeeping it is.
    Notification.objects.filter(pk__in=ids).update(next_attempt_at=now)
    transaction.on_commit(lambda: dispatch(ids))
    return len(ids)


def notifications_mark_read(*, actor: User, ids: Iterable[int] | None = None) -> int:
    """Mark the actor's in-portal notifications read (all unread ones when
    ``ids`` is None); other users' ids are ignored. Returns how many."""
    # Even a superuser marks only their own notifications.
    unread = Notification.objects.unread().restrict(actor, UPDATE)
    unread = unread.filter(recipient=actor)
    if ids is not None:
        unread = unread.filter(pk__in=list(ids))
    return unread.update(read_at=timezone.now())


def notifications_resolve(*, link: str, resolution: str) -> int:
    """Mark the unresolved in-portal notifications pointing at ``link`` (an
    approval request's page, say) resolved, with ``resolution`` ("Approved by
    Erin Exec"): what they asked for is settled, so they no longer count as
    unread and the list says how it ended. System work (the deciding service
    calls it when its transaction commits); returns how many."""
    if not link:
        return 0
    return (
        Notification.objects.in_portal()
        .filter(link=link, resolved_at__isnull=True)
        .update(resolved_at=timezone.now(), resolution=resolution[:200])
    )
