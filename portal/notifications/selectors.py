"""Reads of the outbox for the in-portal list."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import QuerySet

from accounts.roles import VIEW
from portal.models import Notification

if TYPE_CHECKING:
    from accounts.models import User


def notifications_for(user: User) -> QuerySet[Notification]:
    """The user's own in-portal notifications, newest first (superusers too
    see only theirs here)."""
    return (
        Notification.objects.in_portal()
        .restrict(user, VIEW)
        .filter(recipient=user)
        .order_by("-created_at", "-id")
    )


def unread_count(user: User) -> int:
    """Unread and unresolved (see ``NotificationQuerySet.unread``)."""
    return (
        notifications_for(user)
        .filter(read_at__isnull=True, resolved_at__isnull=True)
        .count()
    )
