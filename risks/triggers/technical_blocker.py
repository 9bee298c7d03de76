"""Technical blocker: an unresolved technical issue open for more days than
the threshold (today - the local date it opened). Default: 7 days, to the
portfolio's managers (architecture review and solution acceleration)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.utils import timezone

from accounts.roles import Role

from . import (
    DAYS,
    DefaultRule,
    Hit,
    RuleBook,
    Subject,
    TriggerSpec,
    days_text,
    register,
)


def _start_of_day(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


class TechnicalBlocker(TriggerSpec):
    name = "TECHNICAL_BLOCKER"
    value = "technical_blocker"
    label = "Technical blocker"
    unit = DAYS
    subject = Subject.ISSUE
    default = DefaultRule(
        threshold=Decimal("7"),
        target_role=Role.PORTFOLIO_MANAGER,
        consequence="Architecture review and solution acceleration.",
    )

    def hits(
        self, book: RuleBook, *, now: datetime, ids: Collection[int] | None = None
    ) -> list[Hit]:
        from ..models import Issue

        lowest = book.lowest_threshold(self.value)
        if lowest is None:
            return []
        today = timezone.localdate(now)
        cutoff = _start_of_day(today - timedelta(days=int(lowest)))
        queryset = Issue.objects.open().filter(
            kind=Issue.Kind.TECHNICAL, opened_at__lt=cutoff
        )
        if ids is not None:
            queryset = queryset.filter(pk__in=ids)
        rows = queryset.values(
            "pk",
            "title",
            "opened_at",
            "portfolio_id",
            "portfolio__name",
            "portfolio__org_unit__path",
            "org_unit_id",
            "org_unit__path",
        )
        hits = []
        for row in rows:
            rule = book.rule(row["portfolio_id"], self.value)
            days_open = (today - timezone.localdate(row["opened_at"])).days
            if rule is None or not days_open > rule.threshold:
                continue
            summary = (
                f"Technical blocker “{row['title']}” has been open for "
                f"{days_text(Decimal(days_open))} "
                f"(threshold {days_text(rule.threshold)})"
            )
            hits.append(
                Hit(
                    rule=rule,
                    subject_key=f"issue:{row['pk']}",
                    portfolio_id=row["portfolio_id"],
                    portfolio_name=row["portfolio__name"],
                    portfolio_unit_path=row["portfolio__org_unit__path"],
                    org_unit_id=row["org_unit_id"],
                    org_unit_path=row["org_unit__path"],
                    issue_id=row["pk"],
                    measured=Decimal(days_open),
                    summary=summary,
                )
            )
        return hits


SPEC = register(TechnicalBlocker())
