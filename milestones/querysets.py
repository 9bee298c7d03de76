"""Query vocabulary of the milestones app."""

from __future__ import annotations

from datetime import date, timedelta

from django.db.models import Q
from django.utils import timezone

from accounts.querysets import RestrictedQuerySet


class ScopedQuerySet(RestrictedQuerySet):
    pass


class PortfolioQuerySet(RestrictedQuerySet):
    pass


class MilestoneQuerySet(RestrictedQuerySet):
    def open(self):
        from .models import CLOSED_STATUSES

        return self.exclude(status__in=CLOSED_STATUSES)

    def overdue(self, today: date | None = None):
        """Open milestones whose planned completion has passed."""
        today = today or timezone.localdate()
        return self.open().filter(planned_completion__lt=today)

    def due_within(self, days: int, today: date | None = None):
        today = today or timezone.localdate()
        return self.open().filter(
            planned_completion__gte=today,
            planned_completion__lte=today + timedelta(days=days),
        )

    def stale(self, days: int = 14, now=None):
        """Open milestones with no progress update for ``days`` days."""
        now = now or timezone.now()
        cutoff = now - timedelta(days=days)
        return self.open().filter(
            Q(last_progress_at__lt=cutoff)
            | Q(last_progress_at__isnull=True, created_at__lt=cutoff)
        )


class ProgressUpdateQuerySet(RestrictedQuerySet):
    pass
