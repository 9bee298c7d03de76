"""Milestone delay: an open milestone forecast to finish more than the
threshold late (forecast completion - planned completion, in days). Default:
14 days, to the portfolio's executives (the steering committee)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from decimal import Decimal

from accounts.roles import Role
from portal.db import DaysBetween

from . import (
    DAYS,
    MILESTONE_COLUMNS,
    DefaultRule,
    Hit,
    RuleBook,
    Subject,
    TriggerSpec,
    date_text,
    days_text,
    milestone_hit,
    register,
)


class MilestoneDelay(TriggerSpec):
    name = "DELAY"
    value = "milestone_delay"
    label = "Milestone delay"
    unit = DAYS
    subject = Subject.MILESTONE
    default = DefaultRule(
        threshold=Decimal("14"),
        target_role=Role.EXECUTIVE,
        consequence="Escalation to the steering committee (the portfolio's "
        "executives).",
    )

    def hits(
        self, book: RuleBook, *, now: datetime, ids: Collection[int] | None = None
    ) -> list[Hit]:
        from milestones.models import Milestone

        lowest = book.lowest_threshold(self.value)
        if lowest is None:
            return []
        queryset = (
            Milestone.objects.open()
            .filter(forecast_completion__isnull=False)
            .annotate(delay=DaysBetween("forecast_completion", "planned_completion"))
            .filter(delay__gt=int(lowest))
        )
        if ids is not None:
            queryset = queryset.filter(pk__in=ids)
        rows = queryset.values(
            *MILESTONE_COLUMNS, "planned_completion", "forecast_completion"
        )
        hits = []
        for row in rows:
            rule = book.rule(row["portfolio_id"], self.value)
            delay = (row["forecast_completion"] - row["planned_completion"]).days
            if rule is None or not delay > rule.threshold:
                continue
            summary = (
                f"{row['name']} is forecast {days_text(Decimal(delay))} late "
                f"({date_text(row['forecast_completion'])} instead of "
                f"{date_text(row['planned_completion'])}; threshold "
                f"{days_text(rule.threshold)})"
            )
            hits.append(milestone_hit(rule, row, Decimal(delay), summary))
        return hits


SPEC = register(MilestoneDelay())
